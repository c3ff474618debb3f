import TestSupport
import Testing

@testable import TimeSeries

@Suite struct ColumnCodecTests {
    static let edgeColumns: [[Int64]] = [
        [],
        [42],
        [5, 5, 5, 5],
        [-3, -1, -7, 0, 9, -1_000_000],
        [Int64.min, Int64.max, 0, Int64.min, -1, Int64.max],
        Array(repeating: Int64.max, count: 300),
        (0..<1000).map { Int64($0) * 1_000_000 + Int64($0 % 7) * 1000 },
        (0..<1000).map { $0 % 97 == 0 ? Int64($0) * 2_000_000 : Int64($0) * 1_000_000 },
    ]

    @Test(arguments: [
        ColumnEncoding.timestampDelta, .timestampDeltaOfDelta, .timestampPredictedDelta, .zigzagDelta,
        .scaledZigzagDelta, .runLength,
    ])
    func edgeColumnsRoundTrip(_ encoding: ColumnEncoding) throws {
        for values in Self.edgeColumns {
            for minimumWidth in [0, 8] {
                let bytes = ColumnCodec.encode(values, as: encoding, minimumWidth: minimumWidth)
                let decoded = try ColumnCodec.decode(bytes[...], as: encoding, expectedCount: values.count)
                #expect(decoded == values, "\(encoding) width≥\(minimumWidth) \(values.prefix(6))")
            }
        }
    }

    @Test func randomColumnsRoundTrip() throws {
        var rng = TestRandom(seed: 7)
        for round in 0..<200 {
            let count = Int(rng.next() % 700)
            let spread = [UInt64(1), 3, 1000, 1 << 20, 1 << 40, UInt64.max][round % 6]
            var v = Int64(bitPattern: rng.next())
            let values = (0..<count).map { _ -> Int64 in
                v &+= Int64(bitPattern: rng.next() % spread) &- Int64(bitPattern: spread / 2)
                return v
            }
            for encoding in [
                ColumnEncoding.timestampDelta, .timestampDeltaOfDelta, .timestampPredictedDelta, .zigzagDelta,
                .scaledZigzagDelta, .runLength,
            ] {
                let bytes = ColumnCodec.encode(values, as: encoding)
                #expect(try ColumnCodec.decode(bytes[...], as: encoding, expectedCount: count) == values)
            }
        }
    }

    /// RR intervals kept as n × 9765625 × 10⁻¹⁰ s: the scaled encoding stores each delta in a handful of bits.
    @Test func decimalStepsShrinkWithTheirDivisor() throws {
        var rng = TestRandom(seed: 11)
        var ticks: Int64 = 800
        let mantissas = (0..<8192).map { _ -> Int64 in
            ticks += Int64(rng.next() % 41) - 20
            return ticks * 9_765_625
        }
        let (_, report) = try ColumnContainer.encode(
            kind: 9, rowCount: mantissas.count,
            columns: [.init(id: 2, values: mantissas, candidates: [.zigzagDelta, .scaledZigzagDelta])],
            compressionLevel: 3)
        #expect(report[0].encoding == .scaledZigzagDelta)
        #expect(
            report[0].storedBytes < mantissas.count * 7 / 8,
            "\(report[0].storedBytes) bytes for \(mantissas.count) values")
        let scaled = ColumnCodec.encode(mantissas, as: .scaledZigzagDelta)
        #expect(
            try ColumnCodec.decode(scaled[...], as: .scaledZigzagDelta, expectedCount: mantissas.count) == mantissas)
    }

    @Test func truncatedColumnIsATypedError() {
        let bytes = ColumnCodec.encode((0..<300).map { Int64($0 * 3) }, as: .zigzagDelta)
        for cut in [1, bytes.count / 2, bytes.count - 1] {
            #expect(throws: ByteReadError.self) {
                try ColumnCodec.decode(bytes[..<cut], as: .zigzagDelta, expectedCount: 300)
            }
        }
    }

    @Test func regularTimestampsPreferDeltaOfDelta() throws {
        let metronome = (0..<4096).map { Int64($0) * 1_000_000 }
        let (bytes, report) = try ColumnContainer.encode(
            kind: 9, rowCount: metronome.count,
            columns: [.init(id: 1, values: metronome, candidates: [.timestampDelta, .timestampDeltaOfDelta])],
            compressionLevel: 3)
        #expect(report[0].storedBytes < 64)
        #expect(bytes.count < 100)
    }
}
