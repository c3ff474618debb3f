import GRDB

/// How gatewayd opens each of its SQLite files (engine archive, outbox, hub store): WAL, so readers in other
/// processes (`serve`, `status`, `sync`) do not block the writer, and `synchronous = FULL`, so a committed
/// transaction survives a power cut — an acknowledgement or a share must never be undone by one.
///
/// `pageSize`: the page size of a file created now (an existing file keeps its own). Every commit writes each page it
/// touched to the WAL, so a file that commits a few small rows every few seconds — the engine archive journaling and
/// marking a batch of notifications — writes a quarter as much to the SD card with 1 KiB pages as with SQLite's
/// default 4 KiB.
public enum DurableDatabase {
    /// Each connection's page cache, KiB (SQLite's default is 2,000). The files' hot pages stay in the kernel's page
    /// cache anyway; what SQLite keeps on top is memory the gateway holds for every open file.
    static let cacheKiB = 512

    public static func open(path: String, busyTimeoutSeconds: Double? = nil, pageSize: Int? = nil) throws
        -> DatabaseQueue
    {
        var configuration = Configuration()
        if let busyTimeoutSeconds { configuration.busyMode = .timeout(busyTimeoutSeconds) }
        configuration.prepareDatabase { db in
            if let pageSize { try db.execute(sql: "PRAGMA page_size = \(pageSize)") }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA cache_size = -\(cacheKiB)")
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        return queue
    }
}
