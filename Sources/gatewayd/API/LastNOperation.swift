import FHIR
import Foundation
import Provenance

/// `GET /fhir/Observation/$lastn`: the newest `max` Observations of each code (grouped by the Observation's first
/// coding) of one subject, newest first within each code; optional `code` and `category` filters.
struct LastNOperation: Sendable {
    static let documentation = "subject (required unless the token is bound to one subject), max (1-100, default 1), code, category."
    static let known: Set<String> = ["subject", "patient", "max", "code", "category"]

    var subject: String
    var max: Int
    var code: TokenParameter?
    var category: TokenParameter?

    init(_ query: APIQuery, grant: APIGrant) throws(APIError) {
        for item in query.items where !Self.known.contains(item.name) && !item.name.hasPrefix("_format") {
            throw .badParameter(item.name, "not a parameter of $lastn")
        }
        subject = try query.operationSubject(grant: grant)
        max = try query.integer("max", default: 1, range: 1...100)
        if let text = try query.single("code") { code = try TokenParameter(text, parameter: "code") }
        if let text = try query.single("category") { category = try TokenParameter(text, parameter: "category") }
    }

    func run(_ data: APIData, base: String) throws -> FHIRJSON {
        let hits = try data.observationHits(subjects: [subject]).filter { hit in
            (code?.matches(hit.resource.json["code"]) ?? true)
                && (category.map { c in (hit.resource.json["category"]?.arrayValue ?? []).contains(where: c.matches) } ?? true)
        }
        var groups: [String: [ObservationHit]] = [:]
        for hit in hits {
            let coding = hit.resource.json["code"]?["coding"]?[0]
            let key = (coding?["system"]?.stringValue ?? "") + "|" + (coding?["code"]?.stringValue ?? "")
            groups[key, default: []].append(hit)
        }
        var resources: [FHIRResource] = []
        for key in groups.keys.sorted() {
            let newest = (groups[key] ?? []).sorted { a, b in
                a.effectiveMicros != b.effectiveMicros ? a.effectiveMicros > b.effectiveMicros : a.resource.id > b.resource.id
            }
            resources += newest.prefix(max).map(\.resource)
        }
        return SearchBundle.searchset(resources, total: resources.count, base: base, links: [])
    }
}
