import Foundation
import GRDB
import Provenance
import StreamEngine

/// DATA/outbox.sqlite: what each destination is owed. Entries are keyed by (destination, resource), so a summary's
/// new version replaces the one still waiting (or re-opens one already sent, to be updated upstream) instead of
/// queueing twice; each destination's read positions in the engine's feeds are kept in the same database and
/// advanced in the same transaction as the entries they produced, so a crash can neither lose nor repeat one.
public final class Outbox: Sendable {
    let queue: DatabaseQueue

    public init(path: String) throws {
        queue = try DurableDatabase.open(path: path, busyTimeoutSeconds: 10)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: outbox") { db in
            try db.execute(
                sql: """
                    CREATE TABLE feed_position (
                        destination TEXT PRIMARY KEY NOT NULL, summary_seq INTEGER NOT NULL, reading_seq INTEGER NOT NULL);
                    CREATE TABLE outbox_entry (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL, resource_key TEXT NOT NULL,
                        subject TEXT NOT NULL, category TEXT NOT NULL, version INTEGER NOT NULL, method TEXT NOT NULL,
                        url TEXT NOT NULL, if_none_exist TEXT, resource BLOB NOT NULL, measured_micros INTEGER NOT NULL,
                        enqueued_micros INTEGER NOT NULL, state TEXT NOT NULL, last_error TEXT, sent_micros INTEGER,
                        sent_version INTEGER, UNIQUE (destination, resource_key));
                    CREATE INDEX outbox_pending ON outbox_entry(destination, state, id);
                    CREATE TABLE destination_state (
                        destination TEXT PRIMARY KEY NOT NULL, failures INTEGER NOT NULL, next_attempt_micros INTEGER NOT NULL,
                        last_error TEXT, last_success_micros INTEGER);
                    """)
        }
        // The kind each entry was queued under consent for (a reading's kind, a summary's series kind), so consent can be
        // applied again when it changes; and the rules last applied to each destination's queue.
        migrator.registerMigration("v2: consent kinds") { db in
            try db.execute(
                sql: """
                    ALTER TABLE outbox_entry ADD COLUMN kind TEXT;
                    CREATE TABLE consent_applied (destination TEXT PRIMARY KEY NOT NULL, rules TEXT NOT NULL);
                    """)
        }
        try migrator.migrate(queue)
    }

    /// One resource owed to a destination.
    public struct Entry: Sendable {
        public enum Category: String, Sendable { case device, reading, summary, patient, provenance }
        public var resourceKey: String
        public var subject: String
        public var category: Category
        public var version: Int
        /// The transaction entry's request: POST + ifNoneExist (conditional create) or PUT + a conditional URL.
        public var method: String
        public var url: String
        public var ifNoneExist: String?
        public var resource: String
        public var measuredMicros: Int64
        /// The kind of reading consent let it leave as (nil: a device, or an entry queued before kinds were kept).
        public var kind: ReadingKind?

        public init(
            resourceKey: String, subject: String, category: Category, version: Int, method: String, url: String,
            ifNoneExist: String?,
            resource: String, measuredMicros: Int64, kind: ReadingKind? = nil
        ) {
            (self.resourceKey, self.subject, self.category, self.version) = (resourceKey, subject, category, version)
            (self.method, self.url, self.ifNoneExist, self.resource, self.measuredMicros) = (
                method, url, ifNoneExist, resource, measuredMicros
            )
            self.kind = kind
        }
    }

    /// A pending entry with its row id.
    public struct Pending: Sendable {
        public var id: Int64
        public var entry: Entry
    }

    public func positions(destination: String) throws -> (summaries: Int64, readings: Int64)? {
        try queue.read { db in
            try Row.fetchOne(
                db, sql: "SELECT summary_seq, reading_seq FROM feed_position WHERE destination = ?",
                arguments: [destination]
            )
            .map { ($0["summary_seq"], $0["reading_seq"]) }
        }
    }

    /// Adds entries and moves the destination's feed positions, atomically. A device already owed or sent is left
    /// alone; a reading already there is left alone (same identity, same resource); a summary replaces an older
    /// version and is pending again.
    public func enqueue(
        _ entries: [Entry], destination: String, positions: (summaries: Int64, readings: Int64), nowMicros: Int64
    ) throws {
        try queue.write { db in
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO outbox_entry (destination, resource_key, subject, category, version, method, url, if_none_exist, resource,
                        measured_micros, enqueued_micros, state, kind)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)
                    ON CONFLICT (destination, resource_key) DO UPDATE SET
                        version = excluded.version, resource = excluded.resource, method = excluded.method, url = excluded.url,
                        if_none_exist = excluded.if_none_exist, measured_micros = excluded.measured_micros,
                        enqueued_micros = excluded.enqueued_micros, state = 'pending', last_error = NULL
                    WHERE excluded.category = 'summary' AND excluded.version > outbox_entry.version
                    """)
            for entry in entries {
                try insert.execute(arguments: [
                    destination, entry.resourceKey, entry.subject, entry.category.rawValue, entry.version, entry.method,
                    entry.url,
                    entry.ifNoneExist, entry.resource, entry.measuredMicros, nowMicros, entry.kind?.rawValue,
                ])
            }
            try db.execute(
                sql: """
                    INSERT INTO feed_position (destination, summary_seq, reading_seq) VALUES (?, ?, ?)
                    ON CONFLICT (destination) DO UPDATE SET summary_seq = excluded.summary_seq, reading_seq = excluded.reading_seq
                    """, arguments: [destination, positions.summaries, positions.readings])
        }
    }

    /// The oldest pending entries, devices first (so references resolve upstream in the order they arrive).
    public func pending(destination: String, limit: Int) throws -> [Pending] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM outbox_entry WHERE destination = ? AND state = 'pending'
                    ORDER BY CASE category WHEN 'device' THEN 0 ELSE 1 END, id LIMIT ?
                    """, arguments: [destination, limit]
            ).compactMap { row in
                guard let category = Entry.Category(rawValue: row["category"]) else { return nil }
                return Pending(
                    id: row["id"],
                    entry: Entry(
                        resourceKey: row["resource_key"], subject: row["subject"], category: category,
                        version: row["version"],
                        method: row["method"], url: row["url"], ifNoneExist: row["if_none_exist"],
                        resource: row["resource"],
                        measuredMicros: row["measured_micros"]))
            }
        }
    }

    /// The entry owed (or sent) to a destination for this resource, whatever its state: a resource a later transaction
    /// references goes again with it as a conditional create, which the receiver matches to what it already holds.
    public func entry(destination: String, resourceKey: String) throws -> Entry? {
        try queue.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM outbox_entry WHERE destination = ? AND resource_key = ?",
                arguments: [destination, resourceKey]
            ).flatMap { row in
                guard let category = Entry.Category(rawValue: row["category"]) else { return nil }
                return Entry(
                    resourceKey: row["resource_key"], subject: row["subject"], category: category,
                    version: row["version"],
                    method: row["method"], url: row["url"], ifNoneExist: row["if_none_exist"],
                    resource: row["resource"],
                    measuredMicros: row["measured_micros"])
            }
        }
    }

    /// Marks entries delivered — only at the version that was sent: a summary revised meanwhile stays pending.
    public func markSent(_ sent: [(id: Int64, version: Int)], nowMicros: Int64) throws {
        try queue.write { db in
            let update = try db.cachedStatement(
                sql: """
                    UPDATE outbox_entry SET state = 'sent', sent_micros = ?, sent_version = version, last_error = NULL
                    WHERE id = ? AND version = ?
                    """)
            for item in sent { try update.execute(arguments: [nowMicros, item.id, item.version]) }
        }
    }

    /// Marks an entry the destination refused for a reason retrying cannot fix; it stays visible in `status`.
    public func markFailed(id: Int64, version: Int, reason: String) throws {
        try queue.write { db in
            try db.execute(
                sql: "UPDATE outbox_entry SET state = 'failed', last_error = ? WHERE id = ? AND version = ?",
                arguments: [reason, id, version])
        }
    }

    /// Puts refused entries back in the queue (after the destination's configuration was fixed).
    @discardableResult
    public func retryFailed(destination: String) throws -> Int {
        try queue.write { db in
            try db.execute(
                sql:
                    "UPDATE outbox_entry SET state = 'pending', last_error = NULL WHERE destination = ? AND state = 'failed'",
                arguments: [destination])
            return db.changesCount
        }
    }

    // MARK: Consent applied again

    /// The rules last applied to a destination's queue (nil: never).
    public func appliedRules(destination: String) throws -> String? {
        try queue.read { db in
            try String.fetchOne(
                db, sql: "SELECT rules FROM consent_applied WHERE destination = ?", arguments: [destination])
        }
    }

    /// Removes every entry still owed to the destination (pending, or refused and waiting for a retry) that `allowed` no
    /// longer allows, and records `rules` as applied — in one transaction. Returns how many went, per subject. Sent
    /// entries are history (they left with consent); devices stay (they are no person's data).
    public func withdraw(
        destination: String, rules: String,
        allowed: (_ subject: String, _ category: Entry.Category, _ kind: ReadingKind?) -> Bool
    ) throws -> [String: Int] {
        try queue.write { db in
            var removed: [String: Int] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql:
                    "SELECT id, subject, category, kind FROM outbox_entry WHERE destination = ? AND state IN ('pending', 'failed')",
                arguments: [destination])
            var ids: [Int64] = []
            while let row = try rows.next() {
                guard let category = Entry.Category(rawValue: row["category"]), category != .device else { continue }
                let subject: String = row["subject"]
                let kind = (row["kind"] as String?).flatMap(ReadingKind.init(rawValue:))
                if !allowed(subject, category, kind) {
                    ids.append(row["id"])
                    removed[subject, default: 0] += 1
                }
            }
            let delete = try db.cachedStatement(sql: "DELETE FROM outbox_entry WHERE id = ?")
            for id in ids { try delete.execute(arguments: [id]) }
            try db.execute(
                sql: "INSERT OR REPLACE INTO consent_applied (destination, rules) VALUES (?, ?)",
                arguments: [destination, rules])
            return removed
        }
    }

    // MARK: The destination's health (backoff)

    public struct DestinationState: Sendable {
        public var failures = 0
        public var nextAttemptMicros: Int64 = 0
        public var lastError: String?
        public var lastSuccessMicros: Int64?
    }

    public func state(destination: String) throws -> DestinationState {
        try queue.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM destination_state WHERE destination = ?", arguments: [destination])
            else {
                return DestinationState()
            }
            return DestinationState(
                failures: row["failures"], nextAttemptMicros: row["next_attempt_micros"], lastError: row["last_error"],
                lastSuccessMicros: row["last_success_micros"])
        }
    }

    public func setState(_ state: DestinationState, destination: String) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO destination_state (destination, failures, next_attempt_micros, last_error, last_success_micros)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [
                    destination, state.failures, state.nextAttemptMicros, state.lastError, state.lastSuccessMicros,
                ])
        }
    }

    // MARK: The sync ledger as `status` shows it

    public struct Report: Sendable {
        public var destination: String
        public var pending = 0
        public var sent = 0
        public var failed = 0
        public var oldestPendingMeasuredMicros: Int64?
        /// Median and worst time from measurement to upload over the last 1,000 deliveries.
        public var medianLagSeconds: Double?
        public var maximumLagSeconds: Double?
        public var failures: [(resource: String, reason: String)] = []
        public var state = DestinationState()
    }

    public func report(destination: String) throws -> Report {
        var report = Report(destination: destination)
        report.state = try state(destination: destination)
        try queue.read { db in
            for row in try Row.fetchAll(
                db, sql: "SELECT state, COUNT(*) AS n FROM outbox_entry WHERE destination = ? GROUP BY state",
                arguments: [destination])
            {
                let n: Int = row["n"]
                switch row["state"] as String {
                case "pending": report.pending = n
                case "sent": report.sent = n
                default: report.failed = n
                }
            }
            report.oldestPendingMeasuredMicros = try Int64.fetchOne(
                db, sql: "SELECT MIN(measured_micros) FROM outbox_entry WHERE destination = ? AND state = 'pending'",
                arguments: [destination])
            let lags = try Int64.fetchAll(
                db,
                sql: """
                    SELECT sent_micros - measured_micros FROM outbox_entry WHERE destination = ? AND state = 'sent'
                    ORDER BY sent_micros DESC LIMIT 1000
                    """, arguments: [destination]
            ).sorted()
            if !lags.isEmpty {
                report.medianLagSeconds = Double(lags[lags.count / 2]) / 1_000_000
                report.maximumLagSeconds = Double(lags[lags.count - 1]) / 1_000_000
            }
            report.failures = try Row.fetchAll(
                db,
                sql:
                    "SELECT resource_key, last_error FROM outbox_entry WHERE destination = ? AND state = 'failed' ORDER BY id LIMIT 20",
                arguments: [destination]
            ).map { ($0["resource_key"], $0["last_error"] ?? "") }
        }
        return report
    }
}
