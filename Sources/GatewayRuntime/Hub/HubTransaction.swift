import Crypto
import FHIR
import Foundation
import GRDB
import Provenance

/// `POST /fhir` on a hub: a FHIR transaction Bundle from a home gateway, applied all or nothing, the way R4
/// §3.1.0.11.2 processes one. Each entry is a conditional create (`POST Type` + `ifNoneExist: identifier=…`: stored
/// once, a resend answers 200 with the stored one) or a conditional update (`PUT Type?identifier=…`: a revised
/// summary replaces the stored version, which goes up by one); plain creates without an identifier are refused, since
/// the hub only takes uploads it can deduplicate. Every entry's id is settled first (an existing match, or a new id),
/// then every reference is resolved: a `urn:uuid` fullUrl to the id its entry got, a relative reference to a resource
/// the hub holds; one that resolves to neither refuses the Bundle.
///
/// People are keyed by Patient identifier: two homes' "alice" stay two Patients unless their identifiers match. An
/// uploader (a write token) writes only for the Patients it uploaded, or that its patient scope names (by hub id or by
/// `system|value`); a system token may also join a Patient another uploader created through a configured identifier
/// (an insurance number, a PHR account) — never through gatewayd's own per-gateway subject identifier.
package struct HubTransaction {
    package static let acceptedTypes: Set<String> = ["Patient", "Observation", "Device", "Provenance"]

    package let store: ReceivedResources
    /// The uploader (audit name) and what its token's patient scopes name (nil: a system scope).
    package let source: String
    package let allowedSubjects: Set<String>?

    package init(store: ReceivedResources, source: String, allowedSubjects: Set<String>?) {
        (self.store, self.source, self.allowedSubjects) = (store, source, allowedSubjects)
    }

    package struct EntryOutcome {
        package var status: String
        package var location: String
        package var subject: String
    }

    /// One entry once its id is settled (pass 1), before its references are resolved and it is stored (pass 2).
    package struct Planned {
        package var index: Int
        package var type: String
        package var method: String
        package var token: (system: String?, value: String)
        package var resource: ExactJSON
        package var id: String
        /// The stored row it matched: its version and JSON (nil: a new resource).
        package var existing: (version: Int, json: Data, lastUpdated: Int64)?
        package var at: String { "Bundle.entry[\(index)]" }
    }

    package func apply(_ bundle: ExactJSON, nowMicros: Int64) throws(APIError) -> (
        response: ExactJSON, subjects: [String]
    ) {
        guard bundle["resourceType"]?.stringValue == "Bundle" else {
            throw invalid("Bundle", "the body is not a Bundle")
        }
        guard bundle["type"]?.stringValue == "transaction" else {
            throw invalid(
                "Bundle.type",
                "only transaction Bundles are accepted here (found \(bundle["type"]?.stringValue ?? "none"))")
        }
        let entries = bundle["entry"]?.arrayValue ?? []
        guard entries.count <= 5000 else { throw invalid("Bundle.entry", "at most 5,000 entries per transaction") }
        var outcomes = [EntryOutcome?](repeating: nil, count: entries.count)
        do {
            try store.queue.write { db in
                var planned: [Planned] = []
                var resolved: [String: String] = [:]
                var created: Set<String> = []
                for (index, entry) in entries.enumerated() {
                    let plan = try self.plan(entry, index: index, db: db, created: &created)
                    if let fullURL = entry["fullUrl"]?.stringValue {
                        guard resolved[fullURL] == nil else {
                            throw invalid(plan.at + ".fullUrl", "'\(fullURL)' is used by two entries")
                        }
                        resolved[fullURL] = "\(plan.type)/\(plan.id)"
                    }
                    planned.append(plan)
                }
                // Patients first, so the Observations of a Patient created here find who may write for it.
                for plan in planned.sorted(by: {
                    ($0.type == "Patient" ? 0 : 1, $0.index) < ($1.type == "Patient" ? 0 : 1, $1.index)
                }) {
                    outcomes[plan.index] = try store(
                        plan, resolved: resolved, created: created, db: db, nowMicros: nowMicros)
                }
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(
                status: 500, code: "exception", diagnostics: "The hub could not store the transaction: \(error)")
        }
        let done = outcomes.compactMap { $0 }
        let response = ExactJSON.obj([
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": .array(
                done.map { outcome in
                    .obj(["response": .obj(["status": .string(outcome.status), "location": .string(outcome.location)])])
                }),
        ])
        return (response, Array(Set(done.map(\.subject).filter { !$0.isEmpty })).sorted())
    }

    private func invalid(_ expression: String, _ why: String) -> APIError {
        APIError(status: 400, code: "invalid", diagnostics: "\(expression): \(why)", parameter: expression)
    }

    /// Pass 1: checks the entry and settles its id — the stored resource its condition matches, or a new id.
    private func plan(_ entry: ExactJSON, index: Int, db: Database, created: inout Set<String>) throws -> Planned {
        let at = "Bundle.entry[\(index)]"
        guard let resource = entry["resource"], let type = resource["resourceType"]?.stringValue else {
            throw invalid(at + ".resource", "missing, or without resourceType")
        }
        guard Self.acceptedTypes.contains(type) else {
            throw invalid(
                at + ".resource",
                "\(type) is not accepted (accepted: \(Self.acceptedTypes.sorted().joined(separator: ", ")))")
        }
        guard let method = entry["request"]?["method"]?.stringValue, let url = entry["request"]?["url"]?.stringValue
        else {
            throw invalid(at + ".request", "method and url are required")
        }
        // The identifier the entry is matched on (for a Provenance, which has none, its id).
        let token: (system: String?, value: String)
        var byID: String?
        switch method {
        case "PUT" where !url.contains("?"):
            // Update as create: only for Provenance, whose id gatewayd derives from its content (R4 gives it no identifier).
            let parts = url.split(separator: "/").map(String.init)
            guard type == "Provenance", parts.count == 2, parts[0] == type, resource["id"]?.stringValue == parts[1],
                Self.id(of: resource, type: type, token: (nil, parts[1])) == parts[1]
            else {
                throw invalid(
                    at + ".request.url",
                    "PUT Type/ID is accepted for a Provenance whose id is ID; other types use PUT Type?identifier=…")
            }
            byID = parts[1]
            token = (nil, parts[1])
        case "POST":
            guard url == type else {
                throw invalid(at + ".request.url", "a create is POSTed to '\(type)', not '\(url)'")
            }
            guard let condition = entry["request"]?["ifNoneExist"]?.stringValue,
                let parsed = Self.identifierToken(condition)
            else {
                throw invalid(
                    at + ".request.ifNoneExist",
                    "identifier=[system|]value is required: the hub stores only what it can deduplicate")
            }
            token = parsed
        case "PUT":
            let parts = url.split(separator: "?", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == type, let parsed = Self.identifierToken(parts[1]) else {
                throw invalid(at + ".request.url", "expected a conditional update '\(type)?identifier=[system|]value'")
            }
            token = parsed
        default:
            throw invalid(
                at + ".request.method", "\(method) is not accepted (POST with ifNoneExist, or conditional PUT)")
        }
        guard
            byID != nil
                || Self.identifiers(of: resource).contains(where: {
                    $0.value == token.value && (token.system == nil || $0.system == token.system)
                })
        else {
            throw invalid(at + ".resource.identifier", "the resource does not carry the identifier its request names")
        }
        let matches =
            try byID.map { id in try store.existing(type: type, id: id, db) == nil ? [] : [id] }
            ?? store.matches(type: type, system: token.system, value: token.value, db)
        guard matches.count <= 1 else {
            // R4: a conditional create or update whose criteria match more than one resource fails with 412.
            throw APIError(
                status: 412, code: "duplicate",
                diagnostics:
                    "\(at).request: identifier=\(token.system.map { $0 + "|" } ?? "")\(token.value) matches \(matches.count) \(type) resources"
            )
        }
        var plan = Planned(
            index: index, type: type, method: method, token: token, resource: resource, id: "", existing: nil)
        if let id = matches.first, let existing = try store.existing(type: type, id: id, db) {
            plan.id = id
            plan.existing = existing
        } else {
            // The uploader's id when it is a valid id no other resource of the type holds; else one derived from the identifier.
            var id = byID ?? Self.id(of: resource, type: type, token: token)
            let taken = try store.existing(type: type, id: id, db) != nil
            if byID == nil, taken || created.contains("\(type)/\(id)") {
                id = Self.derivedID(type: type, token: token)
            }
            plan.id = id
        }
        created.insert("\(type)/\(plan.id)")
        return plan
    }

    /// Pass 2: resolves the entry's references, checks who may write it, and stores it.
    private func store(
        _ plan: Planned, resolved: [String: String], created: Set<String>, db: Database, nowMicros: Int64
    ) throws -> EntryOutcome {
        var unresolved: [String] = []
        let resource = FHIRReferences.rewrite(plan.resource) { target in
            if let id = resolved[target] { return .replace(id) }
            if target.contains("://") { return .keep }
            let parts = target.split(separator: "/").map(String.init)
            if parts.count == 2, !target.hasPrefix("urn:"),
                created.contains(target) || (try? store.existing(type: parts[0], id: parts[1], db)) != nil
            {
                return .keep
            }
            unresolved.append(target)
            return .keep
        }
        if let target = unresolved.first {
            throw invalid(
                plan.at + ".resource",
                "the reference '\(target)' resolves neither to an entry of the Bundle nor to a resource this hub holds")
        }
        let subject = try subjectOf(resource, plan: plan)
        let type = plan.type
        let id = plan.id
        try authorize(plan, subject: subject, db: db)
        // Every Patient a resource names (a Provenance's subjects, an Observation's performer) must be one the uploader
        // may write for, not only its subject.
        for reference in Set(FHIRReferences.all(in: resource))
        where type != "Patient" && reference.hasPrefix("Patient/") {
            let other = String(reference.dropFirst(8))
            if other != subject { try authorize(plan, subject: other, db: db) }
        }
        if type == "Patient" { try store.addUploader(source, patient: id, db) }
        if let existing = plan.existing, plan.method == "POST" {
            return EntryOutcome(
                status: "200 OK", location: "\(type)/\(id)/_history/\(existing.version)", subject: subject)
        }
        let version = (plan.existing?.version ?? 0) + 1
        // A resend of the same content (a retry whose answer was lost) changes nothing, not even the version.
        if let existing = plan.existing {
            guard
                existing.json
                    != Data(
                        stamped(resource, id: id, version: existing.version, nowMicros: existing.lastUpdated).text.utf8)
            else {
                return EntryOutcome(
                    status: "200 OK", location: "\(type)/\(id)/_history/\(existing.version)", subject: subject)
            }
        }
        let stored = stamped(resource, id: id, version: version, nowMicros: nowMicros)
        let identifiers = Self.identifiers(of: resource)
        try store.put(
            type: type, id: id,
            system: plan.token.system ?? identifiers.first { $0.value == plan.token.value }?.system ?? "",
            value: plan.token.value, subject: subject, effectiveMicros: Self.effectiveMicros(resource),
            version: version,
            nowMicros: nowMicros, source: source, json: Data(stored.text.utf8),
            identifiers: type == "Patient" ? identifiers : [], db)
        return EntryOutcome(
            status: plan.existing == nil ? "201 Created" : "200 OK", location: "\(type)/\(id)/_history/\(version)",
            subject: subject)
    }

    /// Whether this uploader may write the entry: a Patient it created or may join, an Observation of such a Patient.
    /// Devices and Observations about a device belong to no person: any uploader may send them.
    private func authorize(_ plan: Planned, subject: String, db: Database) throws {
        guard !subject.isEmpty else {
            if plan.type == "Observation", allowedSubjects != nil {
                throw APIError.forbidden(
                    "\(plan.at): a patient-scoped token may upload only its Patients' Observations and their Devices.")
            }
            return
        }
        if try store.uploaders(patient: subject, db).contains(source) { return }
        let identifiers =
            try store.identifiers(patient: subject, db).map(\.token)
            + Self.identifiers(of: plan.type == "Patient" ? plan.resource : .null)
            .map { $0.system + "|" + $0.value }
        if let allowedSubjects {
            if allowedSubjects.contains(subject) || identifiers.contains(where: allowedSubjects.contains) {
                if plan.type == "Patient" { return }
                try store.addUploader(source, patient: subject, db)
                return
            }
            throw APIError.forbidden("\(plan.at): the token may not upload data of Patient '\(subject)'.")
        }
        // A system token: a new Patient is its own; an existing one it may join only through a configured identifier.
        if plan.type == "Patient" {
            if plan.existing == nil { return }
            if let system = plan.token.system, system != PatientMapper.subjectSystem { return }
            throw APIError.forbidden(
                "\(plan.at): Patient '\(subject)' was uploaded by another gateway and is matched only by its gatewayd subject identifier; "
                    + "give the person a shared identifier (an insurance number, a PHR account) in both gateways' configurations, "
                    + "or grant this token patient/*.write@\(subject) on the hub.")
        }
        throw APIError.forbidden(
            "\(plan.at): the token did not upload Patient '\(subject)' and may not write data for it.")
    }

    /// "identifier=system|value" or "identifier=value" (percent-encoded as a query).
    package static func identifierToken(_ query: String) -> (system: String?, value: String)? {
        let pairs = query.split(separator: "&")
        guard pairs.count == 1, pairs[0].hasPrefix("identifier=") else { return nil }
        guard let text = String(pairs[0].dropFirst("identifier=".count)).removingPercentEncoding, !text.isEmpty else {
            return nil
        }
        guard let bar = text.firstIndex(of: "|") else { return (nil, text) }
        let value = String(text[text.index(after: bar)...])
        return value.isEmpty ? nil : (String(text[..<bar]), value)
    }

    package static func identifiers(of resource: ExactJSON) -> [(system: String, value: String)] {
        let list = resource["identifier"]?.arrayValue ?? (resource["identifier"].map { [$0] } ?? [])
        return list.compactMap { item in item["value"]?.stringValue.map { (item["system"]?.stringValue ?? "", $0) } }
    }

    /// The hub Patient a resolved resource is about ("" for Devices and Observations about a device); a Patient is
    /// its own subject.
    private func subjectOf(_ resource: ExactJSON, plan: Planned) throws -> String {
        if plan.type == "Patient" { return plan.id }
        guard let reference = resource["subject"]?["reference"]?.stringValue else {
            if plan.type == "Observation" {
                throw invalid(plan.at + ".resource.subject", "an Observation needs a subject")
            }
            return ""
        }
        // An Observation about a device (PhdCoincidentTimeStampObservation: the PHD's clock; PhdBaseObservation
        // allows Patient or PhdDevice) belongs to no person: kept with the Devices, never in a person's results.
        if reference.hasPrefix("Device/"), reference.count > 7 { return "" }
        guard reference.hasPrefix("Patient/"), reference.count > 8 else {
            throw invalid(plan.at + ".resource.subject", "'\(reference)' is neither a Patient nor a Device reference")
        }
        return String(reference.dropFirst(8))
    }

    /// The uploader's id when it is a valid FHIR id, else one derived from the identifier.
    package static func id(of resource: ExactJSON, type: String, token: (system: String?, value: String)) -> String {
        if let id = resource["id"]?.stringValue, (1...64).contains(id.count),
            id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") })
        {
            return id
        }
        return derivedID(type: type, token: token)
    }

    /// An id from the identifier alone: what a new resource gets when its own id is taken by another.
    package static func derivedID(type: String, token: (system: String?, value: String)) -> String {
        let digest = SHA256.hash(data: Array("\(type)\n\(token.system ?? "")\n\(token.value)".utf8))
        return "hub-" + Array(digest.prefix(20)).hexString
    }

    package static func effectiveMicros(_ resource: ExactJSON) -> Int64 {
        let text =
            resource["effectiveDateTime"]?.stringValue ?? resource["effectivePeriod"]?["start"]?.stringValue
            ?? resource["recorded"]?.stringValue
        return text.flatMap { DateText.dateTime($0)?.start } ?? 0
    }

    /// The resource as the hub serves it: its id, and meta.versionId/lastUpdated set (other meta kept).
    private func stamped(_ resource: ExactJSON, id: String, version: Int, nowMicros: Int64) -> ExactJSON {
        guard case .object(var members) = resource else { return resource }
        members.removeAll { $0.key == "id" }
        members.insert(ExactJSON.Member("id", .string(id)), at: min(1, members.count))
        var meta: [ExactJSON.Member] = []
        if case .object(let existing)? = resource["meta"] {
            meta = existing.filter { $0.key != "versionId" && $0.key != "lastUpdated" }
        }
        meta.insert(ExactJSON.Member("versionId", .string(String(version))), at: 0)
        if nowMicros != 0 {
            meta.insert(ExactJSON.Member("lastUpdated", .string(FHIRTime.instant(utcMicros: nowMicros))), at: 1)
        }
        if let index = members.firstIndex(where: { $0.key == "meta" }) {
            members[index] = ExactJSON.Member("meta", .object(meta))
        } else {
            members.insert(ExactJSON.Member("meta", .object(meta)), at: min(2, members.count))
        }
        return .object(members)
    }
}
