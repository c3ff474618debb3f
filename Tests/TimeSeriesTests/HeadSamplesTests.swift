import Testing

@testable import TimeSeries

@Suite struct HeadSamplesTests {
    /// Jittered 1 Hz times, an exponent change, flags, present and absent context tags.
    @Test(arguments: [0, 1, 2, 8_192])
    func decodesWhatWasAppended(count: Int) {
        let samples = ChunkTests.samples(count, seed: 7)
        let head = HeadSamples(samples)
        #expect(head.count == count)
        #expect(head.decoded() == samples)
    }

    @Test func extremeValuesRoundTrip() {
        let samples = [
            Sample(
                timestampMicros: .max, value: DecimalValue(mantissa: .min, exponent: .min), flags: .max,
                contextTag: .max),
            Sample(timestampMicros: .min, value: DecimalValue(mantissa: .max, exponent: .max), flags: 0, contextTag: 0),
            Sample(timestampMicros: 0, value: DecimalValue(mantissa: 0, exponent: 0)),
            Sample(timestampMicros: -5, value: DecimalValue(mantissa: -1, exponent: -3), flags: 1, contextTag: nil),
        ]
        #expect(HeadSamples(samples).decoded() == samples)
    }

    /// A strap's head is a few bytes a sample, not the 32 of a `Sample`.
    @Test func oneHertzStrapIsCompact() {
        let samples = (0..<8_192).map { i in
            Sample(
                timestampMicros: 1_700_000_000_000_000 + Int64(i) * 1_000_000 + Int64(i % 7) * 1_000,
                value: DecimalValue(mantissa: 60 + Int64(i % 11), exponent: 0), contextTag: 3)
        }
        let head = HeadSamples(samples)
        #expect(head.byteCount <= 6 * samples.count)
        #expect(head.decoded() == samples)
    }

    @Test func rangeAndDropKeepOrder() {
        let samples = ChunkTests.samples(300, seed: 11)
        let head = HeadSamples(samples)
        let range = samples[100].timestampMicros..<samples[200].timestampMicros
        #expect(head.decoded(in: range) == samples.filter { range.contains($0.timestampMicros) })
        #expect(head.dropping(first: 120).decoded() == Array(samples.dropFirst(120)))
        #expect(head.dropping(first: 300).isEmpty)
    }
}
