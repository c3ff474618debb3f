import TestSupport
import Testing

@testable import BLEGateway

/// Shared checks for the characteristic decoder tests: decode-and-catch, truncation at every length against a
/// field layout, and a seeded fuzz loop. Namespaced so it cannot collide with other suites' helpers.
enum CharacteristicTestKit {
    /// The project's seeded SplitMix64, so a fuzz failure reproduces exactly.
    typealias SplitMix64 = TestRandom

    /// The catalog's type for a 16-bit UUID, as an identity that can be compared.
    static func catalogType(_ uuid: UInt16) -> ObjectIdentifier? {
        CharacteristicCatalog.type(for: BluetoothUUID(uuid)).map { ObjectIdentifier($0) }
    }

    /// The error `T` throws for `bytes`, or nil when it decodes.
    static func decodeError<T: CharacteristicValue>(_: T.Type, _ bytes: [UInt8]) -> CharacteristicDecodeError? {
        do {
            _ = try T(decoding: bytes)
            return nil
        } catch {
            return error
        }
    }

    /// Asserts that decoding `bytes` fails with `problem` on `field` at `offset`.
    static func expectError<T: CharacteristicValue>(
        _ type: T.Type, _ bytes: [UInt8], field: String, offset: Int, problem: CharacteristicDecodeError.Problem,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let error = decodeError(type, bytes) else {
            Issue.record("\(T.name) decoded \(bytes) but should refuse \(field)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.characteristic == T.name, sourceLocation: sourceLocation)
        #expect(error.field == field, sourceLocation: sourceLocation)
        #expect(error.offset == offset, sourceLocation: sourceLocation)
        #expect(error.problem == problem, sourceLocation: sourceLocation)
    }

    /// Cuts `full` at every length 0..<count and asserts each prefix is refused as `.truncated`, naming the field
    /// the cut falls in (from `layout`: fields in wire order with their sizes), at that field's offset, with the
    /// field's size needed and what was left of it available.
    static func expectTruncation<T: CharacteristicValue>(
        _ type: T.Type, full: [UInt8], layout: [(String, Int)], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            layout.reduce(0) { $0 + $1.1 } == full.count, "layout covers the payload", sourceLocation: sourceLocation)
        #expect((try? T(decoding: full)) != nil, "the full payload decodes", sourceLocation: sourceLocation)
        var start = 0
        for (field, size) in layout {
            for length in start..<(start + size) {
                expectError(
                    type, Array(full.prefix(length)), field: field, offset: start,
                    problem: .truncated(needed: size, available: length - start), sourceLocation: sourceLocation)
            }
            start += size
        }
    }

    /// Asserts one extra byte after a full payload is refused as trailing bytes at the end.
    static func expectTrailingByteRefused<T: CharacteristicValue>(
        _ type: T.Type, full: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectError(
            type, full + [0x00], field: "end_of_payload", offset: full.count, problem: .trailingBytes(count: 1),
            sourceLocation: sourceLocation)
    }

    /// Encodes, decodes, and asserts the value survived.
    static func expectRoundTrip<T: CharacteristicValue & Equatable>(
        _ value: T, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let bytes = value.encoded()
        do {
            let decoded = try T(decoding: bytes)
            #expect(decoded == value, sourceLocation: sourceLocation)
        } catch {
            Issue.record(
                "\(T.name): \(value) encoded as \(bytes) does not decode: \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Random bytes, occasionally a valid encoding mutated: flip a byte, cut, or append.
    static func mutated(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        switch random.below(4) {
        case 0 where !bytes.isEmpty: bytes[random.below(bytes.count)] = random.byte()
        case 1 where !bytes.isEmpty: bytes = Array(bytes.prefix(random.below(bytes.count)))
        case 2: bytes.append(random.byte())
        default: break
        }
        return bytes
    }

    /// Feeds `iterations` generated payloads to `T`: decoding must never crash; a refusal must be a
    /// CharacteristicDecodeError naming this characteristic and an offset inside the payload; a success must
    /// re-encode to a value that decodes equal and, where `isCanonical(bytes)`, to the very same bytes.
    static func fuzz<T: CharacteristicValue & Equatable>(
        _: T.Type, seed: UInt64, iterations: Int = 3000, makeBytes: (inout SplitMix64) -> [UInt8],
        isCanonical: ([UInt8]) -> Bool = { _ in true }, sourceLocation: SourceLocation = #_sourceLocation
    ) -> (decoded: Int, refused: Int) {
        var random = SplitMix64(seed: seed)
        var decoded = 0
        var refused = 0
        for _ in 0..<iterations {
            let bytes = makeBytes(&random)
            do {
                let value = try T(decoding: bytes)
                decoded += 1
                let encoded = value.encoded()
                if (try? T(decoding: encoded)) != value {
                    let message = "\(T.name): \(bytes) → \(value) does not survive its encoding"
                    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
                }
                if isCanonical(bytes), encoded != bytes {
                    Issue.record("\(T.name): \(bytes) re-encodes as \(encoded)", sourceLocation: sourceLocation)
                }
                if value.json.text.isEmpty {
                    Issue.record("\(T.name): empty JSON", sourceLocation: sourceLocation)
                }
            } catch {
                refused += 1
                if error.characteristic != T.name || error.offset < 0 || error.offset > bytes.count
                    || error.description.isEmpty
                {
                    Issue.record("\(T.name): implausible error \(error) for \(bytes)", sourceLocation: sourceLocation)
                }
            }
        }
        return (decoded, refused)
    }
}

extension TestRandom {
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }

    /// 0..<bound (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }

    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}
