import FHIR
import Foundation
import GatewayRuntime
import Provenance

/// `GET /fhir/Observation/$lastn`: the newest `max` Observations of each code (grouped by the Observation's first
/// coding) of one subject, newest first within each code; optional `code` and `category` filters.
package struct LastNOperation: Sendable {
    package static let documentation =
        "subject (required unless the token is bound to one subject), max (1-100, default 1), code, category."
    package static let known: Set<String> = ["subject", "patient", "max", "code", "category"]

    package var subject: String
    package var max: Int
    package var code: TokenParameter?
    package var category: TokenParameter?

    package init(_ query: APIQuery, grant: APIGrant) throws(APIError) {
        for item in query.items where !Self.known.contains(item.name) && !APIQuery.isResponseFormatting(item.name) {
            throw .badParameter(item.name, "not a parameter of $lastn")
        }
        subject = try query.operationSubject(grant: grant)
        max = try query.integer("max", default: 1, range: 1...100)
        if let text = try query.single("code") { code = try TokenParameter(text, parameter: "code") }
        if let text = try query.single("category") { category = try TokenParameter(text, parameter: "category") }
    }

    /// Flags that come with a status-bits Observation (BP measurement status, glucose sensor annunciations).
    package static let statusFlags: ReadingFlags = [
        .bodyMovement, .cuffTooLoose, .irregularPulse, .pulseRateOutOfRange, .improperPosition, .sensorAnnunciation,
        .unknownStatus,
    ]

    /// The newest readings of each kind the subject has, walked back from the (subject, kind, time) index page by
    /// page only while a page still brings a code not yet seen (derived Observations such as a meal context), plus
    /// the newest readings carrying status bits: so the cost follows `max`, not the subject's history.
    package func candidates(_ data: APIData) throws -> [ObservationHit] {
        // Each reading is mapped to FHIR once: the pages' mappings are kept, not made again for the answer.
        var mapped: [String: [(reading: Reading, resource: FHIRResource)]] = [:]
        func map(_ readings: [Reading]) -> [(reading: Reading, resource: FHIRResource)] {
            var pairs: [(reading: Reading, resource: FHIRResource)] = []
            for reading in readings {
                // The identity is a SHA-256 over the reading's canonical text: computed once here, not per Observation.
                guard let identity = reading.identity?.hex, mapped[identity] == nil else { continue }
                let observations = data.observations(of: [reading])
                mapped[identity] = observations
                pairs += observations
            }
            return pairs
        }
        for kind in try data.archive.kinds(subject: subject).sorted(by: { $0.rawValue < $1.rawValue }) {
            // Pages of four where readings derive Observations of other codes (meal and other glucose context), which an
            // older reading may bring (status bits are looked for below); a strap's or a pulse reading's Observations
            // all share the newest one's codes.
            let page = [.bloodPressure, .glucose].contains(kind) ? Swift.max(max, 4) : max
            var codes: [String: Int] = [:]
            for round in 0..<16 {
                let batch = try data.archive.newestReadings(subject: subject, kind: kind, limit: page * (round + 1))
                    .dropFirst(page * round)
                var newCode = false
                for (_, resource) in map(Array(batch)) {
                    let key = Self.codeKey(resource)
                    if codes[key] == nil { newCode = true }
                    codes[key, default: 0] += 1
                }
                if batch.count < page || (!newCode && codes.values.allSatisfy({ $0 >= max })) { break }
                // A strap's or a pulse reading's `max` newest readings already hold the newest `max` of every code.
                if [.heartRate, .pulseRate].contains(kind) { break }
            }
            // Only blood pressure and glucose readings have status-bits Observations (the query would otherwise walk a
            // strap's whole history looking for a flag it never sets).
            if [.bloodPressure, .glucose].contains(kind) {
                _ = map(
                    try data.archive.newestReadings(subject: subject, kind: kind, anyOf: Self.statusFlags, limit: max))
            }
        }
        var hits = mapped.values.flatMap { $0 }.map { pair in ObservationHit(pair.resource, of: pair.reading) }
        if let received = data.received {
            hits += try received.resources(type: "Observation", subjects: [subject]).map { stored in
                ObservationHit(received: stored, decorate: data.decorate)
            }
        }
        return hits
    }

    package static func codeKey(_ resource: FHIRResource) -> String {
        let coding = resource.json["code"]?["coding"]?[0]
        return (coding?["system"]?.stringValue ?? "") + "|" + (coding?["code"]?.stringValue ?? "")
    }

    package func run(_ data: APIData, base: String) throws -> ExactJSON {
        // A coincident timestamp is about the device's clock, not the person: never one of a person's newest.
        let hits = try candidates(data).filter { hit in
            hit.aboutPerson && (code?.matches(hit.resource.json["code"]) ?? true)
                && (category.map { c in (hit.resource.json["category"]?.arrayValue ?? []).contains(where: c.matches) }
                    ?? true)
        }
        var groups: [String: [ObservationHit]] = [:]
        for hit in hits { groups[Self.codeKey(hit.resource), default: []].append(hit) }
        var resources: [FHIRResource] = []
        for key in groups.keys.sorted() {
            let newest = (groups[key] ?? []).sorted { a, b in
                a.effectiveMicros != b.effectiveMicros
                    ? a.effectiveMicros > b.effectiveMicros : a.resource.id > b.resource.id
            }
            resources += newest.prefix(max).map(\.resource)
        }
        return SearchBundle.searchset(resources, total: resources.count, base: base, links: [])
    }
}
