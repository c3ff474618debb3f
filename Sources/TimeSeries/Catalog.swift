import Foundation
import GRDB
import Synchronization

/// Where a chunk lives and what it summarises, as the catalog records it.
struct ChunkRecord: Sendable {
    enum Kind: Int {
        case samples = 1
        case rollup = 2
    }
    var id: Int64
    var seriesID: SeriesID
    var kind: Kind
    var minTimestampMicros: Int64
    var maxTimestampMicros: Int64
    var rowCount: Int
    var file: Int
    var offset: Int
    var length: Int
    /// Present for sample chunks.
    var statistics: ChunkStatistics?
    /// Per-hour (UTC) statistics of a sample chunk, so a window query whose windows are whole hours answers a chunk
    /// spanning many windows without decoding it. Nil for chunks sealed before they existed (those are decoded).
    var hourBuckets: [RollupBucket]? = nil
}

/// The store's catalog in SQLite (WAL mode): series, chunk locations and statistics, and the per-series log
/// position up to which samples are sealed. Later issues add cursors, outbox and audit tables as further
/// migrations here; the schema only ever changes through `migrator`.
final class Catalog: Sendable {
    let pool: DatabasePool
    /// Read-only catalogs (a snapshot beside the writing process) see chunks up to this id only: a chunk the
    /// writer seals later holds samples the snapshot already has from the log.
    let maxChunkID: Int64?
    /// Decoded statistics and hour buckets of chunks already read, keyed by what identifies a chunk's content (its id
    /// alone could be given again after a delete): a week's hourly windows read ~70 chunk rows, and decoding their
    /// buckets was a tenth of a `$stats` request. Locations are always read afresh (compaction moves chunks).
    private let decoded = Mutex<[ContentKey: Decoded]>([:])
    private static let decodedLimit = 65_536

    struct ContentKey: Hashable {
        var id: Int64, kind: Int, minimum: Int64, maximum: Int64, rows: Int, length: Int
    }
    struct Decoded {
        var statistics: ChunkStatistics?
        var hourBuckets: [RollupBucket]?
    }

    init(path: String) throws {
        // Chunk rows must be durable before the log segments that held their samples are deleted (synchronous = FULL).
        // A chunk row is found by series and time through a small index; SQLite's default 2 MB cache per connection held
        // more of the catalog than a hub ever reads twice. Five readers: GRDB's default, as before.
        pool = try DurableDatabase.open(path: path, cacheKiB: 256, readers: 5)
        try Self.migrator.migrate(pool)
        maxChunkID = nil
    }

    /// Opens the catalog of a store another process may be writing, for reading only: no migration, no writes.
    /// Returns the catalog with its series as of one read transaction.
    static func readOnly(path: String) throws -> (Catalog, [(SeriesID, SeriesKey, UInt64)]) {
        var configuration = Configuration()
        configuration.readonly = true
        let pool = try DatabasePool(path: path, configuration: configuration)
        let (series, maxID) = try pool.read { db in
            guard try db.tableExists("chunk") else {
                throw StoreError.catalog("\(path) has no chunk table: not a gatewayd store")
            }
            let maxID = try ChunkRow.select(max(ChunkRow.Columns.id), as: Int64.self).fetchOne(db)
            return (try allSeries(db), maxID ?? 0)
        }
        return (Catalog(pool: pool, maxChunkID: maxID), series)
    }

    private init(pool: DatabasePool, maxChunkID: Int64) {
        self.pool = pool
        self.maxChunkID = maxChunkID
    }

    /// Keeps a read-only snapshot's chunk list as it was when the snapshot was taken.
    private var chunkLimit: Int64 { maxChunkID ?? Int64.max }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: series and chunks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE series (
                        id INTEGER PRIMARY KEY,
                        subject TEXT NOT NULL,
                        device TEXT NOT NULL,
                        metric TEXT NOT NULL,
                        sealed_lsn INTEGER NOT NULL DEFAULT 0,
                        UNIQUE (subject, device, metric)
                    );
                    CREATE TABLE chunk (
                        id INTEGER PRIMARY KEY,
                        series_id INTEGER NOT NULL REFERENCES series(id),
                        kind INTEGER NOT NULL,
                        min_ts INTEGER NOT NULL,
                        max_ts INTEGER NOT NULL,
                        row_count INTEGER NOT NULL,
                        file INTEGER NOT NULL,
                        offset INTEGER NOT NULL,
                        length INTEGER NOT NULL,
                        stats BLOB
                    );
                    CREATE INDEX chunk_by_series_time ON chunk(series_id, kind, min_ts);
                    """)
        }
        migrator.registerMigration("v2: per-hour statistics of sample chunks") { db in
            try db.execute(sql: "ALTER TABLE chunk ADD COLUMN buckets BLOB")
        }
        return migrator
    }

    func allSeries() throws -> [(SeriesID, SeriesKey, UInt64)] {
        try pool.read { db in try Self.allSeries(db) }
    }

    private static func allSeries(_ db: Database) throws -> [(SeriesID, SeriesKey, UInt64)] {
        try SeriesRow.fetchAll(db).map { row in (row.id ?? 0, row.key, UInt64(bitPattern: row.sealedLsn)) }
    }

    func insertSeries(_ key: SeriesKey) throws -> SeriesID {
        try pool.write { db in
            var row = SeriesRow(key)
            try row.insert(db, onConflict: .ignore)
            let stored = try SeriesRow.filter(
                Column("subject") == key.subject && Column("device") == key.device && Column("metric") == key.metric
            ).fetchOne(db)
            guard let id = stored?.id else {
                throw StoreError.catalog("series \(key) vanished right after it was inserted")
            }
            return id
        }
    }

    /// Records a sealed chunk and advances the series' sealed position in one transaction.
    func recordSealedChunk(_ chunk: ChunkRecord, sealedLSN: UInt64) throws -> Int64 {
        try pool.write { db in
            let id = try insert(chunk, db)
            try SeriesRow.filter(key: chunk.seriesID).updateAll(
                db, Column("sealed_lsn").set(to: Int64(bitPattern: sealedLSN)))
            return id
        }
    }

    private func insert(_ chunk: ChunkRecord, _ db: Database) throws -> Int64 {
        var row = ChunkRow(
            seriesId: chunk.seriesID, kind: chunk.kind.rawValue, minTs: chunk.minTimestampMicros,
            maxTs: chunk.maxTimestampMicros, rowCount: chunk.rowCount, file: chunk.file, offset: chunk.offset,
            length: chunk.length, stats: chunk.statistics.map { Data(StatisticsCoding.encode($0)) },
            buckets: try chunk.hourBuckets.map { Data(try RollupCodec.encode($0, compressionLevel: 3)) })
        try row.insert(db)
        return row.id ?? db.lastInsertedRowID
    }

    /// Replaces raw chunks by their rollups (retention), atomically.
    func replace(chunkIDs: [Int64], with rollups: [ChunkRecord]) throws {
        try pool.write { db in
            try ChunkRow.deleteAll(db, keys: chunkIDs)
            for rollup in rollups { _ = try insert(rollup, db) }
        }
    }

    /// Points chunks at new locations after their data file was compacted.
    func relocate(_ moves: [(id: Int64, file: Int, offset: Int)]) throws {
        try pool.write { db in
            for move in moves {
                try ChunkRow.filter(key: move.id).updateAll(
                    db, ChunkRow.Columns.file.set(to: move.file), ChunkRow.Columns.offset.set(to: move.offset))
            }
        }
    }

    func chunks(series: SeriesID, kind: ChunkRecord.Kind, overlapping range: Range<Int64>) throws -> [ChunkRecord] {
        try pool.read { db in
            let columns = ChunkRow.Columns.self
            return try ChunkRow.filter(
                columns.seriesId == series && columns.kind == kind.rawValue && columns.minTs < range.upperBound
                    && columns.maxTs >= range.lowerBound && columns.id <= chunkLimit
            )
            .order(columns.minTs, columns.id)
            .fetchAll(db)
            .map(cachedRecord)
        }
    }

    /// `record(_:)` with the decoded parts from the cache when this chunk was read before.
    private func cachedRecord(_ row: ChunkRow) throws -> ChunkRecord {
        let key = ContentKey(
            id: row.id ?? 0, kind: row.kind, minimum: row.minTs, maximum: row.maxTs, rows: row.rowCount,
            length: row.length)
        if let known = decoded.withLock({ $0[key] }) {
            return ChunkRecord(
                id: key.id, seriesID: row.seriesId, kind: ChunkRecord.Kind(rawValue: key.kind) ?? .samples,
                minTimestampMicros: key.minimum, maxTimestampMicros: key.maximum, rowCount: key.rows, file: row.file,
                offset: row.offset, length: key.length, statistics: known.statistics, hourBuckets: known.hourBuckets)
        }
        let record = try Self.record(row)
        decoded.withLock {
            if $0.count >= Self.decodedLimit { $0.removeAll(keepingCapacity: true) }
            $0[key] = Decoded(statistics: record.statistics, hourBuckets: record.hourBuckets)
        }
        return record
    }

    func allChunks() throws -> [ChunkRecord] {
        try pool.read { db in
            try ChunkRow.filter(ChunkRow.Columns.id <= chunkLimit).order(ChunkRow.Columns.id).fetchAll(db).map(
                Self.record)
        }
    }

    /// The end of the last chunk written to each data file: anything beyond it is an unrecorded partial write.
    func dataFileEnds() throws -> [Int: Int] {
        try pool.read { db in
            let columns = ChunkRow.Columns.self
            let ends = try ChunkRow.select(columns.file, max(columns.offset + columns.length).forKey("end"))
                .group(columns.file).asRequest(of: DataFileEnd.self).fetchAll(db)
            return Dictionary(uniqueKeysWithValues: ends.map { ($0.file, $0.end) })
        }
    }

    private static func record(_ row: ChunkRow) throws -> ChunkRecord {
        // Buckets are an optimisation: ones that do not decode are ignored and the chunk is decoded instead.
        ChunkRecord(
            id: row.id ?? 0, seriesID: row.seriesId, kind: ChunkRecord.Kind(rawValue: row.kind) ?? .samples,
            minTimestampMicros: row.minTs, maxTimestampMicros: row.maxTs, rowCount: row.rowCount, file: row.file,
            offset: row.offset, length: row.length,
            statistics: try row.stats.map { try StatisticsCoding.decode([UInt8]($0)) },
            hourBuckets: row.buckets.flatMap { try? RollupCodec.decode([UInt8]($0)[...]) })
    }
}
