import FHIR
import Foundation
import Provenance
import StreamEngine

/// The archive as the API sees it: stored readings of the subjects a caller may read, mapped to FHIR on the fly by
/// the PHD IG mappers (so the API and a future upload always agree on every id and element).
struct APIData: Sendable {
    let archive: ReadingArchive
    let gateway: GatewayRecord

    var gatewayDeviceID: String { DeviceMapper.phgDeviceID(gateway) }

    init(directory: String, gateway: GatewayRecord) throws {
        archive = try ReadingArchive(path: directory + "/engine.sqlite")
        self.gateway = gateway
    }

    /// Subjects with stored readings, restricted to `allowed` when given.
    func subjects(allowed: Set<String>?) throws -> [String] {
        let all = try archive.subjects()
        return allowed.map { set in all.filter(set.contains) } ?? all
    }

    /// Stored readings of these subjects in [from, to), oldest first.
    func readings(subjects: [String], from: Int64 = .min, to: Int64 = .max) throws -> [Reading] {
        var result: [Reading] = []
        for subject in subjects { result += try archive.readings(subject: subject, from: from, to: to) }
        return result
    }

    /// Every Observation of these readings, with the reading it came from.
    func observations(of readings: [Reading]) -> [(reading: Reading, resource: FHIRResource)] {
        readings.flatMap { reading in
            ObservationMapper.observations(for: reading, gatewayDeviceID: gatewayDeviceID).map { (reading, $0) }
        }
    }

    /// The Observation with this id among the readable subjects' readings, with its reading.
    func observation(id: String, subjects: [String]) throws -> (reading: Reading, resource: FHIRResource)? {
        if id.count == 64, let reading = try archive.reading(identity: id), let subject = reading.subject, subjects.contains(subject) {
            if let hit = observations(of: [reading]).first(where: { $0.resource.id == id }) { return hit }
        }
        // Derived Observations (status bits, context, coincident time stamp) have their own ids: look them up.
        return observations(of: try readings(subjects: subjects)).first { $0.resource.id == id }
    }

    /// The PhdDevice of every sensor that gave a readable reading, and the gateway's PhgDevice.
    func devices(subjects: [String]) throws -> [FHIRResource] {
        var records: [String: DeviceRecord] = [:]
        var kinds: [String: Set<ReadingKind>] = [:]
        for reading in try readings(subjects: subjects) {
            records[reading.device.key] = reading.device
            kinds[reading.device.key, default: []].insert(reading.kind)
        }
        let phd = records.keys.sorted().compactMap { key in
            records[key].map { DeviceMapper.phdDevice($0, kinds: kinds[key] ?? []) }
        }
        return [DeviceMapper.phgDevice(gateway: gateway)] + phd
    }
}
