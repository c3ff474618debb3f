import Foundation
import GRDB
import Provenance

/// The row ranges of journaled batches, the ledger entry each was recorded in and its place in the stored-reading
/// feed (`reading_batch`): how the archive finds the readings of a ledger entry — whose lines hold a Merkle root,
/// not the readings' identities — and what the outbox has not seen yet, without a row or index entry per reading.
/// A batch's rows are inserted in one transaction, so they are one range of row ids.
///
/// Feed positions continue those of the per-reading feed kept before (`reading_feed`, still read for what it holds):
/// a batch's position is `reading_feed_base.legacy_seq` + its `feed_seq`, so an outbox cursor stays valid.
enum JournalBatches {
    static let migration = """
        CREATE TABLE reading_batch (
            first_row INTEGER PRIMARY KEY, last_row INTEGER NOT NULL, ledger_sequence INTEGER, feed_seq INTEGER);
        CREATE INDEX reading_batch_by_sequence ON reading_batch(ledger_sequence);
        CREATE UNIQUE INDEX reading_batch_by_feed ON reading_batch(feed_seq) WHERE feed_seq IS NOT NULL;
        CREATE TABLE reading_feed_base (legacy_seq INTEGER NOT NULL);
        INSERT INTO reading_feed_base SELECT COALESCE(MAX(seq), 0) FROM reading_feed;
        """

    static func record(first: Int64, last: Int64, _ db: Database) throws {
        try db.execute(sql: "INSERT INTO reading_batch (first_row, last_row) VALUES (?, ?)", arguments: [first, last])
    }

    /// Collects the batches of rows being marked stored (usually one), to give them their ledger entry.
    struct Marker {
        private var current: ClosedRange<Int64>?
        private var batches: Set<Int64> = []

        /// Notes every batch holding a row of `rows` (a run of consecutive ids: usually one batch, after a crash several).
        mutating func note(rows: ClosedRange<Int64>, _ db: Database) throws {
            try note(row: rows.lowerBound, db)
            for first in try Int64.fetchAll(
                db, sql: "SELECT first_row FROM reading_batch WHERE first_row > ? AND first_row <= ?", arguments: [rows.lowerBound, rows.upperBound])
            {
                batches.insert(first)
            }
        }

        mutating func note(row: Int64, _ db: Database) throws {
            if let current, current.contains(row) { return }
            guard let found = try Row.fetchOne(
                db, sql: "SELECT first_row, last_row FROM reading_batch WHERE first_row <= ? ORDER BY first_row DESC LIMIT 1", arguments: [row])
            else { return }
            let first: Int64 = found["first_row"], last: Int64 = found["last_row"]
            guard first <= row, row <= last else { return }
            current = first...last
            batches.insert(first)
        }

        /// Gives the batches their ledger entry and, once, their place in the feed (in row order).
        func mark(ledgerSequence: Int?, _ db: Database) throws {
            for first in batches.sorted() {
                if let ledgerSequence {
                    try db.execute(sql: "UPDATE reading_batch SET ledger_sequence = ? WHERE first_row = ?", arguments: [ledgerSequence, first])
                }
                try db.execute(
                    sql: """
                        UPDATE reading_batch SET feed_seq = (SELECT COALESCE(MAX(feed_seq), 0) + 1 FROM reading_batch)
                        WHERE first_row = ? AND feed_seq IS NULL
                        """,
                    arguments: [first])
            }
        }
    }
}

extension ReadingArchive {
    /// The rows the archive holds for a ledger entry, by the row ranges of the batches recorded in it.
    func rows(ledgerSequence: Int, _ db: Database) throws -> [Row] {
        var rows: [Row] = []
        for range in try Row.fetchAll(
            db, sql: "SELECT first_row, last_row FROM reading_batch WHERE ledger_sequence = ? ORDER BY first_row", arguments: [ledgerSequence])
        {
            rows += try Row.fetchAll(
                db,
                sql: "SELECT \(Self.readingColumns) FROM reading WHERE id BETWEEN ? AND ? AND ledger_sequence = ? ORDER BY id",
                arguments: [range["first_row"] as Int64, range["last_row"] as Int64, ledgerSequence])
        }
        return rows
    }

    /// The readings the archive holds for a ledger entry. A row that does not decode throws (naming it), so
    /// `gatewayd verify` reports it instead of counting it missing.
    public func readings(ledgerSequence: Int) throws -> [Reading] {
        try queue.read { db in
            try rows(ledgerSequence: ledgerSequence, db).flatMap { row in try ledgerItems(of: row, db).map(\.reading) }
        }
    }
}
