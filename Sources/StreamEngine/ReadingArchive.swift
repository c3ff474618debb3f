import Foundation
import GRDB
import Logging
import Metrics
import Provenance
import Synchronization

/// The StreamEngine's own durable state, in `engine.sqlite` beside the store: every accepted reading with its
/// full provenance (the dedupe index and the archive `gatewayd verify` checks the ledger against), the
/// subject registry, the quarantine of unmapped readings, malformed payloads, and stored-record cursors.
///
/// A reading is journaled (stored = 0) before its samples go to the time-series store and marked stored
/// after, so a crash in between is resolved at start-up by looking in the store (see `StreamEngine.recover`).
public final class ReadingArchive: Sendable {
    let queue: DatabaseQueue
    public let path: String
    /// Shared provenance of readings, stored once (a reading row holds its id and what varies per reading).
    let catalog: ProvenanceCatalog

    public convenience init(path: String) throws { try self.init(path: path, catalog: ProvenanceCatalog()) }

    /// With `catalog`'s settings (tests: a small last-use slack, so retention of entries shows in a few readings).
    init(path: String, catalog: ProvenanceCatalog) throws {
        self.path = path
        self.catalog = catalog
        queue = try DurableDatabase.open(path: path)
        try Self.migrator(catalog: catalog, path: path).migrate(queue)
    }

    /// The columns a reading is read from (`reading(from:)`).
    static let readingColumns = "provenance_id, body, effective_micros"

    /// A stored reading from its row: its provenance entry and its variation.
    func reading(from row: Row, _ db: Database) throws -> Reading {
        try catalog.reading(provenance: row["provenance_id"], body: row["body"], effectiveMicros: row["effective_micros"], db)
    }

    /// Readings from rows; a row that does not decode (a damaged provenance entry or variation) is reported by
    /// name in the log and counted, and the others are still served (DESIGN.md rule 8).
    func readings(from rows: [Row], _ db: Database) -> [Reading] {
        rows.compactMap { row in
            do { return try reading(from: row, db) } catch {
                Counter(label: "gatewayd_archive_unreadable_rows_total").increment()
                Self.logger.error("a stored reading could not be read and was left out", metadata: ["error": "\(error)"])
                return nil
            }
        }
    }

    static let logger = Logger(label: "gatewayd.archive")

    /// Every schema version of engine.sqlite, in order (v9 converts rows through `catalog`).
    static func migrator(catalog: ProvenanceCatalog, path: String) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: readings, subjects, quarantine, cursors") { db in
            try db.execute(sql: """
                CREATE TABLE reading (
                    identity TEXT PRIMARY KEY NOT NULL, subject TEXT NOT NULL, device_key TEXT NOT NULL,
                    kind TEXT NOT NULL, effective_micros INTEGER NOT NULL, received_micros INTEGER NOT NULL,
                    flags INTEGER NOT NULL, stored INTEGER NOT NULL DEFAULT 0, ledger_sequence INTEGER,
                    json BLOB NOT NULL);
                CREATE INDEX reading_by_subject_time ON reading(subject, effective_micros);
                CREATE INDEX reading_unstored ON reading(stored) WHERE stored = 0;
                CREATE TABLE subject_map (
                    device_key TEXT NOT NULL, user_id INTEGER NOT NULL, subject TEXT NOT NULL,
                    PRIMARY KEY (device_key, user_id));
                CREATE TABLE quarantine (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, device_key TEXT NOT NULL, user_id INTEGER NOT NULL,
                    received_micros INTEGER NOT NULL, json BLOB NOT NULL);
                CREATE TABLE malformed (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, device_key TEXT NOT NULL, characteristic TEXT NOT NULL,
                    bytes BLOB NOT NULL, error TEXT NOT NULL, received_micros INTEGER NOT NULL);
                CREATE TABLE record_cursor (device_key TEXT PRIMARY KEY NOT NULL, next_sequence INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v2: device health") { db in
            try db.execute(sql: """
                CREATE TABLE device_health (
                    device_key TEXT PRIMARY KEY NOT NULL, device_json BLOB NOT NULL, first_seen_micros INTEGER NOT NULL,
                    last_contact_micros INTEGER NOT NULL, connections INTEGER NOT NULL, readings_received INTEGER NOT NULL,
                    readings_expected INTEGER, clock_offset_micros INTEGER, last_error TEXT);
                """)
        }
        migrator.registerMigration("v3: device clock history") { db in
            try db.execute(sql: "ALTER TABLE device_health ADD COLUMN clock_history BLOB")
        }
        migrator.registerMigration("v4: window versions") { db in
            try db.execute(sql: WindowTracker.migration)
        }
        migrator.registerMigration("v5: summary revision and stored reading feeds") { db in
            try db.execute(sql: SummaryLog.migration)
            // Readings stored before the feed existed enter it once, in the order they were stored.
            try db.execute(sql: "INSERT INTO reading_feed (identity, stored_micros) SELECT identity, received_micros FROM reading WHERE stored = 1 ORDER BY rowid")
        }
        migrator.registerMigration("v6: device registry, newest readings by kind") { db in
            try db.execute(sql: ReadIndexes.migration)
            // Devices that gave stored readings before the registry existed enter it once, with their newest record.
            try db.execute(sql: """
                INSERT INTO subject_device (subject, device_key, kind, device_json, last_micros)
                SELECT subject, device_key, kind, json_extract(CAST(json AS TEXT), '$.device'), MAX(effective_micros)
                FROM reading WHERE stored = 1 AND subject <> '' GROUP BY subject, device_key, kind
                """)
        }
        migrator.registerMigration("v7: pending window revisions") { db in
            try db.execute(sql: WindowTracker.pendingMigration)
        }
        migrator.registerMigration("v8: provenance catalog; readings as template id + variation") { db in
            try db.execute(sql: ProvenanceCatalog.migration)
            try db.execute(sql: "ALTER TABLE reading ADD COLUMN provenance_id INTEGER; ALTER TABLE reading ADD COLUMN body BLOB;")
        }
        migrator.registerMigration(Self.compactRowsMigration) { db in
            try CompactReadingRows.convert(db, catalog: catalog, path: path)
        }
        migrator.registerMigration("v10: journal batches") { db in
            try db.execute(sql: JournalBatches.migration)
            // Rows stored before: one range per ledger entry (and one for rows recorded without a ledger).
            try db.execute(sql: """
                INSERT INTO reading_batch (first_row, last_row, ledger_sequence)
                SELECT min(id), max(id), ledger_sequence FROM reading GROUP BY ledger_sequence
                """)
        }
        migrator.registerMigration("v11: identity keys only for readings the device anchored") { db in
            try db.execute(sql: IdentityKey.receiptAnchoredMigration)
        }
        migrator.registerMigration("v12: provenance entries' last use, for retention") { db in
            try db.execute(sql: Self.provenanceLastUseMigration)
        }
        return migrator
    }

    static let compactRowsMigration = "v9: compact reading rows"

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The user slot key of the subject map: the BP User ID, or −1 for a device without user slots.
    static func userKey(_ userID: UInt8?) -> Int { userID.map(Int.init) ?? -1 }

    // MARK: Subjects

    /// Maps (device, user slot) to a subject. Explicit: nothing is ever inferred (DESIGN.md rule 6).
    public func mapSubject(deviceKey: String, userID: UInt8?, subject: String) throws {
        try queue.write { db in
            try db.execute(
                sql: "INSERT INTO subject_map (device_key, user_id, subject) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET subject = excluded.subject",
                arguments: [deviceKey, Self.userKey(userID), subject])
        }
    }

    public func forgetSubjectMapping(deviceKey: String, userID: UInt8?) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM subject_map WHERE device_key = ? AND user_id = ?", arguments: [deviceKey, Self.userKey(userID)])
        }
    }

    public struct SubjectMapping: Hashable, Sendable {
        public var deviceKey: String
        public var userID: UInt8?
        public var subject: String
    }

    public func subjectMappings() throws -> [SubjectMapping] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT device_key, user_id, subject FROM subject_map ORDER BY device_key, user_id").map { row in
                let user: Int = row["user_id"]
                return SubjectMapping(deviceKey: row["device_key"], userID: user < 0 ? nil : UInt8(clamping: user), subject: row["subject"])
            }
        }
    }

    // MARK: Readings

    /// Which of these readings are already archived. A reading the device anchored is looked up by its identity key;
    /// one anchored on receipt (no identity kept) by its stream and effective time, comparing the identities of the
    /// readings stored at that instant — the same receive time is part of its identity, so that is where a repeat is.
    func existing(_ candidates: [(identity: String, reading: Reading)]) throws -> Set<String> {
        guard !candidates.isEmpty else { return [] }
        var byKey: [Data: [String]] = [:]
        var onReceipt: [(identity: String, reading: Reading)] = []
        for candidate in candidates {
            if candidate.reading.identityAnchoredOnReceipt {
                onReceipt.append(candidate)
            } else if let key = IdentityKey.of(candidate.identity) {
                byKey[key, default: []].append(candidate.identity)
            }
        }
        let keys = Array(byKey.keys)
        return try queue.read { db in
            var found: Set<String> = []
            for chunk in stride(from: 0, to: keys.count, by: 500) {
                let part = Array(keys[chunk..<min(chunk + 500, keys.count)])
                let marks = part.map { _ in "?" }.joined(separator: ",")
                for key in try Data.fetchAll(db, sql: "SELECT identity FROM reading WHERE identity IN (\(marks))", arguments: StatementArguments(part)) {
                    found.formUnion(byKey[key] ?? [])
                }
            }
            // One range of the (stream, time) index per stream; only readings at an instant already taken are decoded.
            var byStream: [Int64: [(identity: String, reading: Reading)]] = [:]
            var streams = StreamIDs()
            for candidate in onReceipt {
                guard let subject = candidate.reading.subject,
                    let stream = try streams.existing(subject: subject, kind: candidate.reading.kind, db)
                else { continue }
                byStream[stream, default: []].append(candidate)
            }
            let taken = try db.cachedStatement(sql: "SELECT DISTINCT effective_micros FROM reading WHERE stream = ? AND effective_micros BETWEEN ? AND ?")
            for (stream, candidates) in byStream {
                let times = candidates.map(\.reading.time.effectiveMicros)
                guard let first = times.min(), let last = times.max() else { continue }
                let instants = Set(try Int64.fetchAll(taken, arguments: [stream, first, last]))
                for (identity, reading) in candidates where instants.contains(reading.time.effectiveMicros) {
                    if try !rows(at: reading, db).isEmpty { found.insert(identity) }
                }
            }
            return found
        }
    }

    /// The rows (id, ledger sequence and what a reading is read from) of the archived reading with this one's identity,
    /// stored or not: by identity key, or — anchored on receipt — by stream and time, the identities compared.
    func rows(at reading: Reading, _ db: Database) throws -> [Row] {
        guard let subject = reading.subject else { return [] }
        let identity = ReadingIdentity(of: reading, subject: subject)
        if !reading.identityAnchoredOnReceipt {
            guard let key = IdentityKey.of(identity.hex) else { return [] }
            return try Row.fetchAll(
                db, sql: "SELECT id, stored, ledger_sequence, \(Self.readingColumns) FROM reading WHERE identity = ?", arguments: [key])
        }
        guard let stream = try Int64.fetchOne(
            db, sql: "SELECT id FROM reading_stream WHERE subject = ? AND kind = ?", arguments: [subject, reading.kind.rawValue])
        else { return [] }
        let statement = try db.cachedStatement(sql: """
            SELECT id, stored, ledger_sequence, \(Self.readingColumns) FROM reading WHERE stream = ? AND effective_micros = ?
            """)
        return try Row.fetchAll(statement, arguments: [stream, reading.time.effectiveMicros]).filter { row in
            guard let stored = try? self.reading(from: row, db), let storedSubject = stored.subject else { return false }
            return ReadingIdentity(of: stored, subject: storedSubject) == identity
        }
    }

    /// The stream (subject, kind) readings are indexed by, created on first use.
    static func streamID(subject: String, kind: ReadingKind, _ db: Database) throws -> Int64 {
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM reading_stream WHERE subject = ? AND kind = ?", arguments: [subject, kind.rawValue]) {
            return id
        }
        try db.execute(sql: "INSERT INTO reading_stream (subject, kind) VALUES (?, ?)", arguments: [subject, kind.rawValue])
        return db.lastInsertedRowID
    }

    /// Stream ids looked up once per (subject, kind) within a transaction.
    struct StreamIDs {
        private var known: [String: Int64] = [:]

        mutating func id(subject: String, kind: ReadingKind, _ db: Database) throws -> Int64 {
            let key = subject + "\u{0}" + kind.rawValue
            if let id = known[key] { return id }
            let id = try ReadingArchive.streamID(subject: subject, kind: kind, db)
            known[key] = id
            return id
        }

        /// The stream's id without creating it (nil: no reading of it was ever journaled).
        mutating func existing(subject: String, kind: ReadingKind, _ db: Database) throws -> Int64? {
            let key = subject + "\u{0}" + kind.rawValue
            if let id = known[key] { return id }
            let id = try Int64.fetchOne(
                db, sql: "SELECT id FROM reading_stream WHERE subject = ? AND kind = ?", arguments: [subject, kind.rawValue])
            if let id { known[key] = id }
            return id
        }
    }

    /// The streams of a subject, by kind (one kind when given).
    static func streams(subject: String, kind: ReadingKind? = nil, _ db: Database) throws -> [Int64] {
        if let kind {
            return try Int64.fetchAll(db, sql: "SELECT id FROM reading_stream WHERE subject = ? AND kind = ?", arguments: [subject, kind.rawValue])
        }
        return try Int64.fetchAll(db, sql: "SELECT id FROM reading_stream WHERE subject = ? ORDER BY id", arguments: [subject])
    }

    /// A reading's identity, template and encoded variation, computed before the journal's transaction.
    struct Prepared: Sendable {
        var identity: String
        var template: ReadingTemplate
        var body: [UInt8]
    }

    /// Identities, templates and variations of readings that have a subject, computed on every core: the pure part of
    /// journaling, so the transaction that writes them holds the database only for the writing.
    static func prepare(_ readings: [Reading]) -> [Prepared] {
        @Sendable func one(_ reading: Reading) -> Prepared {
            let (template, variation) = reading.split()
            return Prepared(
                identity: ReadingIdentity(of: reading, subject: reading.subject ?? "").hex, template: template, body: variation.encoded())
        }
        guard readings.count >= 64 else { return readings.map(one) }
        let parts = 4
        let results = Mutex<[[Prepared]]>(Array(repeating: [], count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let range = (readings.count * part / parts)..<(readings.count * (part + 1) / parts)
            let done = readings[range].map(one)
            results.withLock { $0[part] = done }
        }
        return results.withLock { $0.flatMap { $0 } }
    }

    /// What `journal` wrote: each reading's ledger item (identity and the digest of what is stored) and its row.
    struct Journaled {
        var items: [LedgerEntry.Item] = []
        var rows: [Int64] = []
    }

    /// Journals new readings and quarantines unmapped ones, and removes released quarantine rows, in one
    /// durable transaction. A reading anchored on receipt is written without its identity (found by stream and
    /// time instead), so the identity index — keyed by a hash, a random page per reading — holds only readings the
    /// device anchored.
    @discardableResult
    func journal(
        _ readings: [(identity: String, reading: Reading)], prepared: [Prepared]? = nil, quarantine: [Reading], released: [Int64]
    ) throws -> Journaled {
        do {
            return try journalTransaction(readings, prepared: prepared ?? Self.prepare(readings.map(\.reading)), quarantine: quarantine, released: released)
        } catch {
            catalog.forgetUses()
            throw error
        }
    }

    private func journalTransaction(
        _ readings: [(identity: String, reading: Reading)], prepared: [Prepared], quarantine: [Reading], released: [Int64]
    ) throws -> Journaled {
        try queue.write { db in
            var journaled = Journaled()
            journaled.items.reserveCapacity(readings.count)
            journaled.rows.reserveCapacity(readings.count)
            // Cached statements: a batch inserts hundreds of rows, each statement is prepared once.
            let insert = try db.cachedStatement(sql: """
                INSERT INTO reading (identity, stream, effective_micros, flags, provenance_id, stored, body) VALUES (?, ?, ?, ?, ?, 0, ?)
                """)
            var streams = StreamIDs()
            for ((identity, reading), item) in zip(readings, prepared) {
                guard let key = IdentityKey.of(identity) else { throw ReadingSplitError(description: "identity '\(identity)' is not hex") }
                let stream = try streams.id(subject: reading.subject ?? "", kind: reading.kind, db)
                let entry = try catalog.entry(of: item.template, db)
                let body = item.body
                try insert.execute(arguments: [
                    reading.identityAnchoredOnReceipt ? nil : key, stream, reading.time.effectiveMicros, Int(reading.flags.rawValue), entry.id,
                    Data(body),
                ])
                journaled.rows.append(db.lastInsertedRowID)
                try catalog.noteUse(entry.id, row: db.lastInsertedRowID, db)
                journaled.items.append(LedgerEntry.Item(identity: ReadingIdentity(hex: identity), digest: Self.digest(template: entry.digest, body: body)))
            }
            if let first = journaled.rows.first, let last = journaled.rows.last { try JournalBatches.record(first: first, last: last, db) }
            for reading in quarantine {
                try db.execute(
                    sql: "INSERT INTO quarantine (device_key, user_id, received_micros, json) VALUES (?, ?, ?, ?)",
                    arguments: [reading.device.key, Self.userKey(reading.context.userID), reading.time.receivedMicros, try Self.encoder.encode(reading)])
            }
            for id in released {
                try db.execute(sql: "DELETE FROM quarantine WHERE id = ?", arguments: [id])
            }
            try ReadIndexes.register(readings.map(\.reading), db)
            return journaled
        }
    }

    /// Marks journaled rows as stored (their samples are durable in the store), with their ledger entry.
    func markStored(rows: [Int64], ledgerSequence: Int?, nowMicros: Int64 = Int64(Date().timeIntervalSince1970 * 1_000_000)) throws {
        try queue.write { db in
            let update = try db.cachedStatement(sql: "UPDATE reading SET stored = 1, ledger_sequence = ? WHERE id BETWEEN ? AND ? AND stored = 0")
            var batches = JournalBatches.Marker()
            // A batch's rows are one range of ids: one update per run of consecutive rows.
            for run in Self.runs(of: rows) {
                // Only a reading that becomes stored now enters the feed (a repeated mark must not send it twice).
                try update.execute(arguments: [ledgerSequence, run.lowerBound, run.upperBound])
                guard db.changesCount > 0 else { continue }
                try batches.note(rows: run, db)
            }
            try batches.mark(ledgerSequence: ledgerSequence, db)
        }
    }

    /// Runs of consecutive ids, in order.
    static func runs(of ids: [Int64]) -> [ClosedRange<Int64>] {
        var runs: [ClosedRange<Int64>] = []
        for id in ids.sorted() {
            if let last = runs.last, last.upperBound + 1 >= id {
                runs[runs.count - 1] = last.lowerBound...max(last.upperBound, id)
            } else {
                runs.append(id...id)
            }
        }
        return runs
    }

    /// Readings journaled but not marked stored (a crash came between the journal and the mark), with their rows.
    func unstored() throws -> [(row: Int64, identity: String, reading: Reading)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT id, \(Self.readingColumns) FROM reading WHERE stored = 0 ORDER BY id").map { row in
                let reading = try reading(from: row, db)
                return (row["id"], ReadingIdentity(of: reading, subject: reading.subject ?? "").hex, reading)
            }
        }
    }

    /// The archived reading with this identity (the ledger verifier's lookup).
    public func reading(identity: String) throws -> Reading? {
        try queue.read { db in
            guard let key = IdentityKey.of(identity),
                let row = try Row.fetchOne(db, sql: "SELECT \(Self.readingColumns) FROM reading WHERE identity = ?", arguments: [key])
            else { return nil }
            return try reading(from: row, db)
        }
    }

    /// Readings of a subject in [from, to) by effective time, oldest first.
    public func readings(subject: String, from: Int64 = .min, to: Int64 = .max, kind: ReadingKind? = nil) throws -> [Reading] {
        try queue.read { db in
            let streams = try Self.streams(subject: subject, kind: kind, db)
            guard !streams.isEmpty else { return [] }
            let marks = streams.map { _ in "?" }.joined(separator: ",")
            return readings(from: try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.readingColumns) FROM reading WHERE stream IN (\(marks)) AND effective_micros >= ? AND effective_micros < ?
                    AND stored = 1 ORDER BY effective_micros, id
                    """,
                arguments: StatementArguments(streams) + [from, to]), db)
        }
    }

    /// Subjects with stored readings, sorted.
    /// Subjects with readings, from the device registry (its primary key), not from a scan of every reading.
    public func subjects() throws -> [String] {
        try queue.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT subject FROM subject_device WHERE subject <> '' ORDER BY subject")
        }
    }

    public func storedReadingCount() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM reading WHERE stored = 1") ?? 0 }
    }

    // MARK: Quarantine

    public struct QuarantinedReading: Sendable {
        public var id: Int64
        public var reading: Reading
    }

    public func quarantined(deviceKey: String? = nil, userID: UInt8?? = nil) throws -> [QuarantinedReading] {
        try queue.read { db in
            var sql = "SELECT id, json FROM quarantine"
            var arguments: StatementArguments = []
            if let deviceKey {
                sql += " WHERE device_key = ?"
                arguments += [deviceKey]
                if let userID {
                    sql += " AND user_id = ?"
                    arguments += [Self.userKey(userID)]
                }
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY id", arguments: arguments).compactMap { row in
                let data: Data = row["json"]
                guard let reading = try? JSONDecoder().decode(Reading.self, from: data) else { return nil }
                return QuarantinedReading(id: row["id"], reading: reading)
            }
        }
    }

    // MARK: Malformed payloads and cursors

    public func recordMalformed(deviceKey: String, characteristic: String, bytes: [UInt8], error: String, receivedMicros: Int64) throws {
        try queue.write { db in
            try db.execute(
                sql: "INSERT INTO malformed (device_key, characteristic, bytes, error, received_micros) VALUES (?, ?, ?, ?, ?)",
                arguments: [deviceKey, characteristic, Data(bytes), error, receivedMicros])
        }
    }

    public func malformedCount() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM malformed") ?? 0 }
    }

    /// The next stored-record sequence number to ask a device for (nil: from the start).
    public func recordCursor(deviceKey: String) throws -> UInt16? {
        try queue.read { db in
            try Int.fetchOne(db, sql: "SELECT next_sequence FROM record_cursor WHERE device_key = ?", arguments: [deviceKey]).map { UInt16(clamping: $0) }
        }
    }

    /// Cursors move only forward.
    public func advanceRecordCursor(deviceKey: String, to next: UInt16) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO record_cursor (device_key, next_sequence) VALUES (?, ?)
                    ON CONFLICT DO UPDATE SET next_sequence = max(next_sequence, excluded.next_sequence)
                    """,
                arguments: [deviceKey, Int(next)])
        }
    }

    // MARK: Device health

    /// What one connection to a device showed, for `gatewayd status`.
    public struct ConnectionReport: Sendable {
        public var device: DeviceRecord
        public var startedMicros: Int64
        public var endedMicros: Int64
        public var readingsReceived: Int
        /// Readings the device said it would send (RACP count) or should have sent (HR cadence); nil: unknown.
        public var readingsExpected: Int?
        public var clockOffsetMicros: Int64?
        /// Every comparison of the device clock with the gateway's during the connection (CTS reads).
        public var clockComparisons: [ClockComparison] = []
        /// The zone device wall clocks without Local Time Information are read in.
        public var clockZone = "UTC"
        public var error: String?

        public init(device: DeviceRecord, startedMicros: Int64, endedMicros: Int64, readingsReceived: Int, readingsExpected: Int?,
                    clockOffsetMicros: Int64?, clockComparisons: [ClockComparison] = [], error: String?) {
            self.device = device
            self.startedMicros = startedMicros
            self.endedMicros = endedMicros
            self.readingsReceived = readingsReceived
            self.readingsExpected = readingsExpected
            self.clockOffsetMicros = clockOffsetMicros
            self.clockComparisons = clockComparisons
            self.error = error
        }
    }

    public func recordConnection(_ report: ConnectionReport) throws {
        let dimensions = [("device", report.device.key)]
        Gauge(label: "gatewayd_device_last_contact_seconds", dimensions: dimensions).record(Double(report.endedMicros) / 1_000_000)
        Counter(label: "gatewayd_device_readings_received_total", dimensions: dimensions).increment(by: report.readingsReceived)
        if let expected = report.readingsExpected {
            Counter(label: "gatewayd_device_readings_expected_total", dimensions: dimensions).increment(by: expected)
        }
        if let offset = report.clockOffsetMicros {
            Gauge(label: "gatewayd_device_clock_offset_seconds", dimensions: dimensions).record(Double(offset) / 1_000_000)
        }
        try queue.write { db in
            // The device's offset and drift history grows by this connection's comparisons (DESIGN.md rule 2).
            var history = try Data.fetchOne(db, sql: "SELECT clock_history FROM device_health WHERE device_key = ?", arguments: [report.device.key])
                .flatMap { try? JSONDecoder().decode(DeviceClockHistory.self, from: $0) }
                ?? DeviceClockHistory(timeZoneIdentifier: report.clockZone)
            for comparison in report.clockComparisons { history.record(comparison) }
            try db.execute(
                sql: """
                    INSERT INTO device_health (device_key, device_json, first_seen_micros, last_contact_micros, connections,
                        readings_received, readings_expected, clock_offset_micros, last_error)
                    VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)
                    ON CONFLICT DO UPDATE SET device_json = excluded.device_json, last_contact_micros = excluded.last_contact_micros,
                        connections = connections + 1, readings_received = readings_received + excluded.readings_received,
                        readings_expected = CASE WHEN excluded.readings_expected IS NULL THEN readings_expected
                            ELSE coalesce(readings_expected, 0) + excluded.readings_expected END,
                        clock_offset_micros = coalesce(excluded.clock_offset_micros, clock_offset_micros),
                        last_error = excluded.last_error
                    """,
                arguments: [
                    report.device.key, try Self.encoder.encode(report.device), report.startedMicros, report.endedMicros,
                    report.readingsReceived, report.readingsExpected, report.clockOffsetMicros, report.error,
                ])
            try db.execute(
                sql: "UPDATE device_health SET clock_history = ? WHERE device_key = ?",
                arguments: [try Self.encoder.encode(history), report.device.key])
        }
    }

    public struct DeviceHealth: Sendable {
        public var device: DeviceRecord
        public var firstSeenMicros: Int64
        public var lastContactMicros: Int64
        public var connections: Int
        public var readingsReceived: Int
        public var readingsExpected: Int?
        public var clockOffsetMicros: Int64?
        public var lastError: String?
        public var quarantined: Int
        public var clockHistory: DeviceClockHistory?
    }

    public func deviceHealth() throws -> [DeviceHealth] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT h.*, (SELECT count(*) FROM quarantine q WHERE q.device_key = h.device_key) AS quarantined
                FROM device_health h ORDER BY h.device_key
                """).compactMap { row in
                let data: Data = row["device_json"]
                guard let device = try? JSONDecoder().decode(DeviceRecord.self, from: data) else { return nil }
                return DeviceHealth(
                    device: device, firstSeenMicros: row["first_seen_micros"], lastContactMicros: row["last_contact_micros"],
                    connections: row["connections"], readingsReceived: row["readings_received"], readingsExpected: row["readings_expected"],
                    clockOffsetMicros: row["clock_offset_micros"], lastError: row["last_error"], quarantined: row["quarantined"],
                    clockHistory: (row["clock_history"] as Data?).flatMap { try? JSONDecoder().decode(DeviceClockHistory.self, from: $0) })
            }
        }
    }

    public func quarantineCount() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM quarantine") ?? 0 }
    }
}
