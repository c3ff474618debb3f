import Foundation
import GRDB

/// One series and how far its samples are sealed into chunks. A row of `series`.
struct SeriesRow: SnakeCaseRecord, MutablePersistableRecord {
    static let databaseTableName = "series"

    var id: Int64?
    var subject: String
    var device: String
    var metric: String
    var sealedLsn: Int64 = 0

    init(_ key: SeriesKey) { (subject, device, metric) = (key.subject, key.device, key.metric) }

    var key: SeriesKey { SeriesKey(subject: subject, device: device, metric: metric) }

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Where one chunk lives and its encoded statistics. A row of `chunk`.
struct ChunkRow: SnakeCaseRecord, MutablePersistableRecord {
    static let databaseTableName = "chunk"

    enum Columns {
        static let id = Column("id")
        static let seriesId = Column("series_id")
        static let kind = Column("kind")
        static let minTs = Column("min_ts")
        static let maxTs = Column("max_ts")
        static let file = Column("file")
        static let offset = Column("offset")
        static let length = Column("length")
    }

    var id: Int64?
    var seriesId: Int64
    var kind: Int
    var minTs: Int64
    var maxTs: Int64
    var rowCount: Int
    var file: Int
    var offset: Int
    var length: Int
    var stats: Data?
    /// Absent from catalogs written before per-hour statistics (read-only snapshots are not migrated).
    var buckets: Data?

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The end of the last chunk written to one data file.
struct DataFileEnd: SnakeCaseRecord {
    var file: Int
    var end: Int
}
