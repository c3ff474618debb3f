import GRDB

/// How gatewayd opens each of its SQLite files (engine archive, outbox, hub store): WAL, so readers in other
/// processes (`serve`, `status`, `sync`) do not block the writer, and `synchronous = FULL`, so a committed
/// transaction survives a power cut — an acknowledgement or a share must never be undone by one.
public enum DurableDatabase {
    public static func open(path: String, busyTimeoutSeconds: Double? = nil) throws -> DatabaseQueue {
        var configuration = Configuration()
        if let busyTimeoutSeconds { configuration.busyMode = .timeout(busyTimeoutSeconds) }
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        return queue
    }
}
