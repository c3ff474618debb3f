import Foundation
import GRDB
import Metrics
import Provenance
import TimeSeries

/// The durable feeds a downstream sink (the FHIR outbox) reads from engine.sqlite, by sequence number:
/// every window summary revision, and every reading once it is stored. They are written in the same transactions
/// as the window versions and the "stored" marks, so a sink in another process, or after a crash, resumes from
/// its own cursor and misses nothing — unlike the in-memory `StreamEngine.revisions` stream.
public struct SummaryRevisionRecord: Sendable {
    public var sequence: Int64
    public var revision: WindowRevision
    /// The series' UCUM unit (from the readings that revised it).
    public var unit: String
    public var recordedMicros: Int64
}

public struct StoredReadingRecord: Sendable {
    /// The feed position: readings stored in one batch share it.
    public var sequence: Int64
    public var reading: Reading
}

enum SummaryLog {
    static let migration = """
        CREATE TABLE summary_revision (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL, series TEXT NOT NULL, width INTEGER NOT NULL,
            label INTEGER NOT NULL, start_micros INTEGER NOT NULL, end_micros INTEGER NOT NULL, version INTEGER NOT NULL,
            late INTEGER NOT NULL, unit TEXT NOT NULL, summary BLOB NOT NULL, recorded_micros INTEGER NOT NULL);
        CREATE TABLE reading_feed (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, identity TEXT NOT NULL, stored_micros INTEGER NOT NULL);
        """

    /// Revisions and window versions name their series by a small id instead of its text ("subject/device/metric",
    /// ~40 bytes, twice for a revision with its subject): a blood-pressure reading revises a few windows, and these
    /// keys were a third of what its reading left in engine.sqlite. A revision's start is NULL when it is its label
    /// and its end NULL when it is the start plus the width (all but a day when clocks change), its unit NULL when it is
    /// the series' (`summary_series.unit`, the first one seen). Feed positions (`seq`) are kept as they were.
    static let seriesIDsMigration = """
        CREATE TABLE summary_series (id INTEGER PRIMARY KEY, series TEXT NOT NULL UNIQUE, unit TEXT);
        INSERT OR IGNORE INTO summary_series (series)
            SELECT series FROM window_version UNION SELECT series FROM summary_revision ORDER BY 1;
        UPDATE summary_series SET unit = (SELECT r.unit FROM summary_revision r WHERE r.series = summary_series.series ORDER BY r.seq LIMIT 1);
        CREATE TABLE summary_revision_v16 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, series_id INTEGER NOT NULL, width INTEGER NOT NULL,
            label INTEGER NOT NULL, start_micros INTEGER, end_micros INTEGER, version INTEGER NOT NULL,
            late INTEGER NOT NULL, unit TEXT, summary BLOB NOT NULL, recorded_micros INTEGER NOT NULL);
        INSERT INTO summary_revision_v16
            SELECT r.seq, s.id, r.width, r.label, NULLIF(r.start_micros, r.label),
                NULLIF(r.end_micros, r.start_micros + r.width * 1000000), r.version, r.late, NULLIF(r.unit, s.unit), r.summary, r.recorded_micros
            FROM summary_revision r JOIN summary_series s ON s.series = r.series ORDER BY r.seq;
        DELETE FROM sqlite_sequence WHERE name = 'summary_revision_v16';
        INSERT INTO sqlite_sequence (name, seq) SELECT 'summary_revision_v16', seq FROM sqlite_sequence WHERE name = 'summary_revision';
        DROP TABLE summary_revision;
        ALTER TABLE summary_revision_v16 RENAME TO summary_revision;
        CREATE TABLE window_version_v16 (
            series_id INTEGER NOT NULL, width INTEGER NOT NULL, label INTEGER NOT NULL, version INTEGER NOT NULL,
            PRIMARY KEY (series_id, width, label)) WITHOUT ROWID;
        INSERT INTO window_version_v16
            SELECT s.id, v.width, v.label, v.version FROM window_version v JOIN summary_series s ON s.series = v.series;
        DROP TABLE window_version;
        ALTER TABLE window_version_v16 RENAME TO window_version;
        """

    /// Revisions and window versions keep their window's width in hours and its label in seconds (1 or 24 and ~1.8 × 10⁹:
    /// 0–1 and 4 bytes, not 2–3 and 8), and the time they were recorded once per flush (`summary_flush`: the first
    /// revision of each flush and its time) rather than 8 bytes on every revision — a blood-pressure reading revises six
    /// windows, and these were a tenth of what it left in engine.sqlite. Labels are whole seconds (calendar boundaries).
    static let compactKeysMigration = """
        CREATE TABLE summary_flush (seq INTEGER PRIMARY KEY, recorded_micros INTEGER NOT NULL);
        INSERT INTO summary_flush (seq, recorded_micros)
            SELECT seq, recorded_micros FROM (
                SELECT seq, recorded_micros, LAG(recorded_micros) OVER (ORDER BY seq) AS previous FROM summary_revision)
            WHERE previous IS NULL OR previous != recorded_micros;
        CREATE TABLE summary_revision_v18 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, series_id INTEGER NOT NULL, width_hours INTEGER NOT NULL,
            label_seconds INTEGER NOT NULL, start_micros INTEGER, end_micros INTEGER, version INTEGER NOT NULL,
            late INTEGER NOT NULL, unit TEXT, summary BLOB NOT NULL);
        INSERT INTO summary_revision_v18
            SELECT seq, series_id, width / 3600, label / 1000000,
                CASE WHEN start_micros IS NULL AND label % 1000000 != 0 THEN label ELSE start_micros END,
                end_micros, version, late, unit, summary
            FROM summary_revision ORDER BY seq;
        DELETE FROM sqlite_sequence WHERE name = 'summary_revision_v18';
        INSERT INTO sqlite_sequence (name, seq) SELECT 'summary_revision_v18', seq FROM sqlite_sequence WHERE name = 'summary_revision';
        DROP TABLE summary_revision;
        ALTER TABLE summary_revision_v18 RENAME TO summary_revision;
        CREATE TABLE window_version_v18 (
            series_id INTEGER NOT NULL, width_hours INTEGER NOT NULL, label_seconds INTEGER NOT NULL, version INTEGER NOT NULL,
            PRIMARY KEY (series_id, width_hours, label_seconds)) WITHOUT ROWID;
        INSERT INTO window_version_v18 SELECT series_id, width / 3600, label / 1000000, version FROM window_version;
        DROP TABLE window_version;
        ALTER TABLE window_version_v18 RENAME TO window_version;
        """

    /// The stored forms of a window's width and label (see `compactKeysMigration`).
    static func widthHours(_ width: SummaryWidth) -> Int { width.rawValue / 3600 }
    static func labelSeconds(_ label: Int64) -> Int64 { label / 1_000_000 }

    /// What a revision row keeps of its window's bounds (`start`, `end` read them back).
    /// A label that is not a whole second (never made by the calendar) keeps its start, so nothing is lost.
    static func storedBounds(label: Int64, width: SummaryWidth, start: Int64, end: Int64) -> (
        start: Int64?, end: Int64?
    ) {
        (start == label && label % 1_000_000 == 0 ? nil : start, end == start + width.micros ? nil : end)
    }
    /// The SQL of a revision's end, for conditions.
    static let endExpression =
        "COALESCE(end_micros, COALESCE(start_micros, label_seconds * 1000000) + width_hours * 3600000000)"

    /// The id of a series' text in `summary_series` and its unit, added with `unit` when new.
    static func series(_ series: String, unit: String, _ db: Database) throws -> (id: Int64, unit: String?) {
        if let known = try SummarySeriesRecord.filter(Column("series") == series).fetchOne(db), let id = known.id {
            return (id, known.unit)
        }
        var added = SummarySeriesRecord(series: series, unit: unit)
        try added.insert(db)
        return (added.id ?? db.lastInsertedRowID, unit)
    }

    /// The window's figures as JSON; big decimals as "mantissa e exponent" text so nothing goes through Double.
    struct Figures: Codable {
        var count: Int
        var excluded: Int
        var min: [Int64]?
        var max: [Int64]?
        var sum: String?
        var sumOfSquares: String?
        var first: [Int64]?
        var last: [Int64]?
        var labelMicros: Int64
    }

    /// The window's figures in a few dozen bytes (`FiguresCoding`); revisions written before 2026-12 hold JSON
    /// (`Figures`, 190 bytes a revision), still read.
    static func encode(_ summary: WindowSummary) throws -> Data { try encode(summary, start: summary.startMicros) }

    /// `start`: the window start the revision row keeps (the label is written against it).
    static func encode(_ summary: WindowSummary, start: Int64) throws -> Data {
        Data(FiguresCoding.encode(summary, start: start))
    }

    /// JSON as revisions were written before the binary form.
    static func encodeJSON(_ summary: WindowSummary) throws -> Data {
        let a = summary.aggregate
        func decimal(_ v: DecimalValue?) -> [Int64]? { v.map { [$0.mantissa, Int64($0.exponent)] } }
        func exact(_ v: ExactDecimal?) -> String? { v.map { "\($0.mantissa)e\($0.exponent)" } }
        func timed(_ v: TimedValue?) -> [Int64]? {
            v.map { [$0.timestampMicros, $0.value.mantissa, Int64($0.value.exponent)] }
        }
        let figures = Figures(
            count: a.count, excluded: summary.excludedCount, min: decimal(a.min), max: decimal(a.max),
            sum: exact(a.sum),
            sumOfSquares: exact(a.sumOfSquares), first: timed(a.first), last: timed(a.last),
            labelMicros: summary.labelMicros)
        return try ReadingArchive.encoder.encode(figures)
    }

    static func decode(_ data: Data, start: Int64, end: Int64) throws -> WindowSummary {
        if let first = data.first, FiguresCoding.versions.contains(first) {
            return try FiguresCoding.decode(Array(data), start: start, end: end)
        }
        let f = try JSONDecoder().decode(Figures.self, from: data)
        func decimal(_ v: [Int64]?) -> DecimalValue? {
            guard let v, v.count == 2, let e = Int8(exactly: v[1]) else { return nil }
            return DecimalValue(mantissa: v[0], exponent: e)
        }
        func exact(_ text: String?) -> ExactDecimal? {
            guard let parts = text?.split(separator: "e"), parts.count == 2, let m = Int128(String(parts[0])),
                let e = Int(parts[1])
            else { return nil }
            return ExactDecimal(mantissa: m, exponent: e)
        }
        func timed(_ v: [Int64]?) -> TimedValue? {
            guard let v, v.count == 3, let e = Int8(exactly: v[2]) else { return nil }
            return TimedValue(timestampMicros: v[0], value: DecimalValue(mantissa: v[1], exponent: e))
        }
        let aggregate = Aggregate(
            count: f.count, min: decimal(f.min), max: decimal(f.max), sum: exact(f.sum),
            sumOfSquares: exact(f.sumOfSquares),
            first: timed(f.first), last: timed(f.last))
        return WindowSummary(
            labelMicros: f.labelMicros, startMicros: start, endMicros: end, aggregate: aggregate,
            excludedCount: f.excluded)
    }
}

/// A window's figures as bytes: a version byte (never `{`, so JSON written before stays readable), count, excluded and
/// label, a byte saying which figures follow, then each as zigzag varints — times against the label, decimals as
/// mantissa and exponent, exact sums as the two halves of their 128-bit mantissa.
///
/// Version 2 writes the label against the window's start (0 but for odd calendars: one byte, not eight) and a window
/// of one value — most of a cuff's or a meter's windows — as that value and its time alone (`single`): ~12 bytes
/// instead of ~41. Version 1 revisions are still read.
enum FiguresCoding {
    static let version: UInt8 = 2
    static let versions: ClosedRange<UInt8> = 1...2
    /// The present-figures bit saying the window holds one value (its min, max, sum, first and last; its square).
    static let single: UInt8 = 0x40

    static func encode(_ summary: WindowSummary, start: Int64) -> [UInt8] {
        let a = summary.aggregate
        var writer = ByteWriter(capacity: 48)
        writer.write(version)
        writer.write(varint: UInt64(max(0, a.count)))
        writer.write(varint: UInt64(max(0, summary.excludedCount)))
        writer.write(signedVarint: summary.labelMicros &- start)
        if let only = a.first, a == oneValue(only) {
            writer.write(single)
            writer.write(signedVarint: only.timestampMicros &- summary.labelMicros)
            writer.write(signedVarint: only.value.mantissa)
            writer.write(signedVarint: Int64(only.value.exponent))
            return writer.bytes
        }
        var present: UInt8 = 0
        for (bit, has) in [
            a.min != nil, a.max != nil, a.sum != nil, a.sumOfSquares != nil, a.first != nil, a.last != nil,
        ].enumerated() where has {
            present |= 1 << UInt8(bit)
        }
        writer.write(present)
        func decimal(_ v: DecimalValue) {
            writer.write(signedVarint: v.mantissa)
            writer.write(signedVarint: Int64(v.exponent))
        }
        func exact(_ v: ExactDecimal) {
            let bits = UInt128(bitPattern: v.mantissa)
            writer.write(varint: UInt64(truncatingIfNeeded: bits >> 64))
            writer.write(varint: UInt64(truncatingIfNeeded: bits))
            writer.write(signedVarint: Int64(v.exponent))
        }
        func timed(_ v: TimedValue) {
            writer.write(signedVarint: v.timestampMicros &- summary.labelMicros)
            decimal(v.value)
        }
        if let v = a.min { decimal(v) }
        if let v = a.max { decimal(v) }
        if let v = a.sum { exact(v) }
        if let v = a.sumOfSquares { exact(v) }
        if let v = a.first { timed(v) }
        if let v = a.last { timed(v) }
        return writer.bytes
    }

    /// The aggregate of one value at one time, exactly as the store computes it.
    static func oneValue(_ only: TimedValue) -> Aggregate {
        var aggregate = Aggregate()
        aggregate.add(value: only.value, at: only.timestampMicros)
        return aggregate
    }

    static func decode(_ bytes: [UInt8], start: Int64, end: Int64) throws -> WindowSummary {
        var reader = ByteReader(bytes)
        do {
            let version = try reader.readByte("summary version")
            guard versions.contains(version) else {
                throw ReadingSplitError(description: "a summary revision has unknown version \(version)")
            }
            let count = Int(clamping: try reader.readVarint("summary count"))
            let excluded = Int(clamping: try reader.readVarint("summary excluded"))
            let label = try reader.readSignedVarint("summary label") &+ (version >= 2 ? start : 0)
            let present = try reader.readByte("summary figures")
            func decimal() throws -> DecimalValue {
                let mantissa = try reader.readSignedVarint("decimal mantissa")
                guard let exponent = Int8(exactly: try reader.readSignedVarint("decimal exponent")) else {
                    throw ReadingSplitError(description: "a summary's decimal exponent is out of range")
                }
                return DecimalValue(mantissa: mantissa, exponent: exponent)
            }
            func exact() throws -> ExactDecimal {
                let high = UInt128(try reader.readVarint("sum high"))
                let low = UInt128(try reader.readVarint("sum low"))
                let exponent = Int(try reader.readSignedVarint("sum exponent"))
                return ExactDecimal(mantissa: Int128(bitPattern: high << 64 | low), exponent: exponent)
            }
            func timed() throws -> TimedValue {
                let offset = try reader.readSignedVarint("figure time")
                return TimedValue(timestampMicros: label &+ offset, value: try decimal())
            }
            if present == single {
                let aggregate = oneValue(try timed())
                guard count == 1, reader.isAtEnd else {
                    throw ReadingSplitError(
                        description: "a one-value summary revision counts \(count) or has trailing bytes")
                }
                return WindowSummary(
                    labelMicros: label, startMicros: start, endMicros: end, aggregate: aggregate,
                    excludedCount: excluded)
            }
            func has(_ bit: UInt8) -> Bool { present & (1 << bit) != 0 }
            let aggregate = Aggregate(
                count: count, min: has(0) ? try decimal() : nil, max: has(1) ? try decimal() : nil,
                sum: has(2) ? try exact() : nil,
                sumOfSquares: has(3) ? try exact() : nil, first: has(4) ? try timed() : nil,
                last: has(5) ? try timed() : nil)
            guard reader.isAtEnd else {
                throw ReadingSplitError(description: "a summary revision has \(reader.remaining) trailing bytes")
            }
            return WindowSummary(
                labelMicros: label, startMicros: start, endMicros: end, aggregate: aggregate, excludedCount: excluded)
        } catch let error as ByteReadError {
            throw ReadingSplitError(description: "a summary revision does not decode: \(error)")
        }
    }
}

/// A row of `summary_revision`: one revision of one window of a summary series, its place in the feed (`seq`).
struct SummaryRevisionRow: SnakeCaseRecord, MutablePersistableRecord {
    static let databaseTableName = "summary_revision"

    var seq: Int64?
    var seriesId: Int64
    var widthHours: Int
    var labelSeconds: Int64
    /// NULL: its label (see `SummaryLog.storedBounds`).
    var startMicros: Int64?
    /// NULL: its start plus its width.
    var endMicros: Int64?
    var version: Int
    var late: Bool
    /// NULL: the series' unit (`summary_series.unit`).
    var unit: String?
    /// `SummaryLog.encode`d.
    var summary: Data

    mutating func didInsert(_ inserted: InsertionSuccess) { seq = inserted.rowID }

    var label: Int64 { labelSeconds * 1_000_000 }
    var width: SummaryWidth? { SummaryWidth(rawValue: widthHours * 3600) }
    var start: Int64 { startMicros ?? label }
    var end: Int64 { endMicros ?? start + Int64(widthHours) * 3_600_000_000 }
}

/// A row of `summary_flush`: the first revision a flush wrote and when; every revision up to the next flush's was
/// recorded then.
struct SummaryFlushRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "summary_flush"

    var seq: Int64
    var recordedMicros: Int64
}

extension ReadingArchive {
    /// Summary revisions after `sequence`, oldest first: the revisions, their series and the flushes that recorded them.
    public func summaryRevisions(after sequence: Int64, limit: Int = 500) throws -> [SummaryRevisionRecord] {
        try queue.read { db in
            let rows = try SummaryRevisionRow.fetchAll(
                db, sql: "SELECT * FROM summary_revision WHERE seq > ? ORDER BY seq LIMIT ?",
                arguments: [sequence, limit])
            guard let first = rows.first?.seq, let last = rows.last?.seq else { return [] }
            let series = Dictionary(
                try SummarySeriesRecord.fetchAll(db, keys: Set(rows.map(\.seriesId))).compactMap { row in
                    row.id.map { ($0, row) }
                }, uniquingKeysWith: { a, _ in a })
            // The flush of the first revision (the newest at or before it) and every later one up to the last.
            let flushes = try SummaryFlushRecord.fetchAll(
                db,
                sql: """
                    SELECT * FROM summary_flush
                    WHERE seq >= COALESCE((SELECT MAX(seq) FROM summary_flush WHERE seq <= ?), 0) AND seq <= ? ORDER BY seq
                    """, arguments: [first, last])
            var flush = flushes.startIndex
            return try rows.compactMap { row in
                guard let seq = row.seq, let named = series[row.seriesId], let key = SeriesKey(parsing: named.series),
                    let width = row.width
                else { return nil }
                while flush + 1 < flushes.endIndex, flushes[flush + 1].seq <= seq { flush += 1 }
                let recorded = flush < flushes.endIndex && flushes[flush].seq <= seq ? flushes[flush].recordedMicros : 0
                let (start, end) = (row.start, row.end)
                let summary = try SummaryLog.decode(row.summary, start: start, end: end)
                let revision = WindowRevision(
                    series: key, width: width, label: row.label, startMicros: start, endMicros: end,
                    version: row.version, summary: summary, late: row.late)
                return SummaryRevisionRecord(
                    sequence: seq, revision: revision, unit: row.unit ?? named.unit ?? "", recordedMicros: recorded)
            }
        }
    }

    /// Readings stored after feed position `sequence`, oldest first: whole batches, until at least `limit` readings.
    public func storedReadings(after sequence: Int64, limit: Int = 500) throws -> [StoredReadingRecord] {
        try queue.read { db in
            let base = try Int64.fetchOne(db, sql: "SELECT legacy_seq FROM reading_feed_base") ?? 0
            var records: [StoredReadingRecord] = []
            if sequence < base {
                // Positions of the per-reading feed kept before the batch feed.
                let row = try db.cachedStatement(sql: "SELECT \(ReadingRecord.columns) FROM reading WHERE id = ?")
                for entry in try ReadingFeedRecord.fetchAll(
                    db, sql: "SELECT seq, reading, stored_micros FROM reading_feed WHERE seq > ? ORDER BY seq LIMIT ?",
                    arguments: [sequence, limit])
                {
                    // An unreadable reading is logged and counted by `readings(from:)`; the feed goes on past it.
                    guard let stored = try ReadingRecord.fetchOne(row, arguments: [entry.reading]),
                        let reading = readings(from: [stored], db).first
                    else { continue }
                    records.append(StoredReadingRecord(sequence: entry.seq, reading: reading))
                }
                if records.count >= limit { return records }
            }
            let batches = try JournalBatchRecord.fetchAll(
                db,
                sql: """
                    SELECT \(JournalBatchRecord.columns) FROM journal_batch WHERE feed_seq > ? ORDER BY feed_seq LIMIT ?
                    """,
                arguments: [max(0, sequence - base), limit])
            for batch in batches {
                let position = base + (batch.feedSeq ?? 0)
                let contents: [(row: ReadingRecord, within: Range<Int64>?)]
                do {
                    contents = try batchContents(batch, storedOnly: true, db)
                } catch {
                    // Logged and counted like an unreadable row; the feed goes on past the batch.
                    Counter(label: "gatewayd_archive_unreadable_rows_total").increment()
                    Self.logger.error(
                        "a stored batch could not be read and was left out of the feed", metadata: ["error": "\(error)"]
                    )
                    continue
                }
                for (row, within) in contents {
                    records += servable(row, within: within ?? Int64.min..<Int64.max, db).map {
                        StoredReadingRecord(sequence: position, reading: $0.reading)
                    }
                }
                if records.count >= limit { break }
            }
            return records
        }
    }

    /// The newest positions of both feeds (a sink that starts empty may begin here).
    public func feedPositions() throws -> (summaries: Int64, readings: Int64) {
        try queue.read { db in
            (
                try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM summary_revision") ?? 0,
                max(
                    try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM reading_feed") ?? 0,
                    try Int64.fetchOne(
                        db,
                        sql: """
                            SELECT (SELECT legacy_seq FROM reading_feed_base) + COALESCE((SELECT MAX(feed_seq) FROM journal_batch), 0)
                            """) ?? 0)
            )
        }
    }
}

extension ReadingArchive {
    /// The newest record of a device that gave stored readings (from the device registry), for describing a series' device.
    public func deviceRecord(key: String) throws -> DeviceRecord? {
        try queue.read { db in
            guard
                let json = try RegistryRecord.filter(RegistryRecord.Columns.deviceKey == key)
                    .order(RegistryRecord.Columns.lastMicros.desc)
                    .select(RegistryRecord.Columns.deviceJson, as: String.self).fetchOne(db)
            else { return nil }
            return try? JSONDecoder().decode(DeviceRecord.self, from: Data(json.utf8))
        }
    }
}
