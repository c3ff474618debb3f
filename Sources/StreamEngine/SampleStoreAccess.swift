import Foundation
import Synchronization
import TimeSeries

/// How the archive (and the API's read model) reach the store that series readings live in: the store the engine
/// writes, inside the daemon; or, beside it (`gatewayd serve`, `verify`, `export` on the same data directory), a
/// read-only snapshot opened again whenever the store's files have changed since.
final class SampleStoreAccess: Sendable {
    private enum Source {
        case live(TimeSeriesStore)
        case snapshots(directory: String)
    }

    private let source: Mutex<Source>
    private let snapshot = Mutex<(store: TimeSeriesStore, fingerprint: [String: [Int]])?>(nil)

    init(directory: String) { source = Mutex(.snapshots(directory: directory)) }

    func use(_ store: TimeSeriesStore) { source.withLock { $0 = .live(store) } }

    func useSnapshots(of directory: String) {
        source.withLock { $0 = .snapshots(directory: directory) }
        snapshot.withLock { $0 = nil }
    }

    /// The store as of now. Nil when there is none (no store directory yet).
    func store() throws -> TimeSeriesStore? {
        let directory: String
        switch source.withLock({ $0 }) {
        case .live(let store): return store
        case .snapshots(let path): directory = path
        }
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
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory + "/wal")) ?? [] {
            add(directory + "/wal/" + name)
        }
        return result
    }
}
