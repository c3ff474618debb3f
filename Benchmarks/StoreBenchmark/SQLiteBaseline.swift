import Foundation
import GRDBSQLite
import TimeSeries

struct SQLiteError: Error, CustomStringConvertible {
    let description: String
}

/// The baseline: what one would write without a dedicated store — one SQLite table keyed by (series, time),
/// driven through the raw C API with prepared statements so no wrapper overhead is charged to SQLite.
///
/// WAL mode; `synchronous` is NORMAL (commits are not fsynced, only checkpoints: crash-consistent but the last
/// commits can be lost on power failure) or FULL (every commit fsyncs the WAL: as durable as our `append`).
final class SQLiteBaseline {
    let path: String
    private var db: OpaquePointer?

    init(path: String, synchronous: String) throws {
        self.path = path
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK else {
            throw SQLiteError(description: "cannot open \(path)")
        }
        try exec("PRAGMA journal_mode=WAL")
        try exec("PRAGMA synchronous=\(synchronous)")
        try exec(
            """
            CREATE TABLE IF NOT EXISTS samples(series_id INTEGER NOT NULL, ts INTEGER NOT NULL,
              value INTEGER NOT NULL, PRIMARY KEY(series_id, ts)) WITHOUT ROWID
            """)
    }

    deinit { sqlite3_close_v2(db) }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw error(sql) }
    }

    private func error(_ context: String) -> SQLiteError {
        SQLiteError(description: "\(context): \(String(cString: sqlite3_errmsg(db)))")
    }

    private func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK,
            let statement
        else { throw error(sql) }
        return statement
    }

    /// Inserts every batch in its own transaction (series id = workload index + 1, value = the integer mantissa).
    func insert(_ batches: [[SeriesSample]]) throws {
        let insert = try prepare("INSERT INTO samples(series_id, ts, value) VALUES (?1, ?2, ?3)")
        defer { sqlite3_finalize(insert) }
        for batch in batches {
            try exec("BEGIN")
            for entry in batch {
                sqlite3_bind_int64(insert, 1, entry.series + 1)
                sqlite3_bind_int64(insert, 2, entry.sample.timestampMicros)
                sqlite3_bind_int64(insert, 3, entry.sample.value.mantissa)
                guard sqlite3_step(insert) == SQLITE_DONE else { throw error("insert") }
                sqlite3_reset(insert)
            }
            try exec("COMMIT")
        }
    }

    /// Folds the WAL into the database file and truncates it, so the file sizes reflect the data.
    func checkpoint() throws { try exec("PRAGMA wal_checkpoint(TRUNCATE)") }

    /// The database and its WAL (after `checkpoint`, the WAL is empty).
    func diskBytes() -> Int {
        [path, path + "-wal"].reduce(0) {
            $0 + (((try? FileManager.default.attributesOfItem(atPath: $1))?[.size] as? Int) ?? 0)
        }
    }

    func rowCount() throws -> Int {
        let statement = try prepare("SELECT count(*) FROM samples")
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW else { throw error("count") }
        return Int(sqlite3_column_int64(statement, 0))
    }

    /// A prepared statement for 1-minute windows of one series, reused across repetitions like a server would.
    func windowQuery() throws -> WindowStatement { WindowStatement(try prepare(WindowStatement.sql), owner: self) }

    final class WindowStatement {
        static let sql = """
            SELECT (ts - ?1) / 60000000 AS w, count(*), min(value), max(value), avg(value)
            FROM samples WHERE series_id = ?2 AND ts >= ?1 AND ts < ?3 GROUP BY w ORDER BY w
            """
        private let statement: OpaquePointer
        private let owner: SQLiteBaseline

        fileprivate init(_ statement: OpaquePointer, owner: SQLiteBaseline) {
            self.statement = statement
            self.owner = owner
        }

        deinit { sqlite3_finalize(statement) }

        /// Steps every row; `into` collects the fingerprint that is compared with the store's answer.
        func run(series index: Int, range: Range<Int64>, into check: inout WindowCheck) throws {
            sqlite3_bind_int64(statement, 1, range.lowerBound)
            sqlite3_bind_int64(statement, 2, Int64(index) + 1)
            sqlite3_bind_int64(statement, 3, range.upperBound)
            defer { sqlite3_reset(statement) }
            while true {
                switch sqlite3_step(statement) {
                case SQLITE_ROW:
                    check.add(
                        count: Int(sqlite3_column_int64(statement, 1)),
                        min: Double(sqlite3_column_int64(statement, 2)),
                        max: Double(sqlite3_column_int64(statement, 3)),
                        mean: sqlite3_column_double(statement, 4))
                case SQLITE_DONE: return
                default: throw owner.error("window query")
                }
            }
        }
    }
}
