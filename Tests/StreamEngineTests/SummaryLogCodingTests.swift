import Foundation
import GRDB
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
                count: 3_600, min: DecimalValue(mantissa: 48, exponent: 0),
                max: DecimalValue(mantissa: 14_250, exponent: -2),
                sum: ExactDecimal(mantissa: Int128(Int64.max) * 1_000, exponent: -2),
                sumOfSquares: ExactDecimal(mantissa: -17_161, exponent: 0),
                first: TimedValue(
                    timestampMicros: 1_793_574_000_000_123, value: DecimalValue(mantissa: -7, exponent: -10)),
                last: TimedValue(
                    timestampMicros: 1_793_573_999_000_000, value: DecimalValue(mantissa: 131, exponent: 0))),
            excludedCount: 12),
        WindowSummary(
            labelMicros: 0, startMicros: 0, endMicros: 86_400_000_000,
            aggregate: Aggregate(count: 0, min: nil, max: nil, sum: nil, sumOfSquares: nil, first: nil, last: nil),
            excludedCount: 2),
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

    /// A window of one value — a cuff's hour — is its value and time alone; a revision written in version 1 (the
    /// label in full, every figure) still reads and comes back the same in version 2.
    @Test func aWindowOfOneValueTakesAFewBytesAndVersionOneStillReads() throws {
        let start: Int64 = 1_793_574_000_000_000
        let v1 = Data(
            hexString: "01010080F0AFD2DFCFAF063F86020086020000830100008986010080" + "82CFCC1A860200"
                + "8082CFCC1A860200")
        let old = try SummaryLog.decode(try #require(v1), start: start, end: start + 3_600_000_000)
        #expect(
            old.labelMicros == start && old.aggregate.count == 1
                && old.aggregate.min == DecimalValue(mantissa: 131, exponent: 0))
        #expect(old.aggregate == FiguresCoding.oneValue(try #require(old.aggregate.first)))
        let v2 = try SummaryLog.encode(old)
        #expect(v2.count <= 14 && v2.first == 2)
        #expect(try SummaryLog.decode(v2, start: start, end: start + 3_600_000_000) == old)
        // A label that is not the start, and one value with exclusions, still round-trip.
        var shifted = old
        shifted.labelMicros = start + 1_800_000_000
        shifted.excludedCount = 3
        #expect(
            try SummaryLog.decode(try SummaryLog.encode(shifted), start: start, end: start + 3_600_000_000) == shifted)
    }

    @Test func aTruncatedRevisionIsAnErrorThatSaysSo() throws {
        let binary = try SummaryLog.encode(Self.summaries[0])
        for cut in [2, binary.count / 2, binary.count - 1] {
            #expect(throws: ReadingSplitError.self) { try SummaryLog.decode(binary.prefix(cut), start: 0, end: 1) }
        }
    }

    /// Revisions and window versions written with their series as text (before v16) keep their feed positions, figures
    /// and versions under series ids; the next revision continues after the highest position ever given.
    @Test func revisionsWrittenWithSeriesTextKeepTheirPositionsUnderIds() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-summary-v16-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/engine.sqlite"
        let series = ["carol/00-1B-C5-00-00-10-00-00/bp_systolic", "dave/00-1B-C5-00-00-20-00-00/glucose"]
        do {
            let queue = try DatabaseQueue(path: path)
            try ReadingArchive.migrator(catalog: ProvenanceCatalog(), path: path).migrate(
                queue, upTo: "v15: window versions without a rowid")
            try await queue.write { db in
                for seq in 1...5 {
                    try db.execute(
                        sql: """
                            INSERT INTO summary_revision (seq, subject, series, width, label, start_micros, end_micros, version, late, unit,
                            summary, recorded_micros) VALUES (?, ?, ?, 3600, ?, ?, ?, ?, 0, 'mm[Hg]', ?, ?)
                            """,
                        arguments: [
                            seq, String(series[seq % 2].prefix { $0 != "/" }), series[seq % 2],
                            Int64(seq) * 3_600_000_000,
                            Self.summaries[seq % 2].startMicros, Self.summaries[seq % 2].endMicros, seq,
                            try SummaryLog.encode(Self.summaries[seq % 2]), Int64(seq),
                        ])
                    try db.execute(
                        sql: "INSERT INTO window_version (series, width, label, version) VALUES (?, 3600, ?, ?)",
                        arguments: [series[seq % 2], Int64(seq) * 3_600_000_000, seq])
                }
                try db.execute(sql: "DELETE FROM summary_revision WHERE seq > 3")
            }
        }
        let archive = try ReadingArchive(path: path)
        let revisions = try archive.summaryRevisions(after: 0)
        #expect(revisions.map(\.sequence) == [1, 2, 3] && revisions.map(\.recordedMicros) == [1, 2, 3])
        #expect(
            revisions.map(\.revision.label) == [3_600_000_000, 7_200_000_000, 10_800_000_000]
                && revisions.allSatisfy { $0.revision.width == .hour })
        #expect(revisions.map { $0.revision.series.description } == [series[1], series[0], series[1]])
        #expect(revisions.map(\.revision.version) == [1, 2, 3] && revisions.allSatisfy { $0.unit == "mm[Hg]" })
        #expect(revisions[1].revision.summary.aggregate == Self.summaries[0].aggregate)
        let (versions, next) = try await archive.queue.write { db in
            let versions = try Int.fetchAll(
                db,
                sql:
                    "SELECT v.version FROM window_version v JOIN summary_series s ON s.id = v.series_id WHERE s.series = ? ORDER BY v.label_seconds",
                arguments: [series[1]])
            let ownUnits = try Int.fetchOne(db, sql: "SELECT count(*) FROM summary_revision WHERE unit IS NOT NULL")
            try db.execute(
                sql: """
                    INSERT INTO summary_revision (series_id, width_hours, label_seconds, start_micros, end_micros, version, late, unit, summary)
                    VALUES (?, 1, 0, 0, 3600000000, 1, 0, '', X'00')
                    """, arguments: [try SummaryLog.series(series[0], unit: "mm[Hg]", db).id])
            return (versions + [ownUnits ?? -1], db.lastInsertedRowID)
        }
        // Versions kept; the units are the series' (none stored per revision); the next position follows the highest.
        #expect(versions == [1, 3, 5, 0] && next == 6)
    }
}

extension Data {
    /// Bytes from hex text (test vectors), nil when it is not hex.
    init?(hexString: String) {
        var bytes: [UInt8] = []
        var index = hexString.startIndex
        while index < hexString.endIndex {
            let next = hexString.index(index, offsetBy: 2, limitedBy: hexString.endIndex) ?? hexString.endIndex
            guard let byte = UInt8(hexString[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
