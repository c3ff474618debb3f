import Foundation
import GRDB
import Provenance
import StreamEngine
import TimeSeries

/// DATA/outbox.sqlite: what each destination is owed. Entries are keyed by (destination, resource), so a summary's
/// new version replaces the one still waiting (or re-opens one already sent, to be updated upstream) instead of
/// queueing twice; each destination's read positions in the engine's feeds are kept in the same database and
/// advanced in the same transaction as the entries they produced, so a crash can neither lose nor repeat one.
public final class Outbox: Sendable {
    let queue: DatabasePool

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
            try FeedPositionRecord.fetchOne(db, key: destination).map { ($0.summarySeq, $0.readingSeq) }
        }
    }

    /// Adds entries and moves the destination's feed positions, atomically. A device already owed or sent is left
    /// alone; a reading already there is left alone (same identity, same resource); a summary replaces an older
    /// version and is pending again.
    public func enqueue(
        _ entries: [Entry], destination: String, positions: (summaries: Int64, readings: Int64), nowMicros: Int64
    ) throws {
        try queue.write { db in
            // A conditional upsert (only a newer summary replaces what is there) is past the query interface.
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
            try FeedPositionRecord(
                destination: destination, summarySeq: positions.summaries, readingSeq: positions.readings
            ).upsert(db)
        }
    }

    /// The oldest pending entries, devices first (so references resolve upstream in the order they arrive).
    public func pending(destination: String, limit: Int) throws -> [Pending] {
        try queue.read { db in
            let columns = OutboxEntryRecord.Columns.self
            return try OutboxEntryRecord.of(destination, state: "pending")
                .order(columns.category != Outbox.Entry.Category.device.rawValue, columns.id)
                .limit(limit)
                .fetchAll(db)
                .compactMap { record in record.entry.map { Pending(id: record.id, entry: $0) } }
        }
    }

    /// The entry owed (or sent) to a destination for this resource, whatever its state: a resource a later transaction
    /// references goes again with it as a conditional create, which the receiver matches to what it already holds.
    public func entry(destination: String, resourceKey: String) throws -> Entry? {
        try queue.read { db in
            let columns = OutboxEntryRecord.Columns.self
            return try OutboxEntryRecord.filter(
                columns.destination == destination && columns.resourceKey == resourceKey
            )
            .fetchOne(db)?.entry
        }
    }

    /// Marks entries delivered — only at the version that was sent: a summary revised meanwhile stays pending.
    public func markSent(_ sent: [(id: Int64, version: Int)], nowMicros: Int64) throws {
        try queue.write { db in
            let columns = OutboxEntryRecord.Columns.self
            for item in sent {
                try OutboxEntryRecord.filter(columns.id == item.id && columns.version == item.version).updateAll(
                    db, columns.state.set(to: "sent"), columns.sentMicros.set(to: nowMicros),
                    columns.sentVersion.set(to: columns.version), columns.lastError.set(to: nil))
            }
        }
    }

    /// Marks an entry the destination refused for a reason retrying cannot fix; it stays visible in `status`.
    public func markFailed(id: Int64, version: Int, reason: String) throws {
        try queue.write { db in
            let columns = OutboxEntryRecord.Columns.self
            try OutboxEntryRecord.filter(columns.id == id && columns.version == version).updateAll(
                db, columns.state.set(to: "failed"), columns.lastError.set(to: reason))
        }
    }

    /// Puts refused entries back in the queue (after the destination's configuration was fixed).
    @discardableResult
    public func retryFailed(destination: String) throws -> Int {
        try queue.write { db in
            let columns = OutboxEntryRecord.Columns.self
            return try OutboxEntryRecord.of(destination, state: "failed").updateAll(
                db, columns.state.set(to: "pending"), columns.lastError.set(to: nil))
        }
    }

    // MARK: Consent applied again

    /// The rules last applied to a destination's queue (nil: never).
    public func appliedRules(destination: String) throws -> String? {
        try queue.read { db in
            try ConsentAppliedRecord.fetchOne(db, key: destination)?.rules
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
            let columns = OutboxEntryRecord.Columns.self
            let owed = try OutboxEntryRecord.filter(
                columns.destination == destination && ["pending", "failed"].contains(columns.state)
            )
            .select(columns.id, Column("subject"), columns.category, Column("kind"))
            .asRequest(of: OutboxConsentRecord.self)
            .fetchCursor(db)
            var ids: [Int64] = []
            while let entry = try owed.next() {
                guard let category = Entry.Category(rawValue: entry.category), category != .device else { continue }
                if !allowed(entry.subject, category, entry.kind.flatMap(ReadingKind.init(rawValue:))) {
                    ids.append(entry.id)
                    removed[entry.subject, default: 0] += 1
                }
            }
            try OutboxEntryRecord.deleteAll(db, keys: ids)
            try ConsentAppliedRecord(destination: destination, rules: rules).upsert(db)
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
            guard let record = try DestinationStateRecord.fetchOne(db, key: destination) else {
                return DestinationState()
            }
            return DestinationState(
                failures: record.failures, nextAttemptMicros: record.nextAttemptMicros, lastError: record.lastError,
                lastSuccessMicros: record.lastSuccessMicros)
        }
    }

    public func setState(_ state: DestinationState, destination: String) throws {
        try queue.write { db in
            try DestinationStateRecord(
                destination: destination, failures: state.failures, nextAttemptMicros: state.nextAttemptMicros,
                lastError: state.lastError, lastSuccessMicros: state.lastSuccessMicros
            ).upsert(db)
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
            let columns = OutboxEntryRecord.Columns.self
            for tally in try OutboxEntryRecord.filter(columns.destination == destination)
                .select(columns.state, count(columns.id).forKey("count"))
                .group(columns.state)
                .asRequest(of: OutboxStateCount.self)
                .fetchAll(db)
            {
                switch tally.state {
                case "pending": report.pending = tally.count
                case "sent": report.sent = tally.count
                default: report.failed = tally.count
                }
            }
            report.oldestPendingMeasuredMicros = try OutboxEntryRecord.of(destination, state: "pending")
                .select(min(columns.measuredMicros), as: Int64.self)
                .fetchOne(db)
            let lags = try OutboxEntryRecord.of(destination, state: "sent")
                .select(columns.sentMicros - columns.measuredMicros, as: Int64.self)
                .order(columns.sentMicros.desc)
                .limit(1000)
                .fetchAll(db)
                .sorted()
            if !lags.isEmpty {
                report.medianLagSeconds = Double(lags[lags.count / 2]) / 1_000_000
                report.maximumLagSeconds = Double(lags[lags.count - 1]) / 1_000_000
            }
            report.failures = try OutboxEntryRecord.of(destination, state: "failed")
                .select(columns.resourceKey, columns.lastError)
                .order(columns.id)
                .limit(20)
                .asRequest(of: OutboxFailure.self)
                .fetchAll(db)
                .map { ($0.resourceKey, $0.lastError ?? "") }
        }
        return report
    }
}
