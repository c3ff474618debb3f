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
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // Chunk rows must be durable before the log segments that held their samples are deleted.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // A chunk row is found by series and time through a small index; SQLite's default 2 MB cache per
            // connection held more of the catalog than a hub ever reads twice.
            try db.execute(sql: "PRAGMA cache_size = -256")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
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
            return (try allSeries(db), try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM chunk") ?? 0)
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
        try Row.fetchAll(db, sql: "SELECT id, subject, device, metric, sealed_lsn FROM series").map { row in
            (
                row["id"], SeriesKey(subject: row["subject"], device: row["device"], metric: row["metric"]),
                UInt64(bitPattern: row["sealed_lsn"] as Int64)
            )
        }
    }

    func insertSeries(_ key: SeriesKey) throws -> SeriesID {
        try pool.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO series (subject, device, metric) VALUES (?, ?, ?)",
                arguments: [key.subject, key.device, key.metric])
            guard
                let id = try Int64.fetchOne(
                    db, sql: "SELECT id FROM series WHERE subject = ? AND device = ? AND metric = ?",
                    arguments: [key.subject, key.device, key.metric])
            else { throw StoreError.catalog("series \(key) vanished right after it was inserted") }
            return id
        }
    }

    /// Records a sealed chunk and advances the series' sealed position in one transaction.
    func recordSealedChunk(_ chunk: ChunkRecord, sealedLSN: UInt64) throws -> Int64 {
        try pool.write { db in
            let id = try insert(chunk, db)
            try db.execute(
                sql: "UPDATE series SET sealed_lsn = ? WHERE id = ?",
                arguments: [Int64(bitPattern: sealedLSN), chunk.seriesID])
            return id
        }
    }

    private func insert(_ chunk: ChunkRecord, _ db: Database) throws -> Int64 {
        try db.execute(
            sql: """
                INSERT INTO chunk (series_id, kind, min_ts, max_ts, row_count, file, offset, length, stats, buckets)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                chunk.seriesID, chunk.kind.rawValue, chunk.minTimestampMicros, chunk.maxTimestampMicros,
                chunk.rowCount, chunk.file, chunk.offset, chunk.length,
                chunk.statistics.map { Data(StatisticsCoding.encode($0)) },
                try chunk.hourBuckets.map { Data(try RollupCodec.encode($0, compressionLevel: 3)) },
            ])
        return db.lastInsertedRowID
    }

    /// Replaces raw chunks by their rollups (retention), atomically.
    func replace(chunkIDs: [Int64], with rollups: [ChunkRecord]) throws {
        try pool.write { db in
            for id in chunkIDs { try db.execute(sql: "DELETE FROM chunk WHERE id = ?", arguments: [id]) }
            for rollup in rollups { _ = try insert(rollup, db) }
        }
    }

    /// Points chunks at new locations after their data file was compacted.
    func relocate(_ moves: [(id: Int64, file: Int, offset: Int)]) throws {
        try pool.write { db in
            for move in moves {
                try db.execute(
                    sql: "UPDATE chunk SET file = ?, offset = ? WHERE id = ?",
                    arguments: [move.file, move.offset, move.id])
            }
        }
    }

    func chunks(series: SeriesID, kind: ChunkRecord.Kind, overlapping range: Range<Int64>) throws -> [ChunkRecord] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM chunk WHERE series_id = ? AND kind = ? AND min_ts < ? AND max_ts >= ? AND id <= ?
                    ORDER BY min_ts, id
                    """,
                arguments: [series, kind.rawValue, range.upperBound, range.lowerBound, chunkLimit]
            ).map(cachedRecord)
        }
    }

    /// `record(_:)` with the decoded parts from the cache when this chunk was read before.
    private func cachedRecord(_ row: Row) throws -> ChunkRecord {
        let key = ContentKey(
            id: row["id"], kind: row["kind"], minimum: row["min_ts"], maximum: row["max_ts"], rows: row["row_count"],
            length: row["length"])
        if let known = decoded.withLock({ $0[key] }) {
            return ChunkRecord(
                id: key.id, seriesID: row["series_id"], kind: ChunkRecord.Kind(rawValue: key.kind) ?? .samples,
                minTimestampMicros: key.minimum,
                maxTimestampMicros: key.maximum, rowCount: key.rows, file: row["file"], offset: row["offset"],
                length: key.length,
                statistics: known.statistics, hourBuckets: known.hourBuckets)
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
            try Row.fetchAll(db, sql: "SELECT * FROM chunk WHERE id <= ? ORDER BY id", arguments: [chunkLimit]).map(
                Self.record)
        }
    }

    /// The end of the last chunk written to each data file: anything beyond it is an unrecorded partial write.
    func dataFileEnds() throws -> [Int: Int] {
        try pool.read { db in
            var ends: [Int: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT file, MAX(offset + length) AS e FROM chunk GROUP BY file") {
                ends[row["file"]] = row["e"]
            }
            return ends
        }
    }

    private static func record(_ row: Row) throws -> ChunkRecord {
        let stats: Data? = row["stats"]
        // Buckets are an optimisation: ones that do not decode are ignored and the chunk is decoded instead.
        let buckets: Data? = row.hasColumn("buckets") ? row["buckets"] : nil
        return ChunkRecord(
            id: row["id"], seriesID: row["series_id"], kind: ChunkRecord.Kind(rawValue: row["kind"]) ?? .samples,
            minTimestampMicros: row["min_ts"], maxTimestampMicros: row["max_ts"], rowCount: row["row_count"],
            file: row["file"], offset: row["offset"], length: row["length"],
            statistics: try stats.map { try StatisticsCoding.decode([UInt8]($0)) },
            hourBuckets: buckets.flatMap { try? RollupCodec.decode([UInt8]($0)[...]) })
    }
}
