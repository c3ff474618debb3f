import Foundation
import Provenance
import Synchronization
import TimeSeries

/// The read model the API queries: windows from the store (chunk statistics, rollups, only the edges decoded),
/// the newest readings from the archive's (subject, kind, time) index, and devices from the registry — so a
/// request costs what its answer costs, never a walk through a person's whole history.
///
/// Inside the daemon it reads the live store; beside a running daemon (`gatewayd serve` on the same data
/// directory) it reads a snapshot, opened again when the store's files have changed since.
public final class ReadModel: Sendable {
    public let archive: ReadingArchive
    private let live: TimeSeriesStore?
    private let directory: String?
    private let snapshot = Mutex<(store: TimeSeriesStore, fingerprint: [String: [Int]])?>(nil)

    /// Reads the store the engine writes (the daemon's own API).
    public init(archive: ReadingArchive, store: TimeSeriesStore) {
        self.archive = archive
        live = store
        directory = nil
    }

    /// Reads snapshots of the store in `storeDirectory`, which another process may hold for writing.
    public init(archive: ReadingArchive, storeDirectory: String) {
        self.archive = archive
        live = nil
        directory = storeDirectory
    }

    /// The store as of now: the live one, or a snapshot no older than the store's files. Nil when there is no store.
    public func store() throws -> TimeSeriesStore? {
        if let live { return live }
        guard let directory else { return nil }
        let fingerprint = Self.fingerprint(directory)
        if let current = snapshot.withLock({ $0 }), current.fingerprint == fingerprint { return current.store }
        guard FileManager.default.fileExists(atPath: directory + "/catalog.sqlite") else { return nil }
        let opened = try TimeSeriesStore(snapshotOf: directory)
        snapshot.withLock { $0 = (opened, fingerprint) }
        return opened
    }

    /// Sizes and modification times of the files a writer changes (log segments, catalog and its SQLite log).
    static func fingerprint(_ directory: String) -> [String: [Int]] {
        var result: [String: [Int]] = [:]
        func add(_ path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return }
            result[path] = [Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec)]
        }
        add(directory + "/catalog.sqlite")
        add(directory + "/catalog.sqlite-wal")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory + "/wal")) ?? [] { add(directory + "/wal/" + name) }
        return result
    }

    /// One series' windows in [range), aligned in `zone`; samples carrying any of `excludeFlags` are counted, not summed.
    public struct SeriesWindows: Sendable {
        public var key: SeriesKey
        public var result: WindowResult
    }

    /// The windows of every device's series of `metric` for `subject` that `include` accepts (asked before any
    /// window is computed, so a series the question does not need costs nothing).
    public func windows(
        subject: String, metric: Metric, range: Range<Int64>, widthMicros: Int64, zone: TimeZone, excludeFlags: ReadingFlags,
        include: (SeriesKey) throws -> Bool = { _ in true }
    ) throws -> [SeriesWindows] {
        guard let store = try store(), !range.isEmpty else { return [] }
        let series = store.allSeries().filter { $0.key.subject == subject && $0.key.metric == metric.rawValue }
        return try series.sorted { $0.key.device < $1.key.device }.compactMap { key, id in
            guard try include(key) else { return nil }
            return SeriesWindows(
                key: key,
                result: try store.windows(
                    WindowQuery(series: id, range: range, widthMicros: widthMicros, timeZone: zone, excludeFlags: excludeFlags.rawValue)))
        }
    }
}
