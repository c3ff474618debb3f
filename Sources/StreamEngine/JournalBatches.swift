import Foundation
import GRDB
import Provenance
import TimeSeries

/// The row ranges of journaled batches, the ledger entry each was recorded in and its place in the stored-reading
/// feed (`reading_batch`): how the archive finds the readings of a ledger entry — whose lines hold a Merkle root,
/// not the readings' identities — and what the outbox has not seen yet, without a row or index entry per reading.
/// A batch's rows are inserted in one transaction, so they are one range of row ids.
///
/// Feed positions continue those of the per-reading feed kept before (`reading_feed`, still read for what it holds):
/// a batch's position is `reading_feed_base.legacy_seq` + its `feed_seq`, so an outbox cursor stays valid.
/// Since v14 the table is `journal_batch`, with its own id and the span parts a batch holds.
enum JournalBatches {
    static let migration = """
        CREATE TABLE reading_batch (
            first_row INTEGER PRIMARY KEY, last_row INTEGER NOT NULL, ledger_sequence INTEGER, feed_seq INTEGER);
        CREATE INDEX reading_batch_by_sequence ON reading_batch(ledger_sequence);
        CREATE UNIQUE INDEX reading_batch_by_feed ON reading_batch(feed_seq) WHERE feed_seq IS NOT NULL;
        CREATE TABLE reading_feed_base (legacy_seq INTEGER NOT NULL);
        INSERT INTO reading_feed_base SELECT COALESCE(MAX(seq), 0) FROM reading_feed;
        """

    /// Migration v14: batches get their own id (a batch that only extends spans journals no row) and the parts of
    /// spans they hold (`SpanPart`); the spans' index is keyed by a span's first reading, which never changes, so
    /// extending a span rewrites its row only — not an index entry per strap per batch.
    static let extendableSpansMigration = """
        CREATE TABLE journal_batch (
            id INTEGER PRIMARY KEY, first_row INTEGER, last_row INTEGER, ledger_sequence INTEGER, feed_seq INTEGER, parts BLOB);
        INSERT INTO journal_batch (first_row, last_row, ledger_sequence, feed_seq)
            SELECT first_row, last_row, ledger_sequence, feed_seq FROM reading_batch ORDER BY first_row;
        DROP TABLE reading_batch;
        CREATE INDEX journal_batch_by_first_row ON journal_batch(first_row) WHERE first_row IS NOT NULL;
        CREATE INDEX journal_batch_by_sequence ON journal_batch(ledger_sequence) WHERE ledger_sequence IS NOT NULL;
        CREATE UNIQUE INDEX journal_batch_by_feed ON journal_batch(feed_seq) WHERE feed_seq IS NOT NULL;
        DROP INDEX reading_span_by_stream_last;
        CREATE INDEX reading_span_by_stream_first ON reading(stream, effective_micros) WHERE \(SeriesReadings.spanCondition);
        """

    /// Migration v19: the store's log sequence number of each batch's append, so a damaged log's lost numbers name the
    /// batches whose samples to append again (`StreamEngine.reappendAfterLogDamage`), late samples included.
    static let storeLSNMigration = """
        ALTER TABLE journal_batch ADD COLUMN store_lsn INTEGER;
        CREATE INDEX journal_batch_by_store_lsn ON journal_batch(store_lsn) WHERE store_lsn IS NOT NULL;
        """

    /// Records a journaled batch: the range of rows it inserted (none when it only extended spans) and its span parts.
    static func record(rows: ClosedRange<Int64>?, parts: [SpanPart], _ db: Database) throws -> Int64 {
        try db.execute(
            sql: "INSERT INTO journal_batch (first_row, last_row, parts) VALUES (?, ?, ?)",
            arguments: [rows?.lowerBound, rows?.upperBound, parts.isEmpty ? nil : Data(SpanPart.encode(parts))])
        return db.lastInsertedRowID
    }

    /// A batch's parts as recovery settled them (none left: the column is cleared).
    static func replaceParts(of batch: Int64, with parts: [SpanPart], _ db: Database) throws {
        try db.execute(
            sql: "UPDATE journal_batch SET parts = ? WHERE id = ?",
            arguments: [parts.isEmpty ? nil : Data(SpanPart.encode(parts)), batch])
    }

    /// Collects the batches of rows being marked stored (usually one), to give them their ledger entry.
    struct Marker {
        private var current: ClosedRange<Int64>?
        private(set) var batches: Set<Int64> = []

        /// Notes a batch by its id (a batch that only extended spans has no row to be found by).
        mutating func note(batch: Int64) { batches.insert(batch) }

        /// Notes every batch holding a row of `rows` (a run of consecutive ids: usually one batch, after a crash several).
        mutating func note(rows: ClosedRange<Int64>, _ db: Database) throws {
            try note(row: rows.lowerBound, db)
            for id in try Int64.fetchAll(
                db, sql: "SELECT id FROM journal_batch WHERE first_row > ? AND first_row <= ?",
                arguments: [rows.lowerBound, rows.upperBound])
            {
                batches.insert(id)
            }
        }

        mutating func note(row: Int64, _ db: Database) throws {
            if let current, current.contains(row) { return }
            guard
                let found = try JournalBatchRecord.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT \(JournalBatchRecord.columns) FROM journal_batch WHERE first_row <= ?
                            ORDER BY first_row DESC LIMIT 1
                            """),
                    arguments: [row]),
                let rows = found.rows, rows.contains(row)
            else { return }
            current = rows
            batches.insert(found.id)
        }

        /// Gives the batches their ledger entry and, once, their place in the feed (in batch order).
        func mark(ledgerSequence: Int?, _ db: Database) throws {
            try Self.mark(batches.sorted().map { ($0, ledgerSequence) }, db)
        }

        /// Marks batches each with its own ledger entry (a mark deferred to the next batch's transaction).
        static func mark(_ marks: [(batch: Int64, ledgerSequence: Int?)], _ db: Database) throws {
            for (id, ledgerSequence) in marks {
                if let ledgerSequence {
                    try db.execute(
                        sql: "UPDATE journal_batch SET ledger_sequence = ? WHERE id = ?",
                        arguments: [ledgerSequence, id])
                }
                try db.execute(
                    sql: """
                        UPDATE journal_batch SET feed_seq = (SELECT COALESCE(MAX(feed_seq), 0) + 1 FROM journal_batch)
                        WHERE id = ? AND feed_seq IS NULL
                        """,
                    arguments: [id])
            }
        }
    }
}

/// A row of `journal_batch`: a journaled batch's rows (a range of ids; none when it only extended spans), its span
/// parts, its ledger entry and feed position once marked stored, and its store append's log sequence number.
struct JournalBatchRecord: SnakeCaseRecord, TableRecord {
    static let databaseTableName = "journal_batch"

    var id: Int64
    var firstRow: Int64?
    var lastRow: Int64?
    var ledgerSequence: Int?
    /// Its place in the stored-reading feed (after `reading_feed_base.legacy_seq`); nil until marked stored.
    var feedSeq: Int64?
    /// `SpanPart.encode`d parts of spans.
    var parts: Data?
    var storeLsn: Int64?

    /// The columns a read selects (SQL).
    static let columns = "id, first_row, last_row, ledger_sequence, feed_seq, parts, store_lsn"

    /// The rows it inserted (nil: it only extended spans).
    var rows: ClosedRange<Int64>? {
        guard let firstRow, let lastRow, firstRow <= lastRow else { return nil }
        return firstRow...lastRow
    }

    func spanParts() throws -> [SpanPart] { try SpanPart.decode(parts) }
}

/// The readings of a span a batch journaled: the span's row, the first and last reading's times and how many. A span
/// (one stream, device and payload flags, at most `SeriesReadings.maxSpanMicros` long) is extended in place by later
/// batches while the strap keeps notifying, so a hub with a hundred straps rewrites a hundred small rows per batch in
/// a few pages instead of inserting a hundred rows and index entries; each batch keeps its parts, so `verify`, the
/// feed, recovery and retention still see exactly the readings of one ledger entry.
struct SpanPart: Hashable, Sendable {
    var span: Int64
    var from: Int64
    var to: Int64
    var count: Int

    /// Version byte, count, then per part: zigzag deltas of the span row and first time against the previous part,
    /// the length in µs and the count (about 8 bytes a part).
    static func encode(_ parts: [SpanPart]) -> [UInt8] {
        var writer = ByteWriter(capacity: 2 + parts.count * 10)
        writer.write(UInt8(1))
        writer.write(varint: UInt64(parts.count))
        var span: Int64 = 0
        var from: Int64 = 0
        for part in parts {
            writer.write(signedVarint: part.span &- span)
            writer.write(signedVarint: part.from &- from)
            writer.write(varint: UInt64(max(0, part.to &- part.from)))
            writer.write(varint: UInt64(part.count))
            (span, from) = (part.span, part.from)
        }
        return writer.bytes
    }

    static func decode(_ data: Data?) throws -> [SpanPart] {
        guard let data, !data.isEmpty else { return [] }
        var reader = ByteReader(Array(data))
        do {
            let version = try reader.readByte("span parts version")
            guard version == 1 else {
                throw ReadingSplitError(description: "span parts of version \(version) are newer than this gatewayd")
            }
            let count = Int(clamping: try reader.readVarint("span part count"))
            guard count <= reader.remaining else {
                throw ReadingSplitError(description: "span parts claim \(count) parts in \(reader.remaining) bytes")
            }
            var parts: [SpanPart] = []
            parts.reserveCapacity(count)
            var span: Int64 = 0
            var from: Int64 = 0
            for _ in 0..<count {
                span &+= try reader.readSignedVarint("span row")
                from &+= try reader.readSignedVarint("span part start")
                let length = Int64(clamping: try reader.readVarint("span part length"))
                let readings = Int(clamping: try reader.readVarint("span part count"))
                parts.append(SpanPart(span: span, from: from, to: from &+ length, count: readings))
            }
            return parts
        } catch let error as ByteReadError {
            throw ReadingSplitError(description: "a batch's span parts do not decode: \(error)")
        }
    }
}

extension ReadingArchive {
    /// Where a batch's readings are: rows (a row that is an extendable span stands only for the parts batches list)
    /// and span parts, each as the row to rebuild and the time range within it.
    func batchContents(_ batch: JournalBatchRecord, storedOnly: Bool, _ db: Database) throws -> [(
        row: ReadingRecord, within: Range<Int64>?
    )] {
        var contents: [(row: ReadingRecord, within: Range<Int64>?)] = []
        if let rows = batch.rows {
            for row in try ReadingRecord.fetchAll(
                db.cachedStatement(
                    sql: "SELECT \(ReadingRecord.columns) FROM reading WHERE id BETWEEN ? AND ? ORDER BY id"),
                arguments: [rows.lowerBound, rows.upperBound])
            where !Self.isExtendable(row) && (!storedOnly || row.isStored) {
                contents.append((row, nil))
            }
        }
        let spanRow = try db.cachedStatement(sql: "SELECT \(ReadingRecord.columns) FROM reading WHERE id = ?")
        for part in try batch.spanParts() {
            guard let row = try ReadingRecord.fetchOne(spanRow, arguments: [part.span]) else {
                throw ReadingSplitError(description: "span row \(part.span) of a batch is missing")
            }
            contents.append((row, part.from..<(part.to &+ 1)))
        }
        return contents
    }

    /// The rows and span parts the archive holds for a ledger entry, by the batches recorded in it.
    func contents(ledgerSequence: Int, _ db: Database) throws -> [(row: ReadingRecord, within: Range<Int64>?)] {
        var contents: [(row: ReadingRecord, within: Range<Int64>?)] = []
        for batch in try JournalBatchRecord.fetchAll(
            db,
            sql: "SELECT \(JournalBatchRecord.columns) FROM journal_batch WHERE ledger_sequence = ? ORDER BY id",
            arguments: [ledgerSequence])
        {
            contents += try batchContents(batch, storedOnly: false, db)
                .filter { $0.within != nil || $0.row.ledgerSequence == ledgerSequence }
        }
        return contents
    }

    /// The readings the archive holds for a ledger entry. A row that does not decode throws (naming it), so
    /// `gatewayd verify` reports it instead of counting it missing.
    public func readings(ledgerSequence: Int) throws -> [Reading] {
        try queue.read { db in
            try contents(ledgerSequence: ledgerSequence, db).flatMap { content in
                try ledgerItems(of: content.row, within: content.within, db).map(\.reading)
            }
        }
    }

    /// The ledger entry holding the part of an extendable span with this instant: found among the batches from the
    /// one that created the span (a span lasts at most an hour, so this looks at that hour's batches at most).
    func partLedgerSequence(span: Int64, at micros: Int64, _ db: Database) throws -> Int? {
        guard
            let creator = try Int64.fetchOne(
                db, sql: "SELECT id FROM journal_batch WHERE first_row <= ? ORDER BY first_row DESC LIMIT 1",
                arguments: [span])
        else { return nil }
        let cursor = try JournalBatchRecord.fetchCursor(
            db, sql: "SELECT \(JournalBatchRecord.columns) FROM journal_batch WHERE id >= ? ORDER BY id",
            arguments: [creator])
        while let batch = try cursor.next() {
            for part in try batch.spanParts() where part.span == span {
                if part.from <= micros && micros <= part.to { return batch.ledgerSequence }
                if part.from > micros { return nil }
            }
        }
        return nil
    }
}

/// A row of the per-reading feed kept before the batch feed (`reading_feed`, written until v10): read for the positions
/// it holds, so an outbox cursor from then stays valid.
struct ReadingFeedRecord: SnakeCaseRecord, TableRecord {
    static let databaseTableName = "reading_feed"

    var seq: Int64
    /// The `reading` row's id.
    var reading: Int64
    var storedMicros: Int64
}
