import GRDB

/// How gatewayd opens each of its SQLite files (the store's catalog, engine archive, outbox, hub store): WAL, so readers — in this process or
/// in others (`serve`, `status`, `sync`) — do not block the writer, and `synchronous = FULL`, so a committed
/// transaction survives a power cut — an acknowledgement or a share must never be undone by one.
///
/// `pageSize`: the page size of a file created now (an existing file keeps its own). Every commit writes each page it
/// touched to the WAL, so a file that commits a few small rows every few seconds — the engine archive journaling and
/// marking a batch of notifications — writes a quarter as much to the SD card with 1 KiB pages as with SQLite's
/// default 4 KiB.
public enum DurableDatabase {
    /// Each connection's page cache, KiB (SQLite's default is 2,000). The files' hot pages stay in the kernel's page
    /// cache anyway; what SQLite keeps on top is memory the gateway holds for every open file.
    public static let cacheKiB = 512
    /// Readers beside the writer: an API request, a page and the sync pass read while a batch is written.
    public static let readers = 2

    /// A pool: one writer and `readers` readers, so a request reads while the pipeline writes instead of waiting for it.
    public static func open(
        path: String, busyTimeoutSeconds: Double? = nil, pageSize: Int? = nil, cacheKiB: Int = cacheKiB,
        readers: Int = readers
    ) throws -> DatabasePool {
        var configuration = Configuration()
        if let busyTimeoutSeconds { configuration.busyMode = .timeout(busyTimeoutSeconds) }
        configuration.maximumReaderCount = readers
        configuration.prepareDatabase { db in
            // Before the pool switches a new file to WAL: a WAL file's page size can no longer change.
            if let pageSize { try db.execute(sql: "PRAGMA page_size = \(pageSize)") }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA cache_size = -\(cacheKiB)")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        // The pool sets its writer to `synchronous = NORMAL` when it switches the file to WAL; a commit under NORMAL can
        // be lost in a power cut, so FULL again, after it.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }
}
