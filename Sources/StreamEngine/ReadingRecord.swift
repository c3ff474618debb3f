import Foundation
import GRDB
import TimeSeries

/// A row of `reading`: one reading (its identity key, stream, time, flags, provenance entry and variation), or a span
/// of series readings whose values the store holds (`spanCount` set; see `SeriesReadings`).
///
/// Every read of the table selects `ReadingRecord.columns` and decodes rows through `init(row:)`, written out by
/// column instead of Codable's decoder: rows are decoded by the hundred on every read of a person's newest readings.
/// Readings are inserted by `journal`'s cached statement, hundreds per batch.
struct ReadingRecord: SnakeCaseRecord, TableRecord {
    static let databaseTableName = "reading"

    var id: Int64
    /// The reading's identity key (`IdentityKey`); nil for a reading anchored on receipt (found by stream and time)
    /// and for a span.
    var identity: Data?
    /// The `reading_stream` (subject and kind) it belongs to.
    var stream: Int64
    var effectiveMicros: Int64
    /// The reading's flags (`ReadingFlags`), the payload flags of a span's readings.
    var flags: Int64
    /// Its entry in the provenance catalog (a template every reading of the device shares).
    var provenanceId: Int64
    /// 1 once its samples are in the store (and its ledger entry written).
    var stored: Int64
    var ledgerSequence: Int?
    /// The encoded variation (`ReadingVariation`); for an extendable span, `ReadingArchive.extendableSpanBody`.
    var body: Data
    var spanCount: Int?
    var spanLastMicros: Int64?

    enum Columns {
        static let id = Column("id")
        static let identity = Column("identity")
        static let stream = Column("stream")
        static let effectiveMicros = Column("effective_micros")
        static let flags = Column("flags")
        static let provenanceId = Column("provenance_id")
        static let stored = Column("stored")
        static let ledgerSequence = Column("ledger_sequence")
        static let body = Column("body")
        static let spanCount = Column("span_count")
        static let spanLastMicros = Column("span_last_micros")
    }

    /// The columns every read selects (SQL), in the table's order.
    static let columns =
        "id, identity, stream, effective_micros, flags, provenance_id, stored, ledger_sequence, body, span_count, span_last_micros"

    static var databaseSelection: [any SQLSelectable] {
        [
            Columns.id, Columns.identity, Columns.stream, Columns.effectiveMicros, Columns.flags, Columns.provenanceId,
            Columns.stored, Columns.ledgerSequence, Columns.body, Columns.spanCount, Columns.spanLastMicros,
        ]
    }

    init(row: Row) throws {
        id = row[Columns.id]
        identity = row[Columns.identity]
        stream = row[Columns.stream]
        effectiveMicros = row[Columns.effectiveMicros]
        flags = row[Columns.flags]
        provenanceId = row[Columns.provenanceId]
        stored = row[Columns.stored]
        ledgerSequence = row[Columns.ledgerSequence]
        body = row[Columns.body]
        spanCount = row[Columns.spanCount]
        spanLastMicros = row[Columns.spanLastMicros]
    }

    var isStored: Bool { stored == 1 }
}
