import Foundation
import GRDB
import Logging
import Provenance

/// The rows of `reading` as they were before migration v9 (identity as text, subject, device and kind per row, the
/// variation as JSON with metric and unit per component), converted once to compact rows: a 16-byte identity key,
/// a stream (subject, kind), the effective time, flags, the provenance id and a binary variation. Feed positions
/// and row ids are kept, so an outbox cursor and ledger lookups go on where they were.
enum CompactReadingRows {
    static let schema = """
        CREATE TABLE reading_stream (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, UNIQUE (subject, kind));
        CREATE TABLE reading (
            id INTEGER PRIMARY KEY, identity BLOB NOT NULL, stream INTEGER NOT NULL, effective_micros INTEGER NOT NULL,
            flags INTEGER NOT NULL, provenance_id INTEGER NOT NULL, stored INTEGER NOT NULL, ledger_sequence INTEGER,
            body BLOB NOT NULL);
        CREATE UNIQUE INDEX reading_by_identity ON reading(identity);
        CREATE INDEX reading_by_stream_time ON reading(stream, effective_micros);
        CREATE INDEX reading_unstored ON reading(stored) WHERE stored = 0;
        CREATE TABLE reading_feed (seq INTEGER PRIMARY KEY AUTOINCREMENT, reading INTEGER NOT NULL, stored_micros INTEGER NOT NULL);
        CREATE INDEX provenance_by_device ON provenance(device_key);
        """

    static let logger = Logger(label: "gatewayd.archive")

    /// Migration v9. A row that does not decode is kept as it was in `reading_unconverted` and logged: nothing is lost,
    /// and the rest converts.
    static func convert(_ db: Database, catalog: ProvenanceCatalog, path: String) throws {
        try db.execute(
            sql: """
                DROP INDEX IF EXISTS reading_by_subject_time; DROP INDEX IF EXISTS reading_by_subject_kind_time; DROP INDEX IF EXISTS reading_unstored;
                ALTER TABLE reading RENAME TO reading_v1;
                ALTER TABLE reading_feed RENAME TO reading_feed_v1;
                ALTER TABLE provenance RENAME TO provenance_v1;
                """)
        try db.execute(sql: ProvenanceCatalog.migration + ProvenanceCatalog.deviceMigration + ";" + schema)
        try db.execute(sql: "CREATE TABLE reading_unconverted AS SELECT * FROM reading_v1 WHERE 0")

        var templates: [Int64: ReadingTemplate] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, body FROM provenance_v1") {
            let body: Data = row["body"]
            if let template = try? JSONDecoder().decode(ReadingTemplate.self, from: body) {
                templates[row["id"]] = template
            }
        }
        var streams = ReadingArchive.StreamIDs()
        let insert = try db.makeStatement(
            sql: """
                INSERT INTO reading (id, identity, stream, effective_micros, flags, provenance_id, stored, ledger_sequence, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        var last: Int64 = 0
        var unconverted = 0
        while true {
            let rows = try Row.fetchAll(
                db, sql: "SELECT rowid AS rid, * FROM reading_v1 WHERE rowid > ? ORDER BY rowid LIMIT 5000",
                arguments: [last])
            guard let final = rows.last else { break }
            last = final["rid"]
            for row in rows {
                let rowid: Int64 = row["rid"]
                do {
                    let reading = try legacyReading(row, templates: templates)
                    guard let key = IdentityKey.of(row["identity"]) else {
                        throw ReadingSplitError(description: "identity '\(row["identity"] as String)' is not hex")
                    }
                    let stream = try streams.id(subject: reading.subject ?? "", kind: reading.kind, db)
                    let (template, variation) = reading.split()
                    try insert.execute(arguments: [
                        rowid, key, stream, reading.time.effectiveMicros, Int(reading.flags.rawValue),
                        try catalog.id(of: template, db),
                        row["stored"] as Int, row["ledger_sequence"] as Int?, Data(variation.encoded()),
                    ])
                } catch {
                    unconverted += 1
                    logger.error(
                        "a reading row could not be converted; kept unchanged in reading_unconverted",
                        metadata: [
                            "archive": "\(path)", "row": "\(rowid)", "error": "\(error)",
                        ])
                    try db.execute(
                        sql: "INSERT INTO reading_unconverted SELECT * FROM reading_v1 WHERE rowid = ?",
                        arguments: [rowid])
                }
            }
        }
        try db.execute(
            sql: """
                INSERT INTO reading_feed (seq, reading, stored_micros)
                SELECT f.seq, r.rowid, f.stored_micros FROM reading_feed_v1 f JOIN reading_v1 r ON r.identity = f.identity
                WHERE EXISTS (SELECT 1 FROM reading n WHERE n.id = r.rowid) ORDER BY f.seq;
                DROP TABLE reading_feed_v1; DROP TABLE reading_v1; DROP TABLE provenance_v1;
                """)
        if unconverted > 0 {
            logger.error("reading rows left unconverted", metadata: ["archive": "\(path)", "count": "\(unconverted)"])
        }
    }

    /// A row as written before v9: template id + JSON variation (v8), or the whole reading as JSON (before v8).
    static func legacyReading(_ row: Row, templates: [Int64: ReadingTemplate]) throws -> Reading {
        if let id: Int64 = row["provenance_id"], let body: Data = row["body"] {
            guard let template = templates[id] else {
                throw ReadingSplitError(description: "provenance entry \(id) is missing or damaged")
            }
            let variation = try JSONDecoder().decode(LegacyReadingVariation.self, from: body)
            return try Reading(legacyTemplate: template, variation: variation)
        }
        let json: Data = row["json"]
        return try JSONDecoder().decode(Reading.self, from: json)
    }
}

/// The per-reading part as migration v8 wrote it (JSON), read only by the v9 conversion. What varied per reading, kept small: times as offsets, components as [metric, unit, mantissa, exponent] (or
/// [metric, unit, absent reason]), payloads in base64.
struct LegacyReadingVariation: Codable {
    /// Effective time, µs.
    var e: Int64
    /// Receive time minus effective time, µs (0 for a reading stamped at its receive time).
    var r: Int64
    var c: [[ComponentField]]
    var p: [String]
    /// Device-reported sequence number (glucose).
    var s: UInt16?
    /// Device timestamp and glucose time offset, minutes.
    var d: DeviceWallClock?
    var o: Int?
    /// Glucose context sequence number.
    var g: UInt16?

    enum ComponentField: Codable, Hashable {
        case text(String)
        case number(Int64)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int64.self) {
                self = .number(number)
            } else {
                self = .text(try container.decode(String.self))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .number(let number): try container.encode(number)
            }
        }
    }
}

extension Reading {
    init(legacyTemplate template: ReadingTemplate, variation: LegacyReadingVariation) throws {
        var components: [ReadingComponent] = []  // as v8 stored them: metric and unit with each value
        for fields in variation.c {
            guard fields.count >= 3, case .text(let name) = fields[0], let metric = Metric(rawValue: name),
                case .text(let unit) = fields[1]
            else {
                throw ReadingSplitError(description: "a stored component is not [metric, unit, value…]: \(fields)")
            }
            switch (fields.count, fields[2]) {
            case (4, .number(let mantissa)):
                guard case .number(let exponent) = fields[3], let e = Int8(exactly: exponent) else {
                    throw ReadingSplitError(description: "a stored component has no valid exponent: \(fields)")
                }
                components.append(
                    ReadingComponent(
                        metric: metric, value: .quantity(DecimalQuantity(mantissa: mantissa, exponent: e)), unit: unit))
            case (3, .text(let text)):
                guard let reason = AbsentValueReason(rawValue: text) else {
                    throw ReadingSplitError(description: "unknown absent reason '\(text)'")
                }
                components.append(ReadingComponent(metric: metric, value: .absent(reason), unit: unit))
            default:
                throw ReadingSplitError(description: "a stored component is not [metric, unit, value…]: \(fields)")
            }
        }
        var payloads: [[UInt8]] = []
        for text in variation.p {
            guard let bytes = Data(base64Encoded: text) else {
                throw ReadingSplitError(description: "a stored payload is not base64")
            }
            payloads.append(Array(bytes))
        }
        var shaped = template
        shaped.shape = components.map { ReadingTemplate.ComponentShape(metric: $0.metric.rawValue, unit: $0.unit) }
        try self.init(
            template: shaped,
            variation: ReadingVariation(
                effectiveMicros: variation.e, receivedOffsetMicros: variation.r, values: components.map(\.value),
                payloads: payloads,
                sequence: variation.s, deviceTimestamp: variation.d, deviceTimeOffsetMinutes: variation.o,
                glucoseSequence: variation.g))
    }
}
