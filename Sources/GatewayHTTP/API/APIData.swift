import FHIR
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine
import TimeSeries

/// One Observation the API can serve, wherever it came from: mapped from a stored reading, or received by the hub.
package struct ObservationHit: Sendable {
    package var resource: FHIRResource
    package var subject: String
    package var effectiveMicros: Int64
    /// Left out of statistics (ReadingFlags.doubtful on a local reading; received resources are taken as sent).
    package var doubtful: Bool
    /// The stored reading it was mapped from (nil for a received resource).
    package var reading: Reading?
}

extension ObservationHit {
    /// An Observation mapped from a stored reading; doubtful when the reading carries a doubtful flag.
    package init(_ resource: FHIRResource, of reading: Reading) {
        self.init(
            resource: resource, subject: reading.subject ?? "", effectiveMicros: reading.time.effectiveMicros,
            doubtful: !reading.flags.intersection(.doubtful).isEmpty, reading: reading)
    }

    /// False for an Observation about a device (a coincident timestamp: the PHD's clock, its subject the PhdDevice):
    /// no person's result, so never a match of a search for one — it comes along as an `include` of the readings that
    /// refer to it.
    package var aboutPerson: Bool {
        resource.json["subject"]?["reference"]?.stringValue?.hasPrefix("Patient/") ?? false
    }

    /// The coincident timestamp this Observation refers to ("Observation/…"), if any.
    package var coincidentTimeStampReference: String? {
        (resource.json["extension"]?.arrayValue ?? []).first {
            $0["url"]?.stringValue == FHIRCodes.coincidentTimeStampExtension
        }?[
            "valueReference"]?["reference"]?.stringValue
    }

    /// An Observation a home gateway uploaded to this hub, taken as sent (decorated like every served resource);
    /// doubtful as the gateway that measured it said (`receivedDoubtful`).
    package init(received stored: ReceivedResources.Stored, decorate: (FHIRResource) -> FHIRResource) {
        self.init(
            resource: decorate(stored.resource), subject: stored.subject, effectiveMicros: stored.effectiveMicros,
            doubtful: Self.receivedDoubtful(stored.resource.json))
    }

    /// What makes an uploaded Observation doubtful, read from the FHIR itself the way gatewayd writes it (DESIGN.md rule
    /// 5): an interpretation of measurement-status "questionable", HTEST test data, a value absent for a reason, or a
    /// status other than final/amended/corrected. A hub's `$stats` leaves these out as the gateway's own does.
    package static func receivedDoubtful(_ json: ExactJSON) -> Bool {
        let questionable = (json["interpretation"]?.arrayValue ?? []).contains { concept in
            (concept["coding"]?.arrayValue ?? []).contains {
                $0["system"]?.stringValue == FHIRCodes.measurementStatus && $0["code"]?.stringValue == "questionable"
            }
        }
        let testData = (json["meta"]?["security"]?.arrayValue ?? []).contains { $0["code"]?.stringValue == "HTEST" }
        let status = json["status"]?.stringValue ?? "final"
        return questionable || testData || json["dataAbsentReason"] != nil
            || !["final", "amended", "corrected"].contains(status)
    }
}

/// The data as the API sees it: stored readings of the subjects a caller may read, mapped to FHIR on the fly by
/// the PHD IG mappers (so the API and an upload always agree on every id and element), plus — on a hub — what home
/// gateways uploaded.
package struct APIData: Sendable {
    package let archive: ReadingArchive
    /// Windows from the store, newest readings and devices from the archive's indexes.
    package let model: ReadModel
    package let gateway: GatewayRecord
    /// This host as the gateway (its PhgDevice's Ethernet address), read once.
    package let gatewayInfo = GatewayDeviceInfo.host()
    package let received: ReceivedResources?
    /// Adds optional codings (JP Core) to every resource served.
    package let decorate: @Sendable (FHIRResource) -> FHIRResource
    /// The configured people, by subject: their Patients' names and identifiers.
    package var persons: [String: PatientRecord] = [:]
    /// Each person's zone and home blood-pressure windows (from the configuration): their daily summaries' days.
    package var zones: [String: TimeZone] = [:]
    package var defaultZone: TimeZone = .gmt
    package var dayParts: [String: DayPartWindows] = [:]

    /// The daily clinical summaries of a person, on their own wall clock.
    package func dailySummaries(of subject: String) -> DailySummaries {
        DailySummaries(
            archive: archive, clock: LocalClock(zones[subject] ?? defaultZone), windows: dayParts[subject] ?? .standard,
            testSubject: isTestPerson(subject))
    }

    /// A configured test person (the demo's): summaries made of test data, labelled HTEST.
    package func isTestPerson(_ subject: String) -> Bool { persons[subject]?.test ?? false }

    /// What this person's summaries leave out (`ReadingFlags.leftOutOfSummaries`).
    package func leftOutOfSummaries(_ subject: String) -> ReadingFlags {
        .leftOutOfSummaries(testSubject: isTestPerson(subject))
    }

    package var gatewayDeviceID: String { DeviceMapper.phgDeviceID(gateway) }

    package init(
        directory: String, gateway: GatewayRecord, received: ReceivedResources? = nil,
        decorate: @escaping @Sendable (FHIRResource) -> FHIRResource = { $0 }, store: TimeSeriesStore? = nil
    ) throws {
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        self.archive = archive
        // The daemon's API reads its own live store; `serve` beside a running daemon reads snapshots of it.
        if let store {
            model = ReadModel(archive: archive, store: store)
        } else {
            model = ReadModel(archive: archive, storeDirectory: directory + "/store")
        }
        self.gateway = gateway
        self.received = received
        self.decorate = decorate
    }

    /// Subjects with stored or received readings, restricted to `allowed` when given.
    package func subjects(allowed: Set<String>?) throws -> [String] {
        let all = Set(try archive.subjects()).union(try received?.subjects() ?? []).union(persons.keys).sorted()
        return allowed.map { set in all.filter(set.contains) } ?? all
    }

    /// Stored readings of these subjects in [from, to), oldest first.
    package func readings(subjects: [String], from: Int64 = .min, to: Int64 = .max) throws -> [Reading] {
        var result: [Reading] = []
        for subject in subjects { result += try archive.readings(subject: subject, from: from, to: to) }
        return result
    }

    /// Every Observation of these readings, with the reading it came from.
    package func observations(of readings: [Reading]) -> [(reading: Reading, resource: FHIRResource)] {
        readings.flatMap { reading in
            ObservationMapper.observations(for: reading, gatewayDeviceID: gatewayDeviceID).map {
                (reading, decorate($0))
            }
        }
    }

    /// Every Observation of these subjects effective in [from, to): the archive's (through the index on subject and
    /// time) and the hub's (likewise indexed).
    package func observationHits(subjects: [String], from: Int64 = .min, to: Int64 = .max) throws -> [ObservationHit] {
        var hits = observations(of: try readings(subjects: subjects, from: from, to: to)).map { pair in
            ObservationHit(pair.resource, of: pair.reading)
        }
        if let received {
            hits += try received.resources(type: "Observation", subjects: subjects, from: from, to: to).map { stored in
                ObservationHit(received: stored, decorate: decorate)
            }
        }
        return hits
    }

    /// The Observation with this id among the readable subjects' Observations.
    package func observation(id: String, subjects: [String]) throws -> ObservationHit? {
        if id.count == 64, let reading = try archive.reading(identity: id), let subject = reading.subject,
            subjects.contains(subject)
        {
            if let hit = observations(of: [reading]).first(where: { $0.resource.id == id }) {
                return ObservationHit(hit.resource, of: reading)
            }
        }
        if let stored = try received?.resource(type: "Observation", id: id), subjects.contains(stored.subject) {
            return ObservationHit(received: stored, decorate: decorate)
        }
        // A reading anchored on receipt (and what is derived from it) is found by the time its id carries.
        if let location = ResourceIDs.readingLocation(ofObservationID: id) {
            for reading in try archive.readings(
                effectiveMicros: location.effectiveMicros, identityPrefix: location.identityPrefix, subjects: subjects)
            {
                if let hit = observations(of: [reading]).first(where: { $0.resource.id == id }) {
                    return ObservationHit(hit.resource, of: reading)
                }
            }
            return nil
        }
        // Derived Observations (status bits, meal and sample-location context) carry 48 digits of their reading's
        // identity: found through the identity index. Coincident-time-stamp ids are hashes of the clock comparison,
        // so those are still looked for among every Observation of the readable subjects.
        if let dash = id.firstIndex(of: "-"), id[id.index(after: dash)...].count == 48 {
            for reading in try archive.readings(identityPrefix: String(id[id.index(after: dash)...])) {
                guard let subject = reading.subject, subjects.contains(subject),
                    let hit = observations(of: [reading]).first(where: { $0.resource.id == id })
                else { continue }
                return ObservationHit(hit.resource, of: reading)
            }
        }
        return try observationHits(subjects: subjects).first { $0.resource.id == id }
    }

    /// The PhdDevice of every sensor that gave a readable reading (from the device registry), the gateway's PhgDevice,
    /// and received Devices that a readable received Observation refers to.
    package func devices(subjects: [String]) throws -> [FHIRResource] {
        let phd = try archive.devices(subjects: subjects).map { DeviceMapper.phdDevice($0.record, kinds: $0.kinds) }
        var devices = [DeviceMapper.phgDevice(gateway: gateway, info: gatewayInfo)] + phd
        if let received {
            var referenced: Set<String> = []
            for stored in try received.resources(type: "Observation", subjects: subjects) {
                if let reference = stored.resource.json["device"]?["reference"]?.stringValue {
                    referenced.insert(reference)
                }
                for item in stored.resource.json["extension"]?.arrayValue ?? [] {
                    if let reference = item["valueReference"]?["reference"]?.stringValue {
                        referenced.insert(reference)
                    }
                }
            }
            let known = Set(devices.map(\.reference))
            for stored in try received.resources(type: "Device", subjects: [""])
            where referenced.contains(stored.resource.reference) {
                if !known.contains(stored.resource.reference) { devices.append(stored.resource) }
            }
        }
        return devices.map(decorate)
    }
}

extension APIData {
    /// Where `metric`'s value sits in the Observations of the subject's newest reading of that kind from `device`
    /// (its code as served, and its unit).
    /// `newest` keeps each (kind, device)'s newest reading and its Observations for the caller's request: a strap's heart
    /// rate, RR intervals and energy share one.
    package func element(
        of metric: Metric, subject: String, device: String,
        newest: inout [String: (reading: Reading, observations: [FHIRResource])?]
    ) throws -> MetricElement? {
        let kind = metric.readingKind
        let key = kind.rawValue + "|" + device
        if newest.index(forKey: key) == nil {
            newest[key] = try archive.newestReadings(subject: subject, kind: kind, device: device, limit: 1).first.map {
                reading in
                (reading, observations(of: [reading]).map(\.resource))
            }
        }
        guard let found = newest[key] ?? nil else { return nil }
        return MetricElement.find(metric, in: found.reading, observations: found.observations)
    }
}
