/// A JSON value that keeps what `JSONSerialization` loses: member order, and numbers as the exact decimal text
/// they were measured with (120.5 mmHg stays `120.5`, 2.0 stays `2.0` — DESIGN.md rule 1). Numbers never pass
/// through `Double` here. The one JSON writer of the gateway: FHIR resources, and the decoded characteristics that
/// `gatewayd decode` and `gatewayd connect` print in the specification's field order.
public indirect enum ExactJSON: Hashable, Sendable {
    case object([Member])
    case array([ExactJSON])
    case string(String)
    /// JSON number text, written as is (build it with `decimal(_:)` or `integer(_:)`).
    case number(String)
    case bool(Bool)
    case null

    /// One member of an object; order is kept as built.
    public struct Member: Hashable, Sendable {
        public var key: String
        public var value: ExactJSON

        public init(_ key: String, _ value: ExactJSON) {
            self.key = key
            self.value = value
        }
    }

    /// An object from ordered pairs; nil values are left out, so optional FHIR elements are simply absent.
    public static func obj(_ pairs: KeyValuePairs<String, ExactJSON?>) -> ExactJSON {
        .object(pairs.compactMap { pair in pair.value.map { Member(pair.key, $0) } })
    }

    /// An object from ordered (key, value) pairs, every one written (a decoded characteristic's fields).
    public static func members(_ pairs: [(String, ExactJSON)]) -> ExactJSON {
        .object(pairs.map { Member($0.0, $0.1) })
    }

    /// An array, or nil when empty (FHIR forbids empty arrays).
    public static func list(_ items: [ExactJSON]) -> ExactJSON? { items.isEmpty ? nil : .array(items) }

    public static func integer(_ value: some BinaryInteger) -> ExactJSON { .number(String(value)) }

    // MARK: Reading values back (tests, and callers that inspect a resource)

    public subscript(key: String) -> ExactJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public subscript(index: Int) -> ExactJSON? {
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

    public var arrayValue: [ExactJSON]? {
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
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        write(to: &out, indent: nil, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Indented JSON text for people (two spaces per level).
    public var prettyText: String {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        write(to: &out, indent: Array("  ".utf8), level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Written as UTF-8 bytes, converted to a String once: a `$stats` answer for a week of hours is thousands of
    /// members, and appending to a String scalar by scalar was most of its cost.
    private func write(to out: inout [UInt8], indent: [UInt8]?, level: Int) {
        func newline(_ level: Int) {
            guard let indent else { return }
            out.append(0x0A)
            for _ in 0..<level { out += indent }
        }
        switch self {
        case .object(let members):
            guard !members.isEmpty else {
                out += [0x7B, 0x7D]
                return
            }
            out.append(0x7B)
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(0x2C) }
                newline(level + 1)
                Self.writeString(member.key, to: &out)
                out.append(0x3A)
                if indent != nil { out.append(0x20) }
                member.value.write(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out.append(0x7D)
        case .array(let items):
            guard !items.isEmpty else {
                out += [0x5B, 0x5D]
                return
            }
            out.append(0x5B)
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(0x2C) }
                newline(level + 1)
                item.write(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out.append(0x5D)
        case .string(let text): Self.writeString(text, to: &out)
        case .number(let text): out += text.utf8
        case .bool(let value): out += (value ? "true" : "false").utf8
        case .null: out += "null".utf8
        }
    }

    /// RFC 8259 string escaping: quote, backslash and control characters; everything else as UTF-8 (a byte of a
    /// multi-byte sequence is never below 0x80, so escaping byte by byte is escaping scalar by scalar).
    private static func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(0x22)
        // Most strings (codes, references, times) need no escape: copied whole, not byte by byte.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out.append(contentsOf: text.utf8)
            out.append(0x22)
            return
        }
        for byte in text.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out += [0x5C, 0x75, 0x30, 0x30, digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }
}

extension ExactJSON: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}
