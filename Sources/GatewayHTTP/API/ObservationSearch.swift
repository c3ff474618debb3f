import FHIR
import Foundation
import GatewayRuntime
import Provenance

/// `GET /fhir/Observation?…`: the search parameters the CapabilityStatement lists, nothing more.
package struct ObservationSearch: Sendable {
    package static let parameters: [(name: String, type: String, doc: String)] = [
        ("subject", "reference", "Patient/ID or ID (comma = or)"),
        ("patient", "reference", "Same as subject"),
        (
            "code", "token",
            "system|code, |code or code (comma = or); matches Observation.code. The daily summaries (home BP morning/evening "
                + "96607-7, resting HR 40443-4, and urn:gatewayd:fhir:summary-code home-bp-morning, home-bp-evening, resting-heart-rate, "
                + "rmssd, glucose-by-meal) are found only by their code"
        ),
        (
            "date", "date",
            "ge/gt/le/lt/eq prefixes, repeatable (and); YYYY[-MM[-DD]] in the server zone or RFC 3339 with zone"
        ),
        ("device", "reference", "Device/ID or ID: the PhdDevice"),
        ("category", "token", "vital-signs, phd, …"),
        ("_count", "number", "Page size, default 50, at most 500"),
        ("_offset", "number", "Index of the first match on the page (paging links carry it)"),
        ("_sort", "string", "date or -date (default date)"),
    ]
    package static let known = Set(parameters.map(\.name))

    package var subjects: [String]?
    package var code: TokenParameter?
    /// The daily summaries the code names: computed for the days searched, only when asked for by code.
    package var summaryKinds: Set<DailySummaries.Kind> = []
    package var category: TokenParameter?
    package var devices: [String]?
    package var dates: [DateParameter] = []
    package var count = 50
    package var offset = 0
    package var descending = false

    package init(_ query: APIQuery, zone: TimeZone) throws(APIError) {
        for item in query.items where !Self.known.contains(item.name) && !APIQuery.isResponseFormatting(item.name) {
            throw .badParameter(item.name, "not a supported search parameter of Observation (see /fhir/metadata)")
        }
        // Repeated subject parameters are AND (only subjects every one names); commas within one are OR.
        var subjectSets: [Set<String>] = []
        for name in ["subject", "patient"] {
            for value in query.all(name) {
                subjectSets.append(Set(try ReferenceParameter(value, type: "Patient", parameter: name).ids))
            }
        }
        if let first = subjectSets.first {
            subjects = subjectSets.dropFirst().reduce(first) { $0.intersection($1) }.sorted()
        }
        if let text = try query.single("code") {
            let code = try TokenParameter(text, parameter: "code")
            self.code = code
            summaryKinds = Set(DailySummaries.Kind.allCases.filter { code.matches($0.code) })
        }
        if let text = try query.single("category") { category = try TokenParameter(text, parameter: "category") }
        if let text = try query.single("device") {
            devices = try ReferenceParameter(text, type: "Device", parameter: "device").ids
        }
        for text in query.all("date") { dates.append(try DateParameter.parse(text, parameter: "date", zone: zone)) }
        count = try query.integer("_count", default: 50, range: 0...500)
        offset = try query.integer("_offset", default: 0, range: 0...Int(Int32.max))
        switch try query.single("_sort") {
        case nil, "date": descending = false
        case "-date": descending = true
        case let other?: throw .badParameter("_sort", "'\(other)': only date and -date are supported")
        }
    }

    /// The archive range every match lies in.
    package var bounds: (from: Int64, to: Int64) {
        dates.reduce((Int64.min, Int64.max)) { range, date in
            (max(range.0, date.bounds.from), min(range.1, date.bounds.to))
        }
    }

    package func matches(_ hit: ObservationHit) -> Bool {
        guard dates.allSatisfy({ $0.matches(hit.effectiveMicros) }) else { return false }
        if let code, !code.matches(hit.resource.json["code"]) { return false }
        if let category, !(hit.resource.json["category"]?.arrayValue ?? []).contains(where: category.matches) {
            return false
        }
        if let devices {
            let reference = hit.resource.json["device"]?["reference"]?.stringValue ?? ""
            guard devices.contains(where: { "Device/" + $0 == reference }) else { return false }
        }
        return true
    }

    /// Whether the resource passes the code and category filters (the ones that decide which kinds can match).
    package func matchesCoding(_ resource: FHIRResource) -> Bool {
        if let code, !code.matches(resource.json["code"]) { return false }
        if let category, !(resource.json["category"]?.arrayValue ?? []).contains(where: category.matches) {
            return false
        }
        return true
    }

    /// Sorted by effective time (then id, so pages are stable), in the requested direction.
    package func sorted(_ hits: [ObservationHit]) -> [ObservationHit] {
        let ascending = hits.sorted { a, b in
            a.effectiveMicros != b.effectiveMicros
                ? a.effectiveMicros < b.effectiveMicros : a.resource.id < b.resource.id
        }
        return descending ? ascending.reversed() : ascending
    }
}
