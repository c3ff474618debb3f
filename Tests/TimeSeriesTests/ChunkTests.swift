import TestSupport
import Testing

@testable import TimeSeries

@Suite struct ChunkTests {
    static func samples(_ count: Int, seed: UInt64) -> [Sample] {
        var rng = TestRandom(seed: seed)
        var t: Int64 = 1_700_000_000_000_000
        var m: Int64 = 1205
        return (0..<count).map { i in
            t += 1_000_000 + Int64(rng.next() % 9_000) - 4_000
            m += Int64(rng.next() % 5) - 2
            let exponent: Int8 = i > count / 2 ? -2 : -1  // exponent changes mid-chunk
            return Sample(
                timestampMicros: t, value: DecimalValue(mantissa: exponent == -2 ? m * 10 : m, exponent: exponent),
                flags: rng.next() % 50 == 0 ? 0x0004 : 0, contextTag: rng.next() % 3 == 0 ? UInt32(rng.next() % 9) : nil
            )
        }
    }

    @Test(arguments: [0, 1, 2, 129, 5000])
    func samplesRoundTripExactly(_ count: Int) throws {
        let input = Self.samples(count, seed: UInt64(count))
        let (bytes, stats) = try ChunkEncoder.encode(input, compressionLevel: 3)
        let decoded = try ChunkDecoder.decode(bytes[...])
        #expect((0..<decoded.count).map(decoded.sample(at:)) == input)
        #expect(stats.count == count)
        var naive = Aggregate()
        for sample in input { naive.add(sample) }
        #expect(stats.aggregate == naive)
    }

    @Test func extremeValuesAndEqualTimestamps() throws {
        let input = [
            Sample(timestampMicros: 5, value: DecimalValue(mantissa: Int64.max, exponent: 127)),
            Sample(timestampMicros: 5, value: DecimalValue(mantissa: Int64.min, exponent: -128), flags: .max),
            Sample(timestampMicros: 5, value: DecimalValue(mantissa: 0, exponent: 0), contextTag: .max),
            Sample(timestampMicros: -9, value: DecimalValue(mantissa: -1, exponent: 3), contextTag: 0),
        ]
        let (bytes, stats) = try ChunkEncoder.encode(input)
        let decoded = try ChunkDecoder.decode(bytes[...])
        // Sorted by time, stable among equal times.
        #expect((0..<decoded.count).map(decoded.sample(at:)) == [input[3], input[0], input[1], input[2]])
        #expect(stats.aggregate.min == DecimalValue(mantissa: -1, exponent: 3))  // -1000 < -9.2e-110
        #expect(stats.aggregate.max == DecimalValue(mantissa: Int64.max, exponent: 127))
    }

    @Test func everyFlippedByteIsDetected() throws {
        let (bytes, _) = try ChunkEncoder.encode(Self.samples(300, seed: 3), compressionLevel: 3)
        for position in stride(from: 0, to: bytes.count, by: 7) {
            var damaged = bytes
            damaged[position] ^= 0x10
            #expect(throws: ChunkFormatError.self) { try ChunkDecoder.decode(damaged[...]) }
        }
    }

    @Test func decimalTextIsExact() {
        #expect(DecimalValue(parsing: "120.5") == DecimalValue(mantissa: 1205, exponent: -1))
        #expect(DecimalValue(parsing: "120.5")?.description == "120.5")
        #expect(DecimalValue(parsing: "-0.07")?.description == "-0.07")
        #expect(DecimalValue(parsing: "1.5e-3") == DecimalValue(mantissa: 15, exponent: -4))
        #expect(DecimalValue(parsing: "12a") == nil)
        #expect(DecimalValue(mantissa: 1205, exponent: -1) < DecimalValue(mantissa: 121, exponent: 0))
        var a = Aggregate()
        a.add(value: DecimalValue(mantissa: 1205, exponent: -1), at: 0)
        a.add(value: DecimalValue(mantissa: 1, exponent: -2), at: 1)
        #expect(a.sum?.description == "120.51")
    }
}
