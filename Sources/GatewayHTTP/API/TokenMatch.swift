import FHIR
import GatewayRuntime
import Provenance

/// FHIR token search values ("system|code", "|code", "code", comma = or) against CodeableConcepts.
package struct TokenParameter: Sendable {
    /// One alternative: nil system = any system, "" = no system.
    package var alternatives: [(system: String?, code: String)]

    package init(_ text: String, parameter: String) throws(APIError) {
        var alternatives: [(system: String?, code: String)] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            if let bar = item.firstIndex(of: "|") {
                let system = String(item[..<bar])
                let code = String(item[item.index(after: bar)...])
                guard !code.isEmpty else { throw .badParameter(parameter, "'\(item)': a code is required after '|'") }
                alternatives.append((system, code))
            } else {
                guard !item.isEmpty else { throw .badParameter(parameter, "empty token") }
                alternatives.append((nil, item))
            }
        }
        self.alternatives = alternatives
    }

    /// Whether any coding of the CodeableConcept matches any alternative.
    package func matches(_ concept: ExactJSON?) -> Bool {
        let codings = concept?["coding"]?.arrayValue ?? []
        return codings.contains { coding in
            let system = coding["system"]?.stringValue ?? ""
            let code = coding["code"]?.stringValue
            return alternatives.contains { alt in code == alt.code && (alt.system == nil || alt.system == system) }
        }
    }
}

/// A reference search value: "Type/ID" or "ID".
package struct ReferenceParameter: Sendable {
    package var ids: [String]

    package init(_ text: String, type: String, parameter: String) throws(APIError) {
        var ids: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let parts = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if parts.count == 2, parts[0] == type, !parts[1].isEmpty {
                ids.append(parts[1])
            } else if parts.count == 1, !item.isEmpty {
                ids.append(item)
            } else {
                throw .badParameter(parameter, "'\(item)' is not \(type)/ID or ID")
            }
        }
        self.ids = ids
    }
}
