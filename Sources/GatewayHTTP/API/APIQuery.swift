import Foundation
import GatewayRuntime

/// A request's query string as ordered (name, value) pairs, percent-decoded; '+' stays '+' (clients must encode a
/// time zone's '+' as %2B, as RFC 3986 query text requires).
package struct APIQuery: Sendable {
    package var items: [(name: String, value: String)]

    package init(_ query: String?) {
        items = (query ?? "").split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = parts.first.flatMap({ String($0).removingPercentEncoding }), !name.isEmpty else {
                return nil
            }
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            return (name, value)
        }
    }

    package func all(_ name: String) -> [String] { items.filter { $0.name == name }.map(\.value) }

    /// FHIR's parameters for how a response is written (`_format`, `_pretty`): accepted by every interaction.
    package static func isResponseFormatting(_ name: String) -> Bool { name.hasPrefix("_format") || name == "_pretty" }

    /// `_pretty=true`: indented JSON for people; otherwise compact, as FHIR servers answer by default.
    package var pretty: Bool { all("_pretty").last == "true" }

    /// The one value of `name`; repeating it is an error (it would be ambiguous).
    package func single(_ name: String) throws(APIError) -> String? {
        let values = all(name)
        guard values.count <= 1 else { throw .badParameter(name, "may be given only once") }
        return values.first
    }

    /// A non-negative integer parameter within `range`.
    package func integer(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let text = try single(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw .badParameter(name, "'\(text)' is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// Query text for links: the given items re-encoded in order.
    package static func encode(_ items: [(name: String, value: String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:/|$*,")
        return items.map { item in
            (item.name.addingPercentEncoding(withAllowedCharacters: allowed) ?? item.name) + "="
                + (item.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? item.value)
        }.joined(separator: "&")
    }
}

extension APIQuery {
    /// The one subject an operation ($stats, $lastn) works on: `subject` (or `patient`), else the token's only
    /// subject; refused when the token may not read it.
    package func operationSubject(grant: APIGrant) throws(APIError) -> String {
        var subjectText = try single("subject")
        if subjectText == nil { subjectText = try single("patient") }
        let subject: String
        if let subjectText {
            let ids = try ReferenceParameter(subjectText, type: "Patient", parameter: "subject").ids
            guard ids.count == 1, let only = ids.first else { throw .badParameter("subject", "exactly one subject") }
            subject = only
        } else if let bound = grant.subjects, bound.count == 1, let only = bound.first {
            subject = only
        } else {
            throw .badParameter("subject", "required")
        }
        guard grant.allows(subject: subject) else { throw .forbidden("The token may not read subject '\(subject)'.") }
        return subject
    }
}
