import Foundation
import GRDB
import Provenance
import Synchronization
import TimeSeries

/// What the API's reads need besides the store's windows, kept so each read costs what its answer costs: the device
/// registry (every device that gave a subject readings, by kind, with its newest record) and an index of readings by
/// subject, kind and time, so "the newest N of a kind" never walks a person's whole history.
enum ReadIndexes {
    static let migration = """
        CREATE TABLE subject_device (
            subject TEXT NOT NULL, device_key TEXT NOT NULL, kind TEXT NOT NULL, device_json TEXT NOT NULL,
            last_micros INTEGER NOT NULL, PRIMARY KEY (subject, device_key, kind));
        CREATE INDEX reading_by_subject_kind_time ON reading(subject, kind, effective_micros);
        """

    /// How stale a registry row's newest time may be: its row is written again only when a reading is this much newer
    /// than what this process last wrote (or the device's record changed), so a hub's straps do not rewrite the
    /// registry's pages with every batch. Ten minutes: a row holds the device's whole record (half a kilobyte), and a
    /// hundred straps rewriting theirs every minute were a sixth of what a hub wrote to its SD card.
    static let registryStalenessMicros: Int64 = 600_000_000

    /// What this process last wrote per registry row (key → device JSON and newest time).
    typealias Written = Mutex<[String: (json: String, micros: Int64)]>

    /// Registers the devices of readings being journaled: one row per (subject, device, kind), its record the newest.
    static func register(_ readings: [Reading], _ db: Database, written: borrowing Written) throws {
        var newest: [String: Reading] = [:]
        for reading in readings {
            guard let subject = reading.subject, !subject.isEmpty else { continue }
            let key = subject + "\u{0}" + reading.device.key + "\u{0}" + reading.kind.rawValue
            if let seen = newest[key], seen.time.effectiveMicros > reading.time.effectiveMicros { continue }
            newest[key] = reading
        }
        guard !newest.isEmpty else { return }
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO subject_device (subject, device_key, kind, device_json, last_micros) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT DO UPDATE SET device_json = excluded.device_json, last_micros = excluded.last_micros
                WHERE excluded.last_micros >= last_micros
                """)
        for (key, reading) in newest {
            let json = String(decoding: try ReadingArchive.encoder.encode(reading.device), as: UTF8.self)
            let micros = reading.time.effectiveMicros
            if let last = written.withLock({ $0[key] }), last.json == json,
                micros < last.micros + registryStalenessMicros
            {
                continue
            }
            try upsert.execute(arguments: [reading.subject, reading.device.key, reading.kind.rawValue, json, micros])
            written.withLock {
                if $0.count >= 4096 { $0.removeAll(keepingCapacity: true) }
                $0[key] = (json, max(micros, $0[key]?.micros ?? micros))
            }
        }
    }
}

/// A row of the device registry (`subject_device`): a device that gave `subject` readings of `kind`, with its newest
/// record as JSON. Written by `ReadIndexes.register`'s conditional upsert (only a newer record replaces a row).
struct RegistryRecord: SnakeCaseRecord, TableRecord {
    static let databaseTableName = "subject_device"

    var subject: String
    var deviceKey: String
    var kind: String
    var deviceJson: String
    var lastMicros: Int64

    enum Columns {
        static let subject = Column("subject")
        static let deviceKey = Column("device_key")
        static let kind = Column("kind")
        static let deviceJson = Column("device_json")
        static let lastMicros = Column("last_micros")
    }
}

/// A device that gave readings, and of which kinds.
public struct RegisteredDevice: Sendable {
    public var record: DeviceRecord
    public var kinds: Set<ReadingKind>
    public var subjects: Set<String>
    public var lastMicros: Int64
}

extension ReadingArchive {
    /// The devices that gave these subjects stored readings, by device key, each with its newest record.
    public func devices(subjects: [String]) throws -> [RegisteredDevice] {
        guard !subjects.isEmpty else { return [] }
        return try queue.read { db in
            var devices: [String: RegisteredDevice] = [:]
            // (A cached statement per count of subjects: see `ReadingStreamRecord.ids`.)
            let marks = subjects.map { _ in "?" }.joined(separator: ",")
            let rows = try RegistryRecord.fetchAll(
                db.cachedStatement(
                    sql: "SELECT * FROM subject_device WHERE subject IN (\(marks)) ORDER BY last_micros"),
                arguments: StatementArguments(subjects))
            for row in rows {
                guard let record = try? JSONDecoder().decode(DeviceRecord.self, from: Data(row.deviceJson.utf8)),
                    let kind = ReadingKind(rawValue: row.kind)
                else { continue }
                var device =
                    devices[record.key]
                    ?? RegisteredDevice(record: record, kinds: [], subjects: [], lastMicros: row.lastMicros)
                device.record = record
                device.kinds.insert(kind)
                device.subjects.insert(row.subject)
                device.lastMicros = row.lastMicros
                devices[record.key] = device
            }
            return devices.keys.sorted().compactMap { devices[$0] }
        }
    }

    /// The newest stored readings of a subject, newest first: of one kind when given, only those carrying one of
    /// `flags` when given. Walks each of the subject's (stream, time) index ranges backwards for `limit` rows — and its
    /// spans' index backwards until `limit` series readings are certain — and merges them, so the cost is `limit`
    /// readings per kind, never the whole history.
    public func newestReadings(
        subject: String, kind: ReadingKind? = nil, device: String? = nil, anyOf flags: ReadingFlags? = nil, limit: Int
    ) throws -> [Reading] {
        try queue.read { db in
            var filter = ""
            var extra: StatementArguments = []
            if let device {
                // Keyframes name their device; an entry compressed against one is of the same device (v17).
                filter += """
                     AND provenance_id IN (SELECT id FROM provenance WHERE device_key = ?
                     UNION ALL SELECT id FROM provenance WHERE base_id IN (SELECT id FROM provenance WHERE device_key = ?))
                    """
                extra += [device, device]
            }
            if let flags {
                filter += " AND (flags & ?) <> 0"
                extra += [Int(flags.rawValue)]
            }
            // Ties in time are ordered by row (the index's own order): readings anchored on receipt keep no identity.
            var found: [(row: Int64, place: Int, reading: Reading)] = []
            for stream in try Self.streams(subject: subject, kind: kind, db) {
                let rows = try ReadingRecord.fetchAll(
                    db.cachedStatement(
                        sql: """
                            SELECT \(ReadingRecord.columns) FROM reading WHERE stream = ? AND stored = 1 AND span_count IS NULL\(filter)
                            ORDER BY effective_micros DESC, id DESC LIMIT ?
                            """),
                    arguments: [stream] + extra + [limit])
                found += rows.flatMap { row in servable(row, db).map { (row.id, 0, $0.reading) } }
                found += try seriesReadings(
                    stream: stream, range: Int64.min..<Int64.max, descending: true, limit: limit, filter: filter,
                    arguments: extra, db)
            }
            return Array(Self.ordered(found, descending: true).prefix(limit))
        }
    }

    /// Up to `limit` series readings of a stream effective in `range`, from its spans (newest first when `descending`),
    /// each with its span's row and place: spans are taken in order of their first reading (the spans' index, which
    /// extending a span leaves alone) until no span not yet taken can hold one of the `limit` newest (oldest) — a span
    /// never covers more than `SeriesReadings.maxSpanMicros`.
    func seriesReadings(
        stream: Int64, range: Range<Int64>, descending: Bool, limit: Int, filter: String = "",
        arguments extra: StatementArguments = [],
        _ db: Database
    ) throws -> [(row: Int64, place: Int, reading: Reading)] {
        let order = descending ? "DESC" : "ASC"
        let cursor = try ReadingRecord.fetchCursor(
            db.cachedStatement(
                sql: """
                    SELECT \(ReadingRecord.columns) FROM reading
                    WHERE stream = ? AND \(SeriesReadings.spanCondition) AND effective_micros >= ? AND effective_micros < ? AND span_last_micros >= ?
                    AND stored = 1\(filter)
                    ORDER BY effective_micros \(order), id \(order)
                    """),
            arguments: [stream, Self.lookBack(range.lowerBound), range.upperBound, range.lowerBound] + extra)
        var found: [(row: Int64, place: Int, reading: Reading)] = []
        while let row = try cursor.next() {
            guard let span = Self.span(of: row) else { continue }
            if found.count >= limit {
                // No reading of this span or a later one can be among the `limit` newest (oldest) found.
                // Spans come by their first reading: one taken later begins no later (earlier) than this one.
                let times = found.map(\.reading.time.effectiveMicros).sorted()
                if descending, span.first &+ SeriesReadings.maxSpanMicros < times[times.count - limit] { break }
                if !descending, span.first > times[limit - 1] { break }
                // This span holds none of them (a later one still may: spans of a batch each, before v14, are short).
                if descending, span.last < times[times.count - limit] { continue }
                if !descending, span.first > times[limit - 1] { continue }
            }
            let id = row.id
            found += edgeReadings(of: row, span: span, range: range, descending: descending, limit: limit, db)
                .enumerated().map { (id, $0.offset, $0.element) }
        }
        return found
    }

    /// The `limit` newest (oldest) of a span's readings in `range`: rebuilt from its end (start) in widening steps, so
    /// a question for one reading rebuilds a few, not the span's thousands. Every span gives its own `limit` newest,
    /// so spans of two devices that overlap in time still merge exactly.
    func edgeReadings(
        of row: ReadingRecord, span: SeriesReadings.Span, range: Range<Int64>, descending: Bool, limit: Int,
        _ db: Database
    ) -> [Reading] {
        let lower = max(range.lowerBound, span.first)
        let upper = min(range.upperBound, span.last &+ 1)
        guard lower < upper else { return [] }
        let spacing = max(1, (span.last - span.first) / Int64(max(1, span.count - 1)))
        var width = spacing * Int64(limit) + 1
        var collected: [Reading] = []
        var edge = descending ? upper : lower
        while descending ? edge > lower : edge < upper {
            let step = descending ? max(lower, edge &- width)..<edge : edge..<min(upper, edge &+ width)
            let part = servable(row, within: step, db).map(\.reading)
            collected = descending ? part + collected : collected + part
            edge = descending ? step.lowerBound : step.upperBound
            if collected.count >= limit { break }
            width = width &* 2
        }
        return collected
    }

    /// Up to `limit` stored readings of one subject and kind effective in [from, to), newest first when
    /// `descending` (oldest first otherwise): one range of the (stream, time) index, so `limit` rows are read, and the
    /// spans that can hold one of them.
    public func readings(
        subject: String, kind: ReadingKind, from: Int64, to: Int64, descending: Bool, limit: Int
    ) throws -> [Reading] {
        try queue.read { db in
            guard let stream = try Self.streams(subject: subject, kind: kind, db).first, from < to else { return [] }
            let order = descending ? "DESC" : "ASC"
            let rows = try ReadingRecord.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT \(ReadingRecord.columns) FROM reading
                        WHERE stream = ? AND effective_micros >= ? AND effective_micros < ? AND stored = 1 AND span_count IS NULL
                        ORDER BY effective_micros \(order), id \(order) LIMIT ?
                        """),
                arguments: [stream, from, to, limit])
            var found = rows.flatMap { row in servable(row, db).map { (row.id, 0, $0.reading) } }
            found += try seriesReadings(stream: stream, range: from..<to, descending: descending, limit: limit, db)
            return Array(Self.ordered(found, descending: descending).prefix(limit))
        }
    }

    /// Stored readings whose identity starts with `prefix` (lowercase hex, at least 32 digits), through the identity
    /// key's index: how an Observation derived from a reading ("bpstatus-" + 48 digits of its identity) finds it.
    public func readings(identityPrefix prefix: String) throws -> [Reading] {
        guard prefix.allSatisfy({ $0.isHexDigit && !$0.isUppercase }), let key = IdentityKey.of(prefix) else {
            return []
        }
        return try queue.read { db in
            let found = readings(
                from: try ReadingRecord.fetchAll(
                    db, sql: "SELECT \(ReadingRecord.columns) FROM reading WHERE identity = ? AND stored = 1",
                    arguments: [key]), db)
            // Digits past the key are checked against the reading's identity.
            return found.filter { $0.identity?.hex.hasPrefix(prefix) ?? false }
        }
    }

    /// Stored readings of these subjects effective at `effectiveMicros` whose identity starts with `prefix` (at least 32
    /// lowercase hex digits): how the Observation of a reading anchored on receipt ("t" + time + identity digits),
    /// which keeps no identity key, is found — one probe of the (stream, time) index and of the spans' index per
    /// stream of the subjects.
    public func readings(effectiveMicros: Int64, identityPrefix prefix: String, subjects: [String]) throws -> [Reading]
    {
        guard prefix.count >= 32, prefix.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return [] }
        return try queue.read { db in
            var found: [Reading] = []
            let instant = effectiveMicros..<(effectiveMicros &+ 1)
            for subject in subjects {
                for stream in try Self.streams(subject: subject, db) {
                    var rows = try ReadingRecord.fetchAll(
                        db.cachedStatement(
                            sql: """
                                SELECT \(ReadingRecord.columns) FROM reading WHERE stream = ? AND effective_micros = ? AND stored = 1 AND span_count IS NULL
                                """),
                        arguments: [stream, effectiveMicros])
                    rows += try spanRows(stream: stream, overlapping: instant, storedOnly: true, db)
                    found += readings(from: rows, within: instant, db).filter {
                        $0.identity?.hex.hasPrefix(prefix) ?? false
                    }
                }
            }
            return found
        }
    }

    /// The archived copy of a reading, found as dedupe finds it (by identity key, or anchored on receipt by stream,
    /// time and identity); nil when it is not archived.
    public func archived(_ reading: Reading) throws -> Reading? {
        try queue.read { db in try located(reading, db).first?.reading }
    }

    /// The ledger entry a stored reading was recorded in (nil: not stored, or stored without a ledger).
    public func ledgerSequence(of reading: Reading) throws -> Int? {
        try queue.read { db in try located(reading, db).first { $0.stored }?.ledgerSequence }
    }

    /// The kinds of reading a subject has stored (from the device registry).
    public func kinds(subject: String) throws -> Set<ReadingKind> {
        try queue.read { db in
            Set(
                try String.fetchAll(
                    db.cachedStatement(sql: "SELECT DISTINCT kind FROM subject_device WHERE subject = ?"),
                    arguments: [subject]
                ).compactMap(ReadingKind.init))
        }
    }
}

/// A stream of readings (`reading_stream`): one subject's readings of one kind. Reading rows carry its id instead of
/// the subject and kind, and the index by (stream, time) answers "the newest N of a kind" without a scan.
struct ReadingStreamRecord: SnakeCaseRecord, MutablePersistableRecord {
    static let databaseTableName = "reading_stream"

    var id: Int64?
    var subject: String
    var kind: String

    enum Columns {
        static let id = Column("id")
        static let subject = Column("subject")
        static let kind = Column("kind")
    }

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The ids of a subject's streams, in order; of one kind when given. A cached statement, not a query-interface
    /// request: every read of a person's newest readings asks this, and a request is built and prepared anew each time
    /// (GatewayBenchmark's `$lastn` and `/Device` were 0.5–0.8 ms slower with requests here and in the registry).
    static func ids(subject: String, kind: ReadingKind?, _ db: Database) throws -> [Int64] {
        guard let kind else {
            return try Int64.fetchAll(
                db.cachedStatement(sql: "SELECT id FROM reading_stream WHERE subject = ? ORDER BY id"),
                arguments: [subject])
        }
        return try Int64.fetchAll(
            db.cachedStatement(sql: "SELECT id FROM reading_stream WHERE subject = ? AND kind = ?"),
            arguments: [subject, kind.rawValue])
    }
}
