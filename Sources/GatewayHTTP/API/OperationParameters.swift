import Foundation
import GatewayRuntime

/// The body of `POST /fhir/Observation/$stats` turned into the same `APIQuery` the GET path reads, so both methods
/// share one parser and one set of error messages (StatsOperation). Two bodies are accepted, as FHIR allows for
/// operations: `application/x-www-form-urlencoded` (the query string's parameters, decoded as the query string is:
/// '+' stays '+', so a time zone's offset survives unencoded) and a `Parameters` resource
/// (`application/fhir+json` or `application/json`).
package enum OperationParameters {
    /// The value[x] types a `Parameters.parameter` may use, in the order they are named in error messages.
    package static let supportedValueTypes = [
        "valueString", "valueCode", "valueUri", "valueDateTime", "valueDate", "valueDecimal", "valueInteger",
        "valuePeriod", "valueCoding", "valueReference",
    ]

    /// The query the body says, after the URL's own query items (a repeated name is then refused by the operation,
    /// as it would be in a query string).
    package static func query(_ request: APIRequest) throws(APIError) -> APIQuery {
        let urlItems = APIQuery(request.query).items
        let mediaType =
            (request.contentType ?? "").split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let bodyItems: [(name: String, value: String)]
        switch mediaType {
        case "application/x-www-form-urlencoded":
            guard let text = String(bytes: request.body, encoding: .utf8) else {
                throw invalid("body", "the form body is not UTF-8 text")
            }
            bodyItems = APIQuery(text.trimmingCharacters(in: .whitespacesAndNewlines)).items
        case "application/fhir+json", "application/json":
            bodyItems = try parameters(request.body)
        case "" where request.body.isEmpty:
            bodyItems = []
        default:
            throw APIError(
                status: 415, code: "not-supported",
                diagnostics: "Content-Type '\(request.contentType ?? "none")' is not supported for POST $stats: send "
                    + "application/x-www-form-urlencoded (the query string's parameters) or a FHIR Parameters resource "
                    + "as application/fhir+json.")
        }
        return APIQuery(items: urlItems + bodyItems)
    }

    /// The (name, value) pairs of a FHIR `Parameters` resource, each value as its query-string text: a Period as
    /// START/END, a Coding as system|code, a Reference as its reference.
    package static func parameters(_ body: [UInt8]) throws(APIError) -> [(name: String, value: String)] {
        let root: BodyJSON
        do {
            root = try JSONDecoder().decode(BodyJSON.self, from: Data(body))
        } catch {
            throw invalid("Parameters", "the body is not JSON (\(Self.reason(error)))")
        }
        guard case .object(let members) = root else { throw invalid("Parameters", "the body is not a JSON object") }
        guard case .string(let type)? = members["resourceType"] else {
            throw invalid("Parameters", "resourceType is missing; expected \"Parameters\"")
        }
        guard type == "Parameters" else {
            throw invalid("Parameters", "resourceType is '\(type)'; expected Parameters")
        }
        let entries: [BodyJSON]
        switch members["parameter"] {
        case nil: entries = []
        case .array(let list)?: entries = list
        case _?: throw invalid("Parameters.parameter", "must be an array")
        }
        var items: [(name: String, value: String)] = []
        for (index, entry) in entries.enumerated() {
            let path = "Parameters.parameter[\(index)]"
            guard case .object(let fields) = entry else { throw invalid(path, "not an object") }
            guard case .string(let name)? = fields["name"], !name.isEmpty else { throw invalid(path, "no name") }
            for nested in ["part", "resource"] where fields[nested] != nil {
                throw invalid(path, "'\(nested)' is not used by $stats (parameter '\(name)' takes a value[x])")
            }
            let valueKeys = fields.keys.filter { $0.hasPrefix("value") }.sorted()
            guard let key = valueKeys.first, let value = fields[key] else {
                throw invalid(path, "no value[x] (parameter '\(name)')")
            }
            guard valueKeys.count == 1 else {
                throw invalid(path, "more than one value[x] (\(valueKeys.joined(separator: ", ")))")
            }
            items.append((name, try text(of: value, key: key, at: path + "." + key)))
        }
        return items
    }

    /// One value[x] as the text the same parameter would have in a query string.
    package static func text(of value: BodyJSON, key: String, at path: String) throws(APIError) -> String {
        switch (key, value) {
        case ("valueString", .string(let s)), ("valueCode", .string(let s)), ("valueUri", .string(let s)),
            ("valueDateTime", .string(let s)), ("valueDate", .string(let s)):
            guard !s.isEmpty else { throw invalid(path, "is empty") }
            return s
        case ("valueDecimal", .number(let n)): return n
        case ("valueInteger", .number(let n)):
            guard Int(n) != nil else { throw invalid(path, "'\(n)' is not an integer") }
            return n
        case ("valuePeriod", .object(let period)):
            guard case .string(let start)? = period["start"], case .string(let end)? = period["end"], !start.isEmpty,
                !end.isEmpty
            else {
                throw invalid(path, "needs both start and end (date-time strings)")
            }
            return start + "/" + end
        case ("valueCoding", .object(let coding)):
            guard case .string(let code)? = coding["code"], !code.isEmpty else { throw invalid(path, "needs a code") }
            switch coding["system"] {
            case nil: return code
            case .string(let system)?: return system + "|" + code
            case _?: throw invalid(path + ".system", "must be a string")
            }
        case ("valueReference", .object(let reference)):
            guard case .string(let text)? = reference["reference"], !text.isEmpty else {
                throw invalid(path, "needs a reference (e.g. Patient/alice)")
            }
            return text
        case _ where !supportedValueTypes.contains(key):
            throw invalid(
                path, "\(key) is not supported here (use one of \(supportedValueTypes.joined(separator: ", ")))")
        default:
            let expected =
                switch key {
                case "valueDecimal", "valueInteger": "a JSON number"
                case "valuePeriod": "an object {start, end}"
                case "valueCoding": "an object {system, code}"
                case "valueReference": "an object {reference}"
                default: "a string"
                }
            throw invalid(path, "must be \(expected)")
        }
    }

    /// A 400 whose text and `expression` name the element that was wrong.
    package static func invalid(_ path: String, _ why: String) -> APIError {
        APIError(status: 400, code: "invalid", diagnostics: "\(path): \(why)", parameter: path)
    }

    private static func reason(_ error: any Error) -> String {
        if let decoding = error as? DecodingError, case .dataCorrupted(let context) = decoding {
            return context.underlyingError.map { "\($0)" } ?? context.debugDescription
        }
        return "\(error)"
    }
}

/// Just enough JSON to read a request body: numbers keep the text JSONDecoder read them as (an integer as written,
/// any other number as an exact `Decimal`), never a `Double`.
package enum BodyJSON: Decodable, Sendable, Equatable {
    case object([String: BodyJSON])
    case array([BodyJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .number(String(value))
        } else if let value = try? container.decode(Decimal.self) {
            self = .number(value.description)
        } else if let value = try? container.decode([BodyJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: BodyJSON].self))
        }
    }
}

extension APIQuery {
    /// A query from pairs already decoded (a POST body's parameters).
    package init(items: [(name: String, value: String)]) {
        self.init(nil)
        self.items = items
    }
}
