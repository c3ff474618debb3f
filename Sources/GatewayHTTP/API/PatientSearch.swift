import FHIR
import Foundation
import GatewayRuntime

/// `GET /Patient` and `GET /Patient/ID`: the people of this gateway (from the configuration, and anyone with readings)
/// and, on a hub, the Patients home gateways uploaded. Searched by `identifier` (`[system|]value`) and `_id`; a token
/// bound to subjects sees only theirs.
package struct PatientSearch {
    package static let parameters: [(name: String, type: String, doc: String)] = [
        (
            "identifier", "token",
            "[system|]value: a configured identifier, or gatewayd's own (urn:gatewayd:subject|GATEWAY-ID/subject)"
        ),
        ("_id", "token", "the Patient's id (the subject's local name)"),
    ]

    package var identifiers: [(system: String?, value: String)] = []
    package var ids: [String] = []

    package init(_ query: APIQuery) throws(APIError) {
        for item in query.items where !APIQuery.isResponseFormatting(item.name) {
            switch item.name {
            case "identifier":
                for token in item.value.split(separator: ",").map(String.init) {
                    guard let bar = token.firstIndex(of: "|") else {
                        identifiers.append((nil, token))
                        continue
                    }
                    let system = String(token[..<bar])
                    let value = String(token[token.index(after: bar)...])
                    guard !value.isEmpty else { throw .badParameter("identifier", "'\(token)' has no value after '|'") }
                    identifiers.append((system.isEmpty ? nil : system, value))
                }
            case "_id":
                ids += item.value.split(separator: ",").map(String.init)
            default:
                throw .badParameter(
                    item.name,
                    "Patient supports the search parameters \(Self.parameters.map(\.name).joined(separator: ", "))")
            }
        }
    }

    package func matches(_ patient: FHIRResource) -> Bool {
        if !ids.isEmpty, !ids.contains(patient.id) { return false }
        guard !identifiers.isEmpty else { return true }
        let own = (patient.json["identifier"]?.arrayValue ?? []).map {
            ($0["system"]?.stringValue ?? "", $0["value"]?.stringValue ?? "")
        }
        return identifiers.contains { wanted in
            own.contains { $0.1 == wanted.value && (wanted.system == nil || $0.0 == wanted.system) }
        }
    }
}

extension APIData {
    /// The Patients of these subjects: local ones from the configuration (or bare, for a subject with readings and no
    /// entry), received ones as uploaded.
    package func patients(subjects: [String]) throws -> [FHIRResource] {
        var found: [String: FHIRResource] = [:]
        for subject in subjects {
            let person = persons[subject] ?? PatientRecord(subject: subject)
            found[subject] = PatientMapper.patient(person, gatewayID: gateway.id)
        }
        if let received {
            for stored in try received.resources(type: "Patient", subjects: subjects) {
                found[stored.resource.id] = stored.resource
            }
        }
        return found.keys.sorted().compactMap { found[$0] }
    }
}
