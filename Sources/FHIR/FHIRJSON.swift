/// A JSON value that keeps what FHIR needs and `JSONSerialization` loses: member order, and numbers as the exact
/// decimal text they were measured with (120.5 mmHg stays `120.5`, 2.0 stays `2.0` — DESIGN.md rule 1). Numbers
/// never pass through `Double` here.
public indirect enum FHIRJSON: Hashable, Sendable {
    case object([Member])
    case array([FHIRJSON])
    case string(String)
    /// JSON number text, written as is (build it with `decimal(_:)` or `integer(_:)`).
    case number(String)
    case bool(Bool)
    case null

    /// One member of an object; order is kept as built.
    public struct Member: Hashable, Sendable {
        public var key: String
        public var value: FHIRJSON

        public init(_ key: String, _ value: FHIRJSON) {
            self.key = key
            self.value = value
        }
    }

    /// An object from ordered pairs; nil values are left out, so optional FHIR elements are simply absent.
    public static func obj(_ pairs: KeyValuePairs<String, FHIRJSON?>) -> FHIRJSON {
        .object(pairs.compactMap { pair in pair.value.map { Member(pair.key, $0) } })
    }

    /// An array, or nil when empty (FHIR forbids empty arrays).
    public static func list(_ items: [FHIRJSON]) -> FHIRJSON? { items.isEmpty ? nil : .array(items) }

    public static func integer(_ value: some BinaryInteger) -> FHIRJSON { .number(String(value)) }

    // MARK: Reading values back (tests, and callers that inspect a resource)

    public subscript(key: String) -> FHIRJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public subscript(index: Int) -> FHIRJSON? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The number's text exactly as it will be written.
    public var numberText: String? {
        if case .number(let text) = self { return text }
        return nil
    }

    public var arrayValue: [FHIRJSON]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var keys: [String] {
        if case .object(let members) = self { return members.map(\.key) }
        return []
    }

    // MARK: Writing

    /// Compact JSON text (no whitespace), members in build order.
    public var text: String {
        var out = ""
        write(to: &out, indent: nil, level: 0)
        return out
    }

    /// Indented JSON text for people (two spaces per level).
    public var prettyText: String {
        var out = ""
        write(to: &out, indent: "  ", level: 0)
        return out
    }

    private func write(to out: inout String, indent: String?, level: Int) {
        func newline(_ level: Int) {
            guard let indent else { return }
            out += "\n" + String(repeating: indent, count: level)
        }
        switch self {
        case .object(let members):
            guard !members.isEmpty else {
                out += "{}"
                return
            }
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                newline(level + 1)
                Self.writeString(member.key, to: &out)
                out += indent == nil ? ":" : ": "
                member.value.write(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "}"
        case .array(let items):
            guard !items.isEmpty else {
                out += "[]"
                return
            }
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                newline(level + 1)
                item.write(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "]"
        case .string(let text): Self.writeString(text, to: &out)
        case .number(let text): out += text
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        }
    }

    /// RFC 8259 string escaping: quote, backslash and control characters; everything else as UTF-8.
    private static func writeString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension FHIRJSON: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}
