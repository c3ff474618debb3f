import Crypto
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

        mutating func note(row: Int64, _ db: Database) throws {
            if let current, current.contains(row) { return }
            guard let found = try Row.fetchOne(
                db, sql: "SELECT first_row, last_row FROM reading_batch WHERE first_row <= ? ORDER BY first_row DESC LIMIT 1", arguments: [row])
            else { return }
            let first: Int64 = found["first_row"], last: Int64 = found["last_row"]
            guard first <= last else { return }
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
    /// The readings the archive holds for a ledger entry, by the row ranges of the batches recorded in it. A row that
    /// does not decode throws (naming it), so `gatewayd verify` reports it instead of counting it missing.
    public func readings(ledgerSequence: Int) throws -> [Reading] {
        try queue.read { db in
            var found: [Reading] = []
            for range in try Row.fetchAll(
                db, sql: "SELECT first_row, last_row FROM reading_batch WHERE ledger_sequence = ? ORDER BY first_row", arguments: [ledgerSequence])
            {
                let rows = try Row.fetchAll(
                    db,
                    sql: "SELECT id, \(Self.readingColumns) FROM reading WHERE id BETWEEN ? AND ? AND ledger_sequence = ? ORDER BY id",
                    arguments: [range["first_row"] as Int64, range["last_row"] as Int64, ledgerSequence])
                for row in rows {
                    do { found.append(try reading(from: row, db)) } catch {
                        throw ReadingSplitError(description: "reading row \(row["id"] as Int64) does not decode: \(error)")
                    }
                }
            }
            return found
        }
    }
}

extension ReadingArchive {
    /// The digest a ledger entry (format 2) records for a reading: SHA-256 over a domain line, the digest of its
    /// provenance entry's stored JSON and its stored variation — the canonical bytes of the reading as the archive
    /// keeps it, so verifying hashes what is on disk, and ingest hashes a few dozen bytes, not the reading's JSON.
    static func digest(template: Data, body: [UInt8]) -> ReadingDigest {
        var hasher = SHA256()
        hasher.update(data: Array("gatewayd-reading-v2\n".utf8))
        hasher.update(data: template)
        hasher.update(data: body)
        return ReadingDigest(hex: Data(hasher.finalize()).hexText)
    }

    /// A journaled reading's ledger item (recovery records readings journaled before a crash).
    func ledgerItem(identity: String, reading: Reading) throws -> LedgerEntry.Item {
        let (template, variation) = reading.split()
        let entry = try queue.write { db in try catalog.entry(of: template, db) }
        return LedgerEntry.Item(identity: ReadingIdentity(hex: identity), digest: Self.digest(template: entry.digest, body: variation.encoded()))
    }

    /// The ledger items of what the archive holds for an entry, from the bytes on disk: each reading's identity
    /// recomputed from the reading, its digest from its provenance entry's stored JSON and its stored variation.
    public func ledgerItems(ledgerSequence: Int) throws -> [LedgerEntry.Item] {
        try queue.read { db in
            var templateDigests: [Int64: Data] = [:]
            var items: [LedgerEntry.Item] = []
            for range in try Row.fetchAll(
                db, sql: "SELECT first_row, last_row FROM reading_batch WHERE ledger_sequence = ? ORDER BY first_row", arguments: [ledgerSequence])
            {
                let rows = try Row.fetchAll(
                    db,
                    sql: "SELECT id, \(Self.readingColumns) FROM reading WHERE id BETWEEN ? AND ? AND ledger_sequence = ? ORDER BY id",
                    arguments: [range["first_row"] as Int64, range["last_row"] as Int64, ledgerSequence])
                for row in rows {
                    let id: Int64 = row["id"], provenance: Int64 = row["provenance_id"], body: Data = row["body"]
                    let reading: Reading
                    do { reading = try self.reading(from: row, db) } catch {
                        throw ReadingSplitError(description: "reading row \(id) does not decode: \(error)")
                    }
                    if templateDigests[provenance] == nil {
                        guard let stored = try Data.fetchOne(db, sql: "SELECT body FROM provenance WHERE id = ?", arguments: [provenance]) else {
                            throw ReadingSplitError(description: "reading row \(id): provenance entry \(provenance) is missing")
                        }
                        templateDigests[provenance] = Data(SHA256.hash(data: stored))
                    }
                    guard let subject = reading.subject else { throw ReadingSplitError(description: "reading row \(id) has no subject") }
                    items.append(LedgerEntry.Item(
                        identity: ReadingIdentity(of: reading, subject: subject),
                        digest: Self.digest(template: templateDigests[provenance] ?? Data(), body: Array(body))))
                }
            }
            return items
        }
    }
}

extension Data {
    var hexText: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 2)
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
