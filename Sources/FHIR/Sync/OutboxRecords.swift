import GRDB
import StreamEngine
import TimeSeries

/// A destination's read positions in the engine's two feeds. A row of `feed_position`.
struct FeedPositionRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "feed_position"

    var destination: String
    var summarySeq: Int64
    var readingSeq: Int64
}

/// One resource owed (or sent, or refused) to a destination. A row of `outbox_entry`.
struct OutboxEntryRecord: SnakeCaseRecord, TableRecord {
    static let databaseTableName = "outbox_entry"

    enum Columns {
        static let id = Column("id")
        static let destination = Column("destination")
        static let resourceKey = Column("resource_key")
        static let category = Column("category")
        static let version = Column("version")
        static let state = Column("state")
        static let lastError = Column("last_error")
        static let measuredMicros = Column("measured_micros")
        static let sentMicros = Column("sent_micros")
        static let sentVersion = Column("sent_version")
    }

    var id: Int64
    var resourceKey: String
    var subject: String
    var category: String
    var version: Int
    var method: String
    var url: String
    var ifNoneExist: String?
    var resource: String
    var measuredMicros: Int64

    /// The entry, unless its category is one this version does not know.
    var entry: Outbox.Entry? {
        Outbox.Entry.Category(rawValue: category).map {
            Outbox.Entry(
                resourceKey: resourceKey, subject: subject, category: $0, version: version, method: method, url: url,
                ifNoneExist: ifNoneExist, resource: resource, measuredMicros: measuredMicros)
        }
    }

    /// The entries of a destination in one state.
    static func of(_ destination: String, state: String) -> QueryInterfaceRequest<OutboxEntryRecord> {
        filter(Columns.destination == destination && Columns.state == state)
    }
}

/// What consent decides about an entry still owed: whose, what, and of which kind it left as.
struct OutboxConsentRecord: SnakeCaseRecord {
    var id: Int64
    var subject: String
    var category: String
    var kind: String?
}

/// How many entries of a destination are in one state.
struct OutboxStateCount: SnakeCaseRecord {
    var state: String
    var count: Int
}

/// An entry the destination refused, and why.
struct OutboxFailure: SnakeCaseRecord {
    var resourceKey: String
    var lastError: String?
}

/// A destination's backoff. A row of `destination_state`.
struct DestinationStateRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "destination_state"

    var destination: String
    var failures: Int
    var nextAttemptMicros: Int64
    var lastError: String?
    var lastSuccessMicros: Int64?
}

/// The consent rules last applied to a destination's queue. A row of `consent_applied`.
struct ConsentAppliedRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "consent_applied"

    var destination: String
    var rules: String
}
