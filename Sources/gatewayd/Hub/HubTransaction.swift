import Crypto
import FHIR
import Foundation
import GRDB

/// `POST /fhir` on a hub: a FHIR transaction Bundle from a home gateway, applied all or nothing. Each entry is a
/// conditional create (`POST Type` + `ifNoneExist: identifier=…`: stored once, a resend answers 200 with the stored
/// one) or a conditional update (`PUT Type?identifier=…`: a revised summary replaces the stored version, which goes
/// up by one). Plain creates without an identifier are refused: the hub only takes uploads it can deduplicate.
struct HubTransaction {
    static let acceptedTypes: Set<String> = ["Observation", "Device", "Provenance"]

    let store: ReceivedResources
    /// The uploader (audit name) and the subjects its token may write (nil: any).
    let source: String
    let allowedSubjects: Set<String>?

    struct EntryOutcome {
        var status: String
        var location: String
        var subject: String
    }

    func apply(_ bundle: FHIRJSON, nowMicros: Int64) throws(APIError) -> (response: FHIRJSON, subjects: [String]) {
        guard bundle["resourceType"]?.stringValue == "Bundle" else { throw invalid("Bundle", "the body is not a Bundle") }
        guard bundle["type"]?.stringValue == "transaction" else {
            throw invalid("Bundle.type", "only transaction Bundles are accepted here (found \(bundle["type"]?.stringValue ?? "none"))")
        }
        let entries = bundle["entry"]?.arrayValue ?? []
        guard entries.count <= 5000 else { throw invalid("Bundle.entry", "at most 5,000 entries per transaction") }
        var outcomes: [EntryOutcome] = []
        do {
            try store.queue.write { db in
                for (index, entry) in entries.enumerated() {
                    outcomes.append(try apply(entry, index: index, db: db, nowMicros: nowMicros))
                }
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(status: 500, code: "exception", diagnostics: "The hub could not store the transaction: \(error)")
        }
        let response = FHIRJSON.obj([
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": .array(
                outcomes.map { outcome in
                    .obj(["response": .obj(["status": .string(outcome.status), "location": .string(outcome.location)])])
                }),
        ])
        return (response, Array(Set(outcomes.map(\.subject).filter { !$0.isEmpty })).sorted())
    }

    private func invalid(_ expression: String, _ why: String) -> APIError {
        APIError(status: 400, code: "invalid", diagnostics: "\(expression): \(why)", parameter: expression)
    }

    private func apply(_ entry: FHIRJSON, index: Int, db: Database, nowMicros: Int64) throws -> EntryOutcome {
        let at = "Bundle.entry[\(index)]"
        guard let resource = entry["resource"], let type = resource["resourceType"]?.stringValue else {
            throw invalid(at + ".resource", "missing, or without resourceType")
        }
        guard Self.acceptedTypes.contains(type) else {
            throw invalid(at + ".resource", "\(type) is not accepted (accepted: \(Self.acceptedTypes.sorted().joined(separator: ", ")))")
        }
        guard let method = entry["request"]?["method"]?.stringValue, let url = entry["request"]?["url"]?.stringValue else {
            throw invalid(at + ".request", "method and url are required")
        }
        let subject = try subjectOf(resource, at: at)
        if let allowedSubjects, !subject.isEmpty, !allowedSubjects.contains(subject) {
            throw APIError.forbidden("\(at): the token may not upload data of subject '\(subject)'.")
        }
        if let allowedSubjects, subject.isEmpty, type == "Observation" || allowedSubjects.isEmpty {
            throw APIError.forbidden("\(at): a patient-scoped token may upload only its subjects' Observations and their Devices.")
        }
        // The identifier the entry is matched on.
        let token: (system: String?, value: String)
        switch method {
        case "POST":
            guard url == type else { throw invalid(at + ".request.url", "a create is POSTed to '\(type)', not '\(url)'") }
            guard let condition = entry["request"]?["ifNoneExist"]?.stringValue, let parsed = Self.identifierToken(condition) else {
                throw invalid(at + ".request.ifNoneExist", "identifier=[system|]value is required: the hub stores only what it can deduplicate")
            }
            token = parsed
        case "PUT":
            let parts = url.split(separator: "?", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == type, let parsed = Self.identifierToken(parts[1]) else {
                throw invalid(at + ".request.url", "expected a conditional update '\(type)?identifier=[system|]value'")
            }
            token = parsed
        default:
            throw invalid(at + ".request.method", "\(method) is not accepted (POST with ifNoneExist, or conditional PUT)")
        }
        guard identifiers(of: resource).contains(where: { $0.value == token.value && (token.system == nil || $0.system == token.system) }) else {
            throw invalid(at + ".resource.identifier", "the resource does not carry the identifier its request names")
        }
        let existing = try Row.fetchOne(
            db,
            sql: """
                SELECT id, version, json, last_updated_micros FROM received_resource WHERE resource_type = ? AND identifier_value = ?
                AND (? IS NULL OR identifier_system = ?) LIMIT 1
                """, arguments: [type, token.value, token.system, token.system])
        if let existing, method == "POST" {
            let id: String = existing["id"], version: Int = existing["version"]
            return EntryOutcome(status: "200 OK", location: "\(type)/\(id)/_history/\(version)", subject: subject)
        }
        let id: String = existing.map { $0["id"] } ?? Self.id(of: resource, type: type, token: token)
        let version = (existing?["version"] as Int? ?? 0) + 1
        // A resend of the same content (a retry whose answer was lost) changes nothing, not even the version.
        if let existing {
            let previous: Data = existing["json"], updated: Int64 = existing["last_updated_micros"]
            guard previous != Data(stamped(resource, id: id, version: version - 1, nowMicros: updated).text.utf8) else {
                return EntryOutcome(status: "200 OK", location: "\(type)/\(id)/_history/\(version - 1)", subject: subject)
            }
        }
        let stored = stamped(resource, id: id, version: version, nowMicros: nowMicros)
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO received_resource (resource_type, id, identifier_system, identifier_value, subject,
                    effective_micros, version, last_updated_micros, source, json)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                type, id, token.system ?? identifiers(of: resource).first { $0.value == token.value }?.system ?? "", token.value, subject,
                Self.effectiveMicros(resource), version, nowMicros, source, Data(stored.text.utf8),
            ])
        return EntryOutcome(status: existing == nil ? "201 Created" : "200 OK", location: "\(type)/\(id)/_history/\(version)", subject: subject)
    }

    /// "identifier=system|value" or "identifier=value" (percent-encoded as a query).
    static func identifierToken(_ query: String) -> (system: String?, value: String)? {
        let pairs = query.split(separator: "&")
        guard pairs.count == 1, pairs[0].hasPrefix("identifier=") else { return nil }
        guard let text = String(pairs[0].dropFirst("identifier=".count)).removingPercentEncoding, !text.isEmpty else { return nil }
        guard let bar = text.firstIndex(of: "|") else { return (nil, text) }
        let value = String(text[text.index(after: bar)...])
        return value.isEmpty ? nil : (String(text[..<bar]), value)
    }

    private func identifiers(of resource: FHIRJSON) -> [(system: String, value: String)] {
        let list = resource["identifier"]?.arrayValue ?? (resource["identifier"].map { [$0] } ?? [])
        return list.compactMap { item in item["value"]?.stringValue.map { (item["system"]?.stringValue ?? "", $0) } }
    }

    private func subjectOf(_ resource: FHIRJSON, at: String) throws -> String {
        guard let reference = resource["subject"]?["reference"]?.stringValue else {
            if resource["resourceType"]?.stringValue == "Observation" { throw invalid(at + ".resource.subject", "an Observation needs a subject") }
            return ""
        }
        // An Observation about a device (PhdCoincidentTimeStampObservation: the PHD's clock; PhdBaseObservation
        // allows Patient or PhdDevice) belongs to no person: kept with the Devices, never in a person's results.
        if reference.hasPrefix("Device/"), reference.count > 7 { return "" }
        guard reference.hasPrefix("Patient/"), reference.count > 8 else {
            throw invalid(at + ".resource.subject", "'\(reference)' is neither a Patient/ID nor a Device/ID reference")
        }
        return String(reference.dropFirst(8))
    }

    /// The uploader's id when it is a valid FHIR id, else one derived from the identifier.
    static func id(of resource: FHIRJSON, type: String, token: (system: String?, value: String)) -> String {
        if let id = resource["id"]?.stringValue, (1...64).contains(id.count),
            id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") })
        {
            return id
        }
        let digest = SHA256.hash(data: Array("\(type)\n\(token.system ?? "")\n\(token.value)".utf8))
        return "hub-" + Array(digest.prefix(20)).hexString
    }

    static func effectiveMicros(_ resource: FHIRJSON) -> Int64 {
        let text = resource["effectiveDateTime"]?.stringValue ?? resource["effectivePeriod"]?["start"]?.stringValue ?? resource["recorded"]?.stringValue
        return text.flatMap { DateText.dateTime($0)?.start } ?? 0
    }

    /// The resource as the hub serves it: its id, and meta.versionId/lastUpdated set (other meta kept).
    private func stamped(_ resource: FHIRJSON, id: String, version: Int, nowMicros: Int64) -> FHIRJSON {
        guard case .object(var members) = resource else { return resource }
        members.removeAll { $0.key == "id" }
        members.insert(FHIRJSON.Member("id", .string(id)), at: min(1, members.count))
        var meta: [FHIRJSON.Member] = []
        if case .object(let existing)? = resource["meta"] { meta = existing.filter { $0.key != "versionId" && $0.key != "lastUpdated" } }
        meta.insert(FHIRJSON.Member("versionId", .string(String(version))), at: 0)
        if nowMicros != 0 { meta.insert(FHIRJSON.Member("lastUpdated", .string(FHIRTime.instant(utcMicros: nowMicros))), at: 1) }
        if let index = members.firstIndex(where: { $0.key == "meta" }) {
            members[index] = FHIRJSON.Member("meta", .object(meta))
        } else {
            members.insert(FHIRJSON.Member("meta", .object(meta)), at: min(2, members.count))
        }
        return .object(members)
    }
}
