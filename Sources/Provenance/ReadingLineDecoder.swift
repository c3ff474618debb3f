import Foundation

/// Decodes one JSON `Reading` (a line of an export or import file) about ten times faster than `JSONDecoder`, and
/// gives exactly what `JSONDecoder` gives: what a file repeats on every line — the device, gateway and context records,
/// the time evidence apart from its two instants, a component that is not a plain quantity — is decoded once by
/// `JSONDecoder` and reused; what varies per line (values, instants, payloads, flags) is read directly. Anything it
/// does not recognise (a number with a fraction, a value that is not a quantity…) falls back to `JSONDecoder` for that
/// part, or for the whole line, so errors read as they always did.
///
/// Not thread-safe (it keeps its caches): one decoder per task.
public final class ReadingLineDecoder {
    private let decoder = JSONDecoder()
    private var devices: [ArraySlice<UInt8>: DeviceRecord] = [:]
    private var gateways: [ArraySlice<UInt8>: GatewayRecord] = [:]
    private var contexts: [ArraySlice<UInt8>: MeasurementContext] = [:]
    private var times: [[UInt8]: TimeProvenance] = [:]
    private var components: [ArraySlice<UInt8>: ReadingComponent] = [:]
    /// Entries per cache before it is emptied (a file from many devices still decodes in bounded memory).
    static let cacheLimit = 1024

    public init() {}

    /// The reading on this line; throws what `JSONDecoder` throws for a line that is not one.
    public func decode(_ line: [UInt8]) throws -> Reading {
        if let reading = try? fastDecode(line[...]) { return reading }
        return try decoder.decode(Reading.self, from: Data(line))
    }

    private func fastDecode(_ line: ArraySlice<UInt8>) throws -> Reading {
        let members = try JSONScanner.object(line)
        var kind: ReadingKind?
        var subject: String?
        var device: DeviceRecord?
        var gateway: GatewayRecord?
        var context: MeasurementContext?
        var time: TimeProvenance?
        var flags: ReadingFlags?
        var characteristic: String?
        var payloads: [[UInt8]]?
        var sequence: UInt16?
        var parts: [ReadingComponent]?
        var modelVersion: Int?
        for (key, value) in members {
            switch key {
            case "kind": kind = ReadingKind(rawValue: try JSONScanner.string(value))
            case "subject": subject = JSONScanner(value).isNull ? nil : try JSONScanner.string(value)
            case "device": device = try cached(value, in: &devices)
            case "gateway": gateway = try cached(value, in: &gateways)
            case "context": context = try cached(value, in: &contexts)
            case "time": time = try decodeTime(value)
            case "flags": flags = ReadingFlags(rawValue: try JSONScanner.integer(value, UInt16.self))
            case "characteristic": characteristic = try JSONScanner.string(value)
            case "rawPayloads":
                payloads = try JSONScanner.array(value).map { element in
                    try JSONScanner.array(element).map { try JSONScanner.integer($0, UInt8.self) }
                }
            case "sequenceNumber":
                sequence = JSONScanner(value).isNull ? nil : try JSONScanner.integer(value, UInt16.self)
            case "components": parts = try JSONScanner.array(value).map(decodeComponent)
            case "modelVersion": modelVersion = try JSONScanner.integer(value, Int.self)
            default: continue  // JSONDecoder ignores keys a type does not have
            }
        }
        guard let kind, let device, let gateway, let context, let time, let flags, let characteristic, let payloads,
            let parts, let modelVersion
        else { throw JSONScanner.Unrecognised() }
        var reading = Reading(
            kind: kind, components: parts, subject: subject, device: device, gateway: gateway, context: context,
            time: time, flags: flags,
            characteristic: characteristic, rawPayloads: payloads, sequenceNumber: sequence)
        reading.modelVersion = modelVersion
        return reading
    }

    /// A component; a plain quantity read directly, anything else through `JSONDecoder` (cached by its bytes).
    private func decodeComponent(_ bytes: ArraySlice<UInt8>) throws -> ReadingComponent {
        var metric: Metric?
        var unit: String?
        var value: ReadingValue?
        for (key, member) in try JSONScanner.object(bytes) {
            switch key {
            case "metric": metric = Metric(rawValue: try JSONScanner.string(member))
            case "unit": unit = try JSONScanner.string(member)
            case "value":
                let outer = try JSONScanner.object(member)
                guard outer.count == 1, outer[0].key == "quantity" else { break }
                let wrapped = try JSONScanner.object(outer[0].value)
                guard wrapped.count == 1, wrapped[0].key == "_0" else { break }
                var mantissa: Int64?
                var exponent: Int8?
                for (name, number) in try JSONScanner.object(wrapped[0].value) {
                    switch name {
                    case "mantissa": mantissa = try JSONScanner.integer(number, Int64.self)
                    case "exponent": exponent = try JSONScanner.integer(number, Int8.self)
                    default: continue
                    }
                }
                if let mantissa, let exponent {
                    value = .quantity(DecimalQuantity(mantissa: mantissa, exponent: exponent))
                }
            default: continue
            }
        }
        if let metric, let unit, let value { return ReadingComponent(metric: metric, value: value, unit: unit) }
        return try cached(bytes, in: &components)
    }

    /// The time evidence: decoded once per distinct text apart from its two instants, which are read directly.
    private func decodeTime(_ bytes: ArraySlice<UInt8>) throws -> TimeProvenance {
        var received: Int64?
        var effective: Int64?
        var normalized: [UInt8] = []
        normalized.reserveCapacity(bytes.count)
        var copied = bytes.startIndex
        for (key, value) in try JSONScanner.object(bytes) where key == "receivedMicros" || key == "effectiveMicros" {
            let number = try JSONScanner.integer(value, Int64.self)
            if key == "receivedMicros" { received = number } else { effective = number }
            normalized += bytes[copied..<value.startIndex]
            normalized.append(UInt8(ascii: "0"))
            copied = value.endIndex
        }
        normalized += bytes[copied...]
        guard let received, let effective else { throw JSONScanner.Unrecognised() }
        var time: TimeProvenance
        if let known = times[normalized] {
            time = known
        } else {
            time = try decoder.decode(TimeProvenance.self, from: Data(normalized))
            if times.count >= Self.cacheLimit { times.removeAll(keepingCapacity: true) }
            times[normalized] = time
        }
        time.receivedMicros = received
        time.effectiveMicros = effective
        return time
    }

    private func cached<T: Decodable>(_ bytes: ArraySlice<UInt8>, in cache: inout [ArraySlice<UInt8>: T]) throws -> T {
        if let known = cache[bytes] { return known }
        let value = try decoder.decode(T.self, from: Data(bytes))
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[Array(bytes)[...]] = value
        return value
    }
}

/// A minimal reader of JSON text: an object's members as raw values, arrays, strings with their escapes, integers.
/// It recognises only what `ReadingLineDecoder` reads directly; everything else is `Unrecognised` for the caller.
struct JSONScanner {
    struct Unrecognised: Error {}
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    /// The whole of `bytes` as one value of the kind asked for (nothing may follow it).
    static func object(_ bytes: ArraySlice<UInt8>) throws -> [(key: String, value: ArraySlice<UInt8>)] {
        var scanner = JSONScanner(bytes)
        return try scanner.whole { try $0.object() }
    }

    static func array(_ bytes: ArraySlice<UInt8>) throws -> [ArraySlice<UInt8>] {
        var scanner = JSONScanner(bytes)
        return try scanner.whole { try $0.array() }
    }

    static func string(_ bytes: ArraySlice<UInt8>) throws -> String {
        var scanner = JSONScanner(bytes)
        return try scanner.whole { try $0.string() }
    }

    static func integer<T: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>, _ type: T.Type) throws -> T {
        var scanner = JSONScanner(bytes)
        return try scanner.whole { try $0.integer(type) }
    }

    private mutating func whole<T>(_ read: (inout JSONScanner) throws -> T) throws -> T {
        let value = try read(&self)
        guard atEnd else { throw Unrecognised() }
        return value
    }

    var atEnd: Bool {
        var copy = self
        copy.skipSpace()
        return copy.index == bytes.endIndex
    }

    var isNull: Bool {
        var copy = self
        copy.skipSpace()
        return bytes[copy.index...].starts(with: [0x6E, 0x75, 0x6C, 0x6C])
    }

    private mutating func skipSpace() {
        while index < bytes.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws {
        skipSpace()
        guard index < bytes.endIndex, bytes[index] == byte else { throw Unrecognised() }
        index += 1
    }

    private mutating func peek() -> UInt8? {
        skipSpace()
        return index < bytes.endIndex ? bytes[index] : nil
    }

    /// The members of an object, each value as its raw text.
    mutating func object() throws -> [(key: String, value: ArraySlice<UInt8>)] {
        try expect(0x7B)
        var members: [(key: String, value: ArraySlice<UInt8>)] = []
        if peek() == 0x7D {
            index += 1
            return members
        }
        while true {
            let key = try string()
            try expect(0x3A)
            skipSpace()
            let start = index
            try skipValue()
            members.append((key, bytes[start..<index]))
            guard let next = peek() else { throw Unrecognised() }
            index += 1
            if next == 0x7D { return members }
            guard next == 0x2C else { throw Unrecognised() }
        }
    }

    /// The elements of an array, each as its raw text.
    mutating func array() throws -> [ArraySlice<UInt8>] {
        try expect(0x5B)
        var elements: [ArraySlice<UInt8>] = []
        if peek() == 0x5D {
            index += 1
            return elements
        }
        while true {
            skipSpace()
            let start = index
            try skipValue()
            elements.append(bytes[start..<index])
            guard let next = peek() else { throw Unrecognised() }
            index += 1
            if next == 0x5D { return elements }
            guard next == 0x2C else { throw Unrecognised() }
        }
    }

    /// A string, escapes resolved.
    mutating func string() throws -> String {
        try expect(0x22)
        let start = index
        while index < bytes.endIndex, bytes[index] != 0x22, bytes[index] != 0x5C { index += 1 }
        guard index < bytes.endIndex else { throw Unrecognised() }
        if bytes[index] == 0x22 {
            defer { index += 1 }
            return try Self.text(bytes[start..<index])
        }
        // Escapes (a unit's "\/" in JSONEncoder's default output): the simple ones here, "\u" through JSONSerialization.
        var text = Array(bytes[start..<index])
        while index < bytes.endIndex, bytes[index] != 0x22 {
            guard bytes[index] == 0x5C, index + 1 < bytes.endIndex else {
                text.append(bytes[index])
                index += 1
                continue
            }
            guard let resolved = Self.simpleEscapes[bytes[index + 1]] else {
                index = start - 1
                let quoted = index
                try skipValue()
                guard
                    let text = try JSONSerialization.jsonObject(
                        with: Data(bytes[quoted..<index]), options: .fragmentsAllowed) as? String
                else { throw Unrecognised() }
                return text
            }
            text.append(resolved)
            index += 2
        }
        guard index < bytes.endIndex else { throw Unrecognised() }
        index += 1
        return try Self.text(text[...])
    }

    /// `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`: the escaped byte for the one after the backslash.
    private static let simpleEscapes: [UInt8: UInt8] = [
        0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09,
    ]

    /// UTF-8 text; invalid UTF-8 is left to JSONDecoder (which refuses it) rather than repaired.
    private static func text(_ utf8: ArraySlice<UInt8>) throws -> String {
        if utf8.allSatisfy({ $0 < 0x80 }) { return String(decoding: utf8, as: UTF8.self) }
        guard let text = String(bytes: utf8, encoding: .utf8) else { throw Unrecognised() }
        return text
    }

    /// An integer that fits `T` exactly (no fraction, no exponent).
    mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
        skipSpace()
        let start = index
        if index < bytes.endIndex, bytes[index] == 0x2D { index += 1 }
        while index < bytes.endIndex, (0x30...0x39).contains(bytes[index]) { index += 1 }
        guard index > start, index == bytes.endIndex || ![0x2E, 0x65, 0x45].contains(bytes[index]),
            let value = T(String(decoding: bytes[start..<index], as: UTF8.self))
        else { throw Unrecognised() }
        return value
    }

    /// Moves past one value of any kind.
    private mutating func skipValue() throws {
        skipSpace()
        guard index < bytes.endIndex else { throw Unrecognised() }
        switch bytes[index] {
        case 0x22:
            index += 1
            while index < bytes.endIndex, bytes[index] != 0x22 {
                index += bytes[index] == 0x5C ? 2 : 1
            }
            guard index < bytes.endIndex else { throw Unrecognised() }
            index += 1
        case 0x7B, 0x5B:
            var depth = 0
            while index < bytes.endIndex {
                switch bytes[index] {
                case 0x22:
                    try skipValue()
                    continue
                case 0x7B, 0x5B: depth += 1
                case 0x7D, 0x5D: depth -= 1
                default: break
                }
                index += 1
                if depth == 0 { return }
            }
            throw Unrecognised()
        default:
            while index < bytes.endIndex, ![0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) {
                index += 1
            }
        }
    }
}
