import Foundation
import Provenance
import TimeSeries

/// The read model the API queries: windows from the store (chunk statistics, rollups, only the edges decoded),
/// the newest readings from the archive's (subject, kind, time) index, and devices from the registry — so a
/// request costs what its answer costs, never a walk through a person's whole history.
///
/// Inside the daemon it reads the live store; beside a running daemon (`gatewayd serve` on the same data
/// directory) it reads a snapshot, opened again when the store's files have changed since.
public final class ReadModel: Sendable {
    public let archive: ReadingArchive

    /// Reads the store the engine writes (the daemon's own API).
    public init(archive: ReadingArchive, store: TimeSeriesStore) {
        self.archive = archive
        archive.useStore(store)
    }

    /// Reads snapshots of the store in `storeDirectory`, which another process may hold for writing.
    public init(archive: ReadingArchive, storeDirectory: String) {
        self.archive = archive
        archive.useStoreSnapshots(of: storeDirectory)
    }

    /// The store as of now: the live one, or a snapshot no older than the store's files. Nil when there is no store.
    public func store() throws -> TimeSeriesStore? { try archive.sampleStore() }

    /// One series' windows in [range), aligned in `zone`; samples carrying any of `excludeFlags` are counted, not summed.
    public struct SeriesWindows: Sendable {
        public var key: SeriesKey
        public var result: WindowResult
    }

    /// The windows of every device's series of `metric` for `subject` that `include` accepts (asked before any
    /// window is computed, so a series the question does not need costs nothing).
    public func windows(
        subject: String, metric: Metric, range: Range<Int64>, widthMicros: Int64, zone: TimeZone,
        excludeFlags: ReadingFlags,
        include: (SeriesKey) throws -> Bool = { _ in true }
    ) throws -> [SeriesWindows] {
        guard let store = try store(), !range.isEmpty else { return [] }
        return try Self.series(of: store, subject: subject, metric: metric).compactMap { key, id in
            guard try include(key) else { return nil }
            return SeriesWindows(
                key: key,
                result: try store.windows(
                    WindowQuery(
                        series: id, range: range, widthMicros: widthMicros, timeZone: zone,
                        excludeFlags: excludeFlags.rawValue)))
        }
    }

    /// Every device's series of `metric` for `subject`, by device.
    public static func series(of store: TimeSeriesStore, subject: String, metric: Metric) -> [(
        key: SeriesKey, id: SeriesID
    )] {
        store.allSeries().filter { $0.key.subject == subject && $0.key.metric == metric.rawValue }.sorted {
            $0.key.device < $1.key.device
        }
        .map { ($0.key, $0.value) }
    }

    /// The samples without any of `excludeFlags` of every device's series of `metric` for `subject` that `include`
    /// accepts, in [range): for a statistic no summary holds (the median), at the cost of the samples in range.
    public func samples(
        subject: String, metric: Metric, range: Range<Int64>, excludeFlags: ReadingFlags,
        include: (SeriesKey) throws -> Bool = { _ in true }
    ) throws -> [(key: SeriesKey, samples: [Sample])] {
        guard let store = try store(), !range.isEmpty else { return [] }
        return try Self.series(of: store, subject: subject, metric: metric).compactMap { key, id in
            guard try include(key) else { return nil }
            return (key, try store.scan(id, range: range).samples.filter { $0.flags & excludeFlags.rawValue == 0 })
        }
    }
}
