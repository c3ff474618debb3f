import Foundation
import GRDB
import Logging
import Metrics
import Provenance
import Synchronization
import TimeSeries

/// The StreamEngine's own durable state, in `engine.sqlite` beside the store: every accepted reading with its
/// full provenance (the dedupe index and the archive `gatewayd verify` checks the ledger against), the
/// subject registry, the quarantine of unmapped readings, malformed payloads, and stored-record cursors.
///
/// A reading is journaled (stored = 0) before its samples go to the time-series store and marked stored
/// after, so a crash in between is resolved at start-up by looking in the store (see `StreamEngine.recover`).
public final class ReadingArchive: Sendable {
    let queue: DatabasePool
    public let path: String
    /// Shared provenance of readings, stored once (a reading row holds its id and what varies per reading).
    let catalog: ProvenanceCatalog
    /// The store series readings live in (by default snapshots of the `store` directory beside engine.sqlite).
    let storeAccess: SampleStoreAccess
    /// Registry rows this process wrote, so a batch rewrites a row only when it changed or grew a minute newer.
    let registryWritten = ReadIndexes.Written([:])
    /// Stream ids this process has seen committed (streams are never removed): a batch looked each of a hub's hundred
    /// straps up in SQLite twice, as dedupe and as journal, a statement parsed each time.
    let knownStreams = StreamIDs.Known()

    public convenience init(path: String) throws { try self.init(path: path, catalog: ProvenanceCatalog()) }

    /// With `catalog`'s settings (tests: a small last-use slack, so retention of entries shows in a few readings).
    init(path: String, catalog: ProvenanceCatalog) throws {
        self.path = path
        self.catalog = catalog
        storeAccess = SampleStoreAccess(directory: (path as NSString).deletingLastPathComponent + "/store")
        queue = try DurableDatabase.open(path: path, pageSize: Self.pageSize)
        try Self.migrator(catalog: catalog, path: path).migrate(queue)
    }

    /// The store series readings are read from: the engine's own (the daemon), or snapshots of another directory.
    public func useStore(_ store: TimeSeriesStore) { storeAccess.use(store) }
    public func useStoreSnapshots(of directory: String) { storeAccess.useSnapshots(of: directory) }
    /// The store as of now (nil: none yet).
    public func sampleStore() throws -> TimeSeriesStore? { try storeAccess.store() }

    /// A stored reading from its row: its provenance entry and its variation. A span row holds readings, not one.
    func reading(from row: ReadingRecord, _ db: Database) throws -> Reading {
        if Self.span(of: row) != nil {
            throw ReadingSplitError(description: "row \(row.id) stands for series readings, not one reading")
        }
        return try catalog.reading(
            provenance: row.provenanceId, body: row.body, effectiveMicros: row.effectiveMicros, db)
    }

    /// The span a row stands for (nil: the row is one reading).
    static func span(of row: ReadingRecord) -> SeriesReadings.Span? {
        guard let count = row.spanCount else { return nil }
        return SeriesReadings.Span(
            provenanceID: row.provenanceId, flags: UInt16(truncatingIfNeeded: row.flags), first: row.effectiveMicros,
            last: row.spanLastMicros ?? row.effectiveMicros, count: count)
    }

    /// engine.sqlite's page size when it is created (see `DurableDatabase.open`).
    static let pageSize = 1024

    /// The marker an extendable span row's body holds: its readings are the parts batches list (`SpanPart`). A span of
    /// one batch, written before v14, holds 2 and stands for all of its readings.
    static let extendableSpanBody = Data([3])

    /// True when the row is an extendable span: a batch's readings in it are its parts, not the whole row.
    static func isExtendable(_ row: ReadingRecord) -> Bool {
        row.spanCount != nil && row.body == extendableSpanBody
    }

    /// The readings a row holds effective in `range`, each with its provenance entry: the row's own reading, or a span's
    /// series readings rebuilt from the store.
    func expanded(_ row: ReadingRecord, within range: Range<Int64> = Int64.min..<Int64.max, _ db: Database) throws -> [(
        reading: Reading, provenanceID: Int64
    )] {
        guard let span = Self.span(of: row) else {
            guard range.contains(row.effectiveMicros) else { return [] }
            return [(try reading(from: row, db), row.provenanceId)]
        }
        guard let store = try sampleStore() else {
            throw ReadingSplitError(
                description: "row \(row.id) holds series readings, but there is no store beside \(path)")
        }
        return try SeriesReadings.readings(of: span, range: range, store: store) { try catalog.template($0, db) }
    }

    /// Readings from rows (a span's limited to `range`); a row that does not decode (a damaged provenance entry or
    /// variation) is reported by name in the log and counted, and the others are still served (DESIGN.md rule 8).
    func readings(from rows: [ReadingRecord], within range: Range<Int64> = Int64.min..<Int64.max, _ db: Database)
        -> [Reading]
    {
        rows.flatMap { row in servable(row, within: range, db).map(\.reading) }
    }

    /// `expanded`, with a row that does not decode logged, counted and left out.
    func servable(_ row: ReadingRecord, within range: Range<Int64> = Int64.min..<Int64.max, _ db: Database) -> [(
        reading: Reading, provenanceID: Int64
    )] {
        do { return try expanded(row, within: range, db) } catch {
            Counter(label: "gatewayd_archive_unreadable_rows_total").increment()
            Self.logger.error("a stored reading could not be read and was left out", metadata: ["error": "\(error)"])
            return []
        }
    }

    static let logger = Logger(label: "gatewayd.archive")

    /// Every schema version of engine.sqlite, in order (v9 converts rows through `catalog`).
    static func migrator(catalog: ProvenanceCatalog, path: String) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: readings, subjects, quarantine, cursors") { db in
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
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
            try db.execute(
                sql:
                    "INSERT INTO reading_feed (identity, stored_micros) SELECT identity, received_micros FROM reading WHERE stored = 1 ORDER BY rowid"
            )
        }
        migrator.registerMigration("v6: device registry, newest readings by kind") { db in
            try db.execute(sql: ReadIndexes.migration)
            // Devices that gave stored readings before the registry existed enter it once, with their newest record.
            try db.execute(
                sql: """
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
            try db.execute(
                sql: "ALTER TABLE reading ADD COLUMN provenance_id INTEGER; ALTER TABLE reading ADD COLUMN body BLOB;")
        }
        migrator.registerMigration(Self.compactRowsMigration) { db in
            try CompactReadingRows.convert(db, catalog: catalog, path: path)
        }
        migrator.registerMigration("v10: journal batches") { db in
            try db.execute(sql: JournalBatches.migration)
            // Rows stored before: one range per ledger entry (and one for rows recorded without a ledger).
            try db.execute(
                sql: """
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
        // Rows and spans have an index each: a walk through a stream's rows never steps over its spans, nor the other way.
        migrator.registerMigration("v13: spans of readings kept only in the store") { db in
            try db.execute(
                sql: """
                    ALTER TABLE reading ADD COLUMN span_count INTEGER; ALTER TABLE reading ADD COLUMN span_last_micros INTEGER;
                    CREATE INDEX reading_span_by_stream_last ON reading(stream, span_last_micros) WHERE span_count IS NOT NULL;
                    DROP INDEX reading_by_stream_time;
                    CREATE INDEX reading_by_stream_time ON reading(stream, effective_micros) WHERE span_count IS NULL;
                    """)
        }
        migrator.registerMigration("v14: extendable spans, batches with their own id and span parts") { db in
            try db.execute(sql: JournalBatches.extendableSpansMigration)
        }
        // Window versions keyed by (series, width, label) with no rowid: the key was stored twice (table and its index),
        // a few hundred bytes for each blood-pressure or glucose reading's windows.
        migrator.registerMigration("v15: window versions without a rowid") { db in
            try db.execute(
                sql: """
                    CREATE TABLE window_version_v15 (
                        series TEXT NOT NULL, width INTEGER NOT NULL, label INTEGER NOT NULL, version INTEGER NOT NULL,
                        PRIMARY KEY (series, width, label)) WITHOUT ROWID;
                    INSERT INTO window_version_v15 SELECT series, width, label, version FROM window_version;
                    DROP TABLE window_version;
                    ALTER TABLE window_version_v15 RENAME TO window_version;
                    """)
        }
        migrator.registerMigration("v16: summary series by id") { db in
            try db.execute(sql: SummaryLog.seriesIDsMigration)
        }
        migrator.registerMigration("v17: provenance entries with a digest key, devices on keyframes") { db in
            try db.execute(sql: ProvenanceCatalog.compactMigration)
        }
        migrator.registerMigration("v18: summary windows by hours and seconds, recorded once per flush") { db in
            try db.execute(sql: SummaryLog.compactKeysMigration)
        }
        migrator.registerMigration("v19: the store's log sequence number of each batch") { db in
            try db.execute(sql: JournalBatches.storeLSNMigration)
        }
        migrator.registerMigration("v20: each connection of a device") { db in
            try db.execute(sql: ConnectionLog.migration)
        }
        return migrator
    }

    static let compactRowsMigration = "v9: compact reading rows"

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

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
                for key in try Data.fetchAll(
                    db, sql: "SELECT identity FROM reading WHERE identity IN (\(marks))",
                    arguments: StatementArguments(part))
                {
                    found.formUnion(byKey[key] ?? [])
                }
            }
            // One range of the (stream, time) index per stream; only readings at an instant already taken are decoded.
            var byStream: [Int64: [(identity: String, reading: Reading)]] = [:]
            var streams = StreamIDs(shared: knownStreams)
            for candidate in onReceipt {
                guard let subject = candidate.reading.subject,
                    let stream = try streams.existing(subject: subject, kind: candidate.reading.kind, db)
                else { continue }
                byStream[stream, default: []].append(candidate)
            }
            let taken = try db.cachedStatement(
                sql: """
                    SELECT DISTINCT effective_micros FROM reading WHERE stream = ? AND effective_micros BETWEEN ? AND ? AND span_count IS NULL
                    """)
            for (stream, candidates) in byStream {
                let times = candidates.map(\.reading.time.effectiveMicros)
                guard let first = times.min(), let last = times.max() else { continue }
                let instants = Set(try Int64.fetchAll(taken, arguments: [stream, first, last]))
                for (identity, reading) in candidates where instants.contains(reading.time.effectiveMicros) {
                    if try !located(reading, db).isEmpty { found.insert(identity) }
                }
                // Series readings: the spans overlapping the candidates' times, rebuilt once.
                let spans = try spanRows(stream: stream, overlapping: first..<(last + 1), storedOnly: false, db)
                guard !spans.isEmpty else { continue }
                var identities: Set<String> = []
                for row in spans {
                    for (reading, _) in try expanded(row, within: first..<(last + 1), db) {
                        if let identity = reading.identity { identities.insert(identity.hex) }
                    }
                }
                for (identity, _) in candidates where identities.contains(identity) { found.insert(identity) }
            }
            return found
        }
    }

    /// The span rows of a stream that may hold readings effective in `range` (through the spans' own index).
    func spanRows(stream: Int64, overlapping range: Range<Int64>, storedOnly: Bool, _ db: Database) throws
        -> [ReadingRecord]
    {
        try ReadingRecord.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT \(ReadingRecord.columns) FROM reading
                    WHERE stream = ? AND \(SeriesReadings.spanCondition) AND effective_micros >= ? AND effective_micros < ? AND span_last_micros >= ?
                    \(storedOnly ? " AND stored = 1" : "")
                    ORDER BY effective_micros, id
                    """),
            arguments: [stream, Self.lookBack(range.lowerBound), range.upperBound, range.lowerBound])
    }

    /// The earliest first reading a span holding a reading at or after `micros` can have.
    static func lookBack(_ micros: Int64) -> Int64 {
        micros < Int64.min + SeriesReadings.maxSpanMicros ? Int64.min : micros - SeriesReadings.maxSpanMicros
    }

    /// The archived copies of a reading, stored or not, with their row's state: by identity key, or — anchored on
    /// receipt — by stream and time (a row at that instant, or a span over it), the identities compared.
    func located(_ reading: Reading, _ db: Database) throws -> [(reading: Reading, stored: Bool, ledgerSequence: Int?)]
    {
        guard let subject = reading.subject else { return [] }
        let identity = ReadingIdentity(of: reading, subject: subject)
        let time = reading.time.effectiveMicros
        var rows: [ReadingRecord]
        if !reading.identityAnchoredOnReceipt {
            guard let key = IdentityKey.of(identity.hex) else { return [] }
            rows = try ReadingRecord.fetchAll(
                db, sql: "SELECT \(ReadingRecord.columns) FROM reading WHERE identity = ?",
                arguments: [key])
        } else {
            guard let stream = try Self.existingStreamID(subject: subject, kind: reading.kind, db) else { return [] }
            let statement = try db.cachedStatement(
                sql: """
                    SELECT \(ReadingRecord.columns) FROM reading WHERE stream = ? AND effective_micros = ? AND span_count IS NULL
                    """)
            rows = try ReadingRecord.fetchAll(statement, arguments: [stream, time])
            rows += try spanRows(stream: stream, overlapping: time..<(time + 1), storedOnly: false, db)
        }
        var found: [(reading: Reading, stored: Bool, ledgerSequence: Int?)] = []
        for row in rows {
            let range = reading.identityAnchoredOnReceipt ? time..<(time + 1) : Int64.min..<Int64.max
            guard let readings = try? expanded(row, within: range, db) else { continue }
            for (stored, _) in readings
            where stored.subject.map({ ReadingIdentity(of: stored, subject: $0) }) == identity {
                // An extendable span's readings were recorded by the batches holding its parts.
                let sequence: Int? =
                    Self.isExtendable(row)
                    ? try partLedgerSequence(span: row.id, at: stored.time.effectiveMicros, db)
                    : row.ledgerSequence
                found.append((stored, row.isStored, sequence))
            }
        }
        return found
    }

    /// The stream (subject, kind) readings are indexed by, created on first use.
    static func streamID(subject: String, kind: ReadingKind, _ db: Database) throws -> Int64 {
        if let id = try existingStreamID(subject: subject, kind: kind, db) { return id }
        var stream = ReadingStreamRecord(subject: subject, kind: kind.rawValue)
        try stream.insert(db)
        return stream.id ?? db.lastInsertedRowID
    }

    static func existingStreamID(subject: String, kind: ReadingKind, _ db: Database) throws -> Int64? {
        try ReadingStreamRecord.ids(subject: subject, kind: kind, db).first
    }

    /// Stream ids looked up once per (subject, kind) within a transaction, and once per process where `shared` is given
    /// (ids found by a lookup are committed; ids created by this transaction are shared once it commits, `share()`).
    struct StreamIDs {
        /// The ids of one archive, shared by its transactions.
        final class Known: Sendable {
            let ids = Mutex<[Key: Int64]>([:])
        }
        struct Key: Hashable {
            var subject: String
            var kind: ReadingKind
        }
        private var known: [Key: Int64] = [:]
        private var created: [Key: Int64] = [:]
        private let shared: Known?

        init(shared: Known? = nil) { self.shared = shared }

        mutating func id(subject: String, kind: ReadingKind, _ db: Database) throws -> Int64 {
            let key = Key(subject: subject, kind: kind)
            if let id = known[key] ?? shared?.ids.withLock({ $0[key] }) { return id }
            if let id = try ReadingArchive.existingStreamID(subject: subject, kind: kind, db) {
                remember(key, id)
                return id
            }
            let id = try ReadingArchive.streamID(subject: subject, kind: kind, db)
            known[key] = id
            created[key] = id
            return id
        }

        /// The stream's id without creating it (nil: no reading of it was ever journaled).
        mutating func existing(subject: String, kind: ReadingKind, _ db: Database) throws -> Int64? {
            let key = Key(subject: subject, kind: kind)
            if let id = known[key] ?? shared?.ids.withLock({ $0[key] }) { return id }
            let id = try ReadingArchive.existingStreamID(subject: subject, kind: kind, db)
            if let id { remember(key, id) }
            return id
        }

        private mutating func remember(_ key: Key, _ id: Int64) {
            known[key] = id
            shared?.ids.withLock { $0[key] = id }
        }

        /// The streams this transaction created, for every later one (call once it has committed).
        func share() {
            guard !created.isEmpty else { return }
            shared?.ids.withLock { $0.merge(created) { old, _ in old } }
        }
    }

    /// The streams of a subject, by kind (one kind when given).
    static func streams(subject: String, kind: ReadingKind? = nil, _ db: Database) throws -> [Int64] {
        try ReadingStreamRecord.ids(subject: subject, kind: kind, db)
    }

    /// A reading's identity, template and encoded variation, computed before the journal's transaction.
    struct Prepared: Sendable {
        var identity: String
        var template: ReadingTemplate
        var body: [UInt8]
        /// Kept only as samples in the store (`SeriesReadings`): its template carries the payload's flags byte.
        var series: Bool { template.payloadPrefix != nil }

        /// As a series reading where nothing is lost by it, else as a row of its own.
        init(_ reading: Reading, asRow: Bool = false) {
            let (template, variation) = (asRow ? nil : SeriesReadings.split(reading)) ?? reading.split()
            identity = ReadingIdentity(of: reading, subject: reading.subject ?? "").hex
            self.template = template
            body = variation.encoded()
        }
    }

    /// Identities, templates and variations of readings that have a subject, computed on every core: the pure part of
    /// journaling, so the transaction that writes them holds the database only for the writing.
    static func prepare(_ readings: [Reading]) -> [Prepared] {
        guard readings.count >= 64 else { return readings.map { Prepared($0) } }
        let parts = 4
        let results = Mutex<[[Prepared]]>(Array(repeating: [], count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let range = (readings.count * part / parts)..<(readings.count * (part + 1) / parts)
            let done = readings[range].map { Prepared($0) }
            results.withLock { $0[part] = done }
        }
        return results.withLock { $0.flatMap { $0 } }
    }

    /// What `journal` wrote: each reading's ledger item (identity and the digest of what is stored), in the order a
    /// ledger entry's readings are read back (rows, then each span's readings by time); the rows; and the store tag
    /// of each reading's samples (its provenance entry for a series reading, in the order readings were given).
    struct Journaled {
        var items: [LedgerEntry.Item] = []
        var rows: [Int64] = []
        var tags: [UInt32?] = []
        /// The batch journaled (nil: nothing was).
        var batch: Int64?
    }

    /// Journals new readings and quarantines unmapped ones, and removes released quarantine rows, in one
    /// durable transaction. A reading anchored on receipt is written without its identity (found by stream and
    /// time instead), so the identity index — keyed by a hash, a random page per reading — holds only readings the
    /// device anchored; a series reading gets no row at all, only its part of a span.
    @discardableResult
    /// `marking`: batches marked stored in the same transaction (a mark deferred from the batch before).
    /// `rowsOnly`: every reading gets a row holding all it varies by, none joins a span (whose values only the store
    /// holds), so the readings are durable once the transaction commits (readings a device waits to have confirmed).
    func journal(
        _ readings: [(identity: String, reading: Reading)], prepared: [Prepared]? = nil, quarantine: [Reading],
        released: [Int64],
        marking: [(batch: Int64, ledgerSequence: Int?)] = [], rowsOnly: Bool = false
    ) throws -> Journaled {
        do {
            return try journalTransaction(
                readings, prepared: prepared ?? Self.prepare(readings.map(\.reading)), quarantine: quarantine,
                released: released, marking: marking,
                rowsOnly: rowsOnly)
        } catch {
            catalog.forgetUses()
            catalog.discardPending()
            registryWritten.withLock { $0.removeAll() }
            throw error
        }
    }

    /// The newest span of a stream, device and flags when readings from `low` to `high` may extend it: an extendable
    /// span, stored, ending before `low`, beginning no more than the look-back before `high`.
    private func extendableSpan(
        stream: Int64, device: String, flags: UInt16, before low: Int64, reaching high: Int64, _ db: Database
    ) throws -> (row: Int64, first: Int64)? {
        let candidates = try ReadingRecord.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT \(ReadingRecord.columns) FROM reading
                    WHERE stream = ? AND \(SeriesReadings.spanCondition) AND effective_micros >= ? AND effective_micros <= ?
                    ORDER BY effective_micros DESC LIMIT 16
                    """),
            arguments: [stream, high - SeriesReadings.maxSpanMicros, high])
        for row in candidates {
            guard let span = Self.span(of: row), span.flags == flags,
                (try? catalog.template(span.provenanceID, db))?.device.key == device
            else { continue }
            guard Self.isExtendable(row), row.isStored, span.last < low else { return nil }
            return (row.id, span.first)
        }
        return nil
    }

    private struct SpanKey: Hashable {
        var stream: Int64
        var device: String
        var flags: UInt16
    }

    private func journalTransaction(
        _ readings: [(identity: String, reading: Reading)], prepared: [Prepared], quarantine: [Reading],
        released: [Int64],
        marking: [(batch: Int64, ledgerSequence: Int?)], rowsOnly: Bool
    ) throws -> Journaled {
        var streams = StreamIDs(shared: knownStreams)
        catalog.discardPending()
        let journaled = try queue.write { db in
            try JournalBatches.Marker.mark(marking, db)
            var journaled = Journaled()
            journaled.items.reserveCapacity(readings.count)
            journaled.tags = Array(repeating: nil, count: readings.count)
            var prepared = prepared
            // Cached statements: a batch inserts hundreds of rows, each statement is prepared once.
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO reading (identity, stream, effective_micros, flags, provenance_id, stored, body, span_count, span_last_micros)
                    VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)
                    """)
            var streamOf: [Int64] = []
            streamOf.reserveCapacity(readings.count)
            var rowReadings: [Int] = []
            var groups: [SpanKey: [Int]] = [:]
            var groupOrder: [SpanKey] = []
            for (index, ((_, reading), item)) in zip(readings, prepared).enumerated() {
                let stream = try streams.id(subject: reading.subject ?? "", kind: reading.kind, db)
                streamOf.append(stream)
                guard item.series, !rowsOnly else {
                    if item.series { prepared[index] = Prepared(reading, asRow: true) }
                    rowReadings.append(index)
                    continue
                }
                let key = SpanKey(stream: stream, device: reading.device.key, flags: reading.flags.rawValue)
                if groups[key] == nil { groupOrder.append(key) }
                groups[key, default: []].append(index)
            }
            // Spans: runs of a group by time that no span already journaled overlaps, none longer than the index's
            // look-back. A reading inside an existing span's range is kept as a row (a span's readings are whatever
            // its range holds).
            var spans: [[Int]] = []
            var extensions: [(span: Int64, members: [Int])] = []
            var parts: [SpanPart] = []
            func keepAsRows(_ members: some Sequence<Int>) {
                for member in members {
                    prepared[member] = Prepared(readings[member].reading, asRow: true)
                    rowReadings.append(member)
                }
            }
            for key in groupOrder {
                var members = (groups[key] ?? []).enumerated()
                    .sorted { (a, b) in
                        let ta = readings[a.element].reading.time.effectiveMicros
                        let tb = readings[b.element].reading.time.effectiveMicros
                        return ta != tb ? ta < tb : a.offset < b.offset
                    }
                    .map(\.element)
                // One reading an instant: a span's readings are rebuilt per instant, and a repeated component (RR
                // intervals) takes every sample of its instant. A second reading at the same microsecond is a row.
                var instants = Set<Int64>()
                let sameInstant = members.filter {
                    !instants.insert(readings[$0].reading.time.effectiveMicros).inserted
                }
                if !sameInstant.isEmpty {
                    keepAsRows(sameInstant)
                    members.removeAll { sameInstant.contains($0) }
                }
                guard var low = members.first.map({ readings[$0].reading.time.effectiveMicros }),
                    let high = members.last.map({ readings[$0].reading.time.effectiveMicros })
                else { continue }
                // The strap's current span goes on: its newest readings extend it in place (one row rewritten), as long
                // as the span stays within the index's look-back.
                if let span = try extendableSpan(
                    stream: key.stream, device: key.device, flags: key.flags, before: low, reaching: high, db)
                {
                    let extending = members.prefix {
                        readings[$0].reading.time.effectiveMicros - span.first <= SeriesReadings.maxSpanMicros
                    }
                    if !extending.isEmpty {
                        extensions.append((span: span.row, members: Array(extending)))
                        members.removeFirst(extending.count)
                        guard let next = members.first else { continue }
                        low = readings[next].reading.time.effectiveMicros
                    }
                }
                // A few readings are cheaper as rows than as a span (its row, the look for spans it would overlap, and
                // every later read rebuilding them from the store): a hub whose cuffs flush a batch every few
                // milliseconds has a strap's notifications one or two per batch.
                guard members.count >= SeriesReadings.minimumSpanReadings else {
                    keepAsRows(members)
                    continue
                }
                let existing = try spanRows(stream: key.stream, overlapping: low..<(high + 1), storedOnly: false, db)
                    .compactMap { row in
                        Self.span(of: row).flatMap { span in
                            span.flags == key.flags
                                && (try? catalog.template(span.provenanceID, db))?.device.key == key.device ? span : nil
                        }
                    }
                var runs: [[Int]] = [[]]
                for member in members {
                    let time = readings[member].reading.time.effectiveMicros
                    if existing.contains(where: { $0.first <= time && time <= $0.last }) {
                        keepAsRows([member])
                        continue
                    }
                    if let start = runs[runs.count - 1].first.map({ readings[$0].reading.time.effectiveMicros }),
                        time - start > SeriesReadings.maxSpanMicros
                            || existing.contains(where: { $0.first <= time && $0.last >= start })
                    {
                        runs.append([])
                    }
                    runs[runs.count - 1].append(member)
                }
                for run in runs {
                    if run.count < SeriesReadings.minimumSpanReadings { keepAsRows(run) } else { spans.append(run) }
                }
            }
            rowReadings.sort()
            for index in rowReadings {
                let (identity, reading) = readings[index]
                let item = prepared[index]
                guard let key = IdentityKey.of(identity) else {
                    throw ReadingSplitError(description: "identity '\(identity)' is not hex")
                }
                let entry = try catalog.entry(of: item.template, db)
                try insert.execute(arguments: [
                    reading.identityAnchoredOnReceipt ? nil : key, streamOf[index], reading.time.effectiveMicros,
                    Int(reading.flags.rawValue),
                    entry.id, Data(item.body), nil, nil,
                ])
                journaled.rows.append(db.lastInsertedRowID)
                try catalog.noteUse(entry.id, row: db.lastInsertedRowID, db)
                journaled.items.append(
                    LedgerEntry.Item(
                        identity: ReadingIdentity(hex: identity),
                        digest: Self.digest(template: entry.digest, body: item.body)))
            }
            let extend = try db.cachedStatement(
                sql: "UPDATE reading SET span_count = span_count + ?, span_last_micros = ? WHERE id = ?")
            for (span, members) in extensions.map({ (Optional($0.span), $0.members) })
                + spans.map({ (Int64?.none, $0) })
            {
                guard let firstIndex = members.first, let lastIndex = members.last else { continue }
                let first = readings[firstIndex].reading
                let lastMicros = readings[lastIndex].reading.time.effectiveMicros
                var entries: [(id: Int64, digest: Data)] = []
                entries.reserveCapacity(members.count)
                for member in members { entries.append(try catalog.entry(of: prepared[member].template, db)) }
                let row: Int64
                if let span {
                    try extend.execute(arguments: [members.count, lastMicros, span])
                    row = span
                } else {
                    try insert.execute(arguments: [
                        nil, streamOf[firstIndex], first.time.effectiveMicros, Int(first.flags.rawValue), entries[0].id,
                        Self.extendableSpanBody,
                        members.count, lastMicros,
                    ])
                    row = db.lastInsertedRowID
                    journaled.rows.append(row)
                }
                parts.append(
                    SpanPart(span: row, from: first.time.effectiveMicros, to: lastMicros, count: members.count))
                for id in Set(entries.map(\.id)) { try catalog.noteUse(id, row: row, db) }
                for (member, entry) in zip(members, entries) {
                    guard let tag = SeriesReadings.tag(entry.id) else {
                        throw ReadingSplitError(
                            description: "provenance entry \(entry.id) is past what a sample's tag holds")
                    }
                    journaled.tags[member] = tag
                    journaled.items.append(
                        LedgerEntry.Item(
                            identity: ReadingIdentity(hex: readings[member].identity),
                            digest: Self.digest(template: entry.digest, body: prepared[member].body)))
                }
            }
            if !journaled.rows.isEmpty || !parts.isEmpty {
                let rows = journaled.rows.min().flatMap { first in journaled.rows.max().map { first...$0 } }
                journaled.batch = try JournalBatches.record(rows: rows, parts: parts, db)
            }
            try Self.hold(quarantine, released: released, db)
            try ReadIndexes.register(readings.map(\.reading), db, written: registryWritten)
            return journaled
        }
        // Committed: what the transaction created is known to the next one without a lookup.
        streams.share()
        catalog.commitPending()
        return journaled
    }

    /// Marks journaled rows as stored (their samples are durable in the store), with their ledger entry.
    /// `batches`: batches marked by id as well (one that only extended spans has no row to be found by).
    /// `marks`: batches marked with their own ledger entry (a deferred mark).
    func markStored(
        rows: [Int64], batches ids: [Int64] = [], marks: [(batch: Int64, ledgerSequence: Int?)] = [],
        ledgerSequence: Int?,
        storeLSN: UInt64? = nil, nowMicros: Int64 = Int64(Date().timeIntervalSince1970 * 1_000_000)
    ) throws {
        try queue.write { db in
            if let storeLSN, !ids.isEmpty {
                let record = try db.cachedStatement(sql: "UPDATE journal_batch SET store_lsn = ? WHERE id = ?")
                for id in ids { try record.execute(arguments: [Int64(bitPattern: storeLSN), id]) }
            }
            try JournalBatches.Marker.mark(marks, db)
            let update = try db.cachedStatement(
                sql: "UPDATE reading SET stored = 1, ledger_sequence = ? WHERE id BETWEEN ? AND ? AND stored = 0")
            var batches = JournalBatches.Marker()
            for id in ids { batches.note(batch: id) }
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

    /// The stored readings of the batches whose store append had one of `lsns` (a damaged log's lost numbers), and how
    /// many span rows among them were left out: a span's readings live in the store alone, so nothing can bring back
    /// what the log lost of them.
    func readings(ofBatchesWithStoreLSNs lsns: ClosedRange<UInt64>) throws -> (readings: [Reading], spans: Int) {
        try queue.read { db in
            let low = Int64(clamping: lsns.lowerBound)
            let high = Int64(clamping: lsns.upperBound)
            let batches = try JournalBatchRecord.fetchAll(
                db,
                sql: """
                    SELECT \(JournalBatchRecord.columns) FROM journal_batch
                    WHERE store_lsn BETWEEN ? AND ? AND first_row IS NOT NULL
                    """,
                arguments: [low, high])
            var readings: [Reading] = []
            var spans = 0
            for batch in batches {
                let rows = try ReadingRecord.fetchAll(
                    db, sql: "SELECT \(ReadingRecord.columns) FROM reading WHERE id BETWEEN ? AND ? AND stored = 1",
                    arguments: [batch.firstRow, batch.lastRow])
                for row in rows {
                    if Self.span(of: row) != nil {
                        spans += 1
                    } else {
                        readings.append(try reading(from: row, db))
                    }
                }
            }
            return (readings, spans)
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

    /// Readings journaled but not marked stored (a crash came between the journal and the mark), with their rows and
    /// ledger items (from what is on disk). A span whose samples never reached the store (the crash came before the
    /// append; its notifications were never confirmed) is settled first: its count becomes what the store holds, and
    /// a span with nothing left goes.
    struct Unstored {
        var row: Int64
        var identity: String
        var reading: Reading
        var item: LedgerEntry.Item
        /// Rebuilt from the store: its samples are there by construction.
        var series: Bool
    }

    /// Also the batches not marked (a suffix of the batches: they are marked in order): their parts of spans stored
    /// before (extensions) are settled to what the store holds, and their readings returned with the rest.
    func unstored() throws -> (readings: [Unstored], batches: [Int64]) {
        try queue.write { db in
            let rows = try ReadingRecord.fetchAll(
                db, sql: "SELECT \(ReadingRecord.columns) FROM reading WHERE stored = 0 ORDER BY id")
            var result: [Unstored] = []
            var unmarked: [Int64] = []
            let tail = try JournalBatchRecord.fetchCursor(
                db, sql: "SELECT \(JournalBatchRecord.columns) FROM journal_batch ORDER BY id DESC")
            var extensions: [(batch: Int64, parts: [SpanPart])] = []
            while let batch = try tail.next(), batch.feedSeq == nil {
                unmarked.append(batch.id)
                extensions.append((batch.id, try batch.spanParts()))
            }
            for (batch, parts) in extensions.reversed() where !parts.isEmpty {
                var settled: [SpanPart] = []
                for part in parts {
                    guard
                        let row = try ReadingRecord.fetchOne(
                            db, sql: "SELECT \(ReadingRecord.columns) FROM reading WHERE id = ?",
                            arguments: [part.span]),
                        let span = Self.span(of: row)
                    else { continue }
                    // A span journaled in this batch is settled with the rows below (its one part follows it).
                    guard row.isStored else {
                        settled.append(part)
                        continue
                    }
                    let items = try ledgerItems(of: row, within: part.from..<(part.to &+ 1), db)
                    let found = items.map(\.reading.time.effectiveMicros).max()
                    if items.count != part.count {
                        Self.logger.warning(
                            "a span extended before a stop holds fewer readings in the store; settled",
                            metadata: [
                                "row": "\(part.span)", "journaled": "\(part.count)", "in_store": "\(items.count)",
                            ])
                        var last = found
                        if last == nil {
                            last = try expanded(row, within: span.first..<part.from, db).map(
                                \.reading.time.effectiveMicros
                            ).max()
                        }
                        try db.execute(
                            sql: "UPDATE reading SET span_count = span_count + ?, span_last_micros = ? WHERE id = ?",
                            arguments: [
                                items.count - part.count, (part.to == span.last ? last : nil) ?? span.last, part.span,
                            ])
                    }
                    if let found {
                        settled.append(SpanPart(span: part.span, from: part.from, to: found, count: items.count))
                    }
                    result += items.map {
                        Unstored(
                            row: part.span, identity: $0.item.identity.hex, reading: $0.reading, item: $0.item,
                            series: true)
                    }
                }
                if settled != parts { try JournalBatches.replaceParts(of: batch, with: settled, db) }
            }
            for row in rows {
                let id = row.id
                let items = try ledgerItems(of: row, db)
                if let span = Self.span(of: row), span.count != items.count {
                    Self.logger.warning(
                        "a span journaled before a stop holds fewer readings in the store; settled",
                        metadata: [
                            "row": "\(id)", "journaled": "\(span.count)", "in_store": "\(items.count)",
                        ])
                    if items.isEmpty {
                        try db.execute(sql: "DELETE FROM reading WHERE id = ?", arguments: [id])
                    } else {
                        try db.execute(
                            sql: "UPDATE reading SET span_count = ? WHERE id = ?", arguments: [items.count, id])
                    }
                }
                let series = Self.span(of: row) != nil
                result += items.map {
                    Unstored(
                        row: id, identity: $0.item.identity.hex, reading: $0.reading, item: $0.item, series: series)
                }
                if Self.isExtendable(row) {
                    try settlePart(of: id, to: items.map(\.reading.time.effectiveMicros), unmarked: unmarked, db)
                }
            }
            return (result, unmarked.reversed())
        }
    }

    /// The part an unmarked batch holds of a span it journaled, made what the store holds (removed when nothing is).
    private func settlePart(of span: Int64, to times: [Int64], unmarked: [Int64], _ db: Database) throws {
        for batch in unmarked {
            guard
                let data = try Data.fetchOne(
                    db, sql: "SELECT parts FROM journal_batch WHERE id = ?", arguments: [batch])
            else { continue }
            let parts = try SpanPart.decode(data)
            guard parts.contains(where: { $0.span == span }) else { continue }
            let settled = parts.compactMap { part -> SpanPart? in
                guard part.span == span else { return part }
                guard let first = times.min(), let last = times.max() else { return nil }
                return SpanPart(span: span, from: first, to: last, count: times.count)
            }
            if settled != parts { try JournalBatches.replaceParts(of: batch, with: settled, db) }
            if let last = times.max() {
                try db.execute(sql: "UPDATE reading SET span_last_micros = ? WHERE id = ?", arguments: [last, span])
            }
        }
    }

    /// The archived reading with this identity (the ledger verifier's lookup).
    public func reading(identity: String) throws -> Reading? {
        try queue.read { db in
            guard let key = IdentityKey.of(identity),
                let row = try ReadingRecord.fetchOne(
                    db, sql: "SELECT \(ReadingRecord.columns) FROM reading WHERE identity = ?", arguments: [key])
            else { return nil }
            return try reading(from: row, db)
        }
    }

    /// Readings of a subject in [from, to) by effective time, oldest first.
    public func readings(subject: String, from: Int64 = .min, to: Int64 = .max, kind: ReadingKind? = nil) throws
        -> [Reading]
    {
        try queue.read { db in
            let streams = try Self.streams(subject: subject, kind: kind, db)
            guard !streams.isEmpty else { return [] }
            let marks = streams.map { _ in "?" }.joined(separator: ",")
            var rows = try ReadingRecord.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT \(ReadingRecord.columns) FROM reading WHERE stream IN (\(marks)) AND effective_micros >= ? AND effective_micros < ?
                        AND stored = 1 AND span_count IS NULL ORDER BY effective_micros, id
                        """),
                arguments: StatementArguments(streams) + [from, to])
            for stream in streams { rows += try spanRows(stream: stream, overlapping: from..<to, storedOnly: true, db) }
            return Self.ordered(
                rows.flatMap { row in
                    servable(row, within: from..<to, db).enumerated().map {
                        (row.id, $0.offset, $0.element.reading)
                    }
                }, descending: false)
        }
    }

    /// Readings in time order, ties by row and place in the row's span.
    static func ordered(_ readings: [(row: Int64, place: Int, reading: Reading)], descending: Bool) -> [Reading] {
        readings.sorted { a, b in
            let ta = a.reading.time.effectiveMicros
            let tb = b.reading.time.effectiveMicros
            let ascending = ta != tb ? ta < tb : (a.row != b.row ? a.row < b.row : a.place < b.place)
            return descending ? !ascending : ascending
        }.map(\.reading)
    }

    /// Subjects with readings, from the device registry (its primary key), not from a scan of every reading.
    public func subjects() throws -> [String] {
        try queue.read { db in
            try RegistryRecord.filter(RegistryRecord.Columns.subject != "")
                .select(RegistryRecord.Columns.subject, as: String.self).distinct()
                .order(RegistryRecord.Columns.subject).fetchAll(db)
        }
    }

    public func storedReadingCount() throws -> Int {
        try queue.read { db in
            try Int.fetchOne(db, sql: "SELECT COALESCE(sum(COALESCE(span_count, 1)), 0) FROM reading WHERE stored = 1")
                ?? 0
        }
    }
}
