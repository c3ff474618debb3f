import Foundation
import Testing
import TimeSeries

@testable import StreamEngine

/// A summary revision's figures in their binary form: every figure back exactly (128-bit sums, negative values, times
/// before the label), a fraction of the JSON's size, and revisions written as JSON before still read.
@Suite struct SummaryLogCodingTests {
    static let summaries: [WindowSummary] = [
        WindowSummary(
            labelMicros: 1_793_574_000_000_000, startMicros: 1_793_574_000_000_000, endMicros: 1_793_577_600_000_000,
            aggregate: Aggregate(
                count: 3_600, min: DecimalValue(mantissa: 48, exponent: 0), max: DecimalValue(mantissa: 14_250, exponent: -2),
                sum: ExactDecimal(mantissa: Int128(Int64.max) * 1_000, exponent: -2), sumOfSquares: ExactDecimal(mantissa: -17_161, exponent: 0),
                first: TimedValue(timestampMicros: 1_793_574_000_000_123, value: DecimalValue(mantissa: -7, exponent: -10)),
                last: TimedValue(timestampMicros: 1_793_573_999_000_000, value: DecimalValue(mantissa: 131, exponent: 0))),
            excludedCount: 12),
        WindowSummary(
            labelMicros: 0, startMicros: 0, endMicros: 86_400_000_000,
            aggregate: Aggregate(count: 0, min: nil, max: nil, sum: nil, sumOfSquares: nil, first: nil, last: nil), excludedCount: 2),
    ]

    @Test func everyFigureComesBackFromAFewBytes() throws {
        for summary in Self.summaries {
            let binary = try SummaryLog.encode(summary)
            let json = try SummaryLog.encodeJSON(summary)
            #expect(binary.count * 2 < json.count, "\(binary.count) bytes against \(json.count) of JSON")
            #expect(try SummaryLog.decode(binary, start: summary.startMicros, end: summary.endMicros) == summary)
            #expect(try SummaryLog.decode(json, start: summary.startMicros, end: summary.endMicros) == summary)
        }
    }

    @Test func aTruncatedRevisionIsAnErrorThatSaysSo() throws {
        let binary = try SummaryLog.encode(Self.summaries[0])
        for cut in [2, binary.count / 2, binary.count - 1] {
            #expect(throws: ReadingSplitError.self) { try SummaryLog.decode(binary.prefix(cut), start: 0, end: 1) }
        }
    }
}
