import Foundation
import Logging
import Metrics

/// The embedded time-series store: durable appends through a group-committed write-ahead log, immutable
/// column-encoded chunks, a SQLite catalog, window queries and retention with rollups.
///
/// Thread model: the log thread applies durable batches to in-memory heads and seals full heads; callers
/// query from any thread. `stateLock` guards heads and series maps; `sealLock` serialises sealing so the
/// per-series sealed log position only moves forward.
public final class TimeSeriesStore: @unchecked Sendable {
    public let directory: String
    public let configuration: StoreConfiguration
    /// A snapshot of a store another process writes (see `init(snapshotOf:)`): queries only, appends refused.
    public let isReadOnly: Bool
    let logger: Logger
    let catalog: Catalog
    let files: ChunkFiles
    private var wal: WriteAheadLog!

    struct Head {
        var samples = HeadSamples()
        var lastLSN: UInt64 = 0
        var minTime = Int64.max
        var maxTime = Int64.min
    }

    let stateLock = NSLock()
    private let sealLock = NSLock()
    var heads: [SeriesID: Head] = [:]
    /// A read-only snapshot's unsealed samples, encoded as a chunk is (about a byte a sample instead of 32) and decoded
    /// for a query that reaches them: `gatewayd serve` beside a daemon holds a week of ten straps' heads in ~1 MB.
    private var frozenHeads: [SeriesID: (bytes: [UInt8], count: Int, minTime: Int64, maxTime: Int64)] = [:]
    /// The frozen heads decoded most recently (at most `decodedHeadLimit` series: a request asks for the same few again
    /// and again — a strap's readings alone read its heart-rate, RR and energy series).
    private var decodedHeads: [(id: SeriesID, samples: [Sample])] = []
    private static let decodedHeadLimit = 4
    var keysByID: [SeriesID: SeriesKey] = [:]
    private var idsByKey: [SeriesKey: SeriesID] = [:]
    private var sealedLSN: [SeriesID: UInt64] = [:]
    private var closed = false
    /// An exclusive flock on DIR/LOCK for as long as the store is open: a second process replaying the log could
    /// take the tail the first is writing for a torn one and truncate it.
    private var lockDescriptor: Int32 = -1

    private let appendedCounter = Counter(label: "timeseries_samples_appended_total")
    private let sealedCounter = Counter(label: "timeseries_chunks_sealed_total")
    let corruptCounter = Counter(label: "timeseries_corrupt_chunks_total")

    /// Whether another process (a running daemon) has the store in `directory` open: its lock is held. Nothing is
    /// opened or created when there is no store yet.
    public static func isOpenElsewhere(directory: String) -> Bool {
        let descriptor = open(directory + "/LOCK", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { _ = Glibc.close(descriptor) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return errno == EWOULDBLOCK }
        _ = flock(descriptor, LOCK_UN)
        return false
    }

    /// Opens (or creates) a store in `directory`, replaying the write-ahead log.
    public init(
        directory: String, configuration: StoreConfiguration = .init(),
        logger: Logger = Logger(label: "gatewayd.timeseries")
    ) throws {
        self.directory = directory
        self.configuration = configuration
        self.logger = logger
        isReadOnly = false
        try Directory.create(directory)
        lockDescriptor = open(directory + "/LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockDescriptor >= 0, Self.lock(lockDescriptor) else {
            if lockDescriptor >= 0 { _ = Glibc.close(lockDescriptor) }
            throw StoreError.inUse(directory)
        }
        catalog = try Catalog(path: directory + "/catalog.sqlite")
        files = try ChunkFiles(
            directory: directory + "/chunks", maxFileBytes: configuration.dataFileMaxBytes,
            cataloguedEnds: try catalog.dataFileEnds())
        for (id, key, sealed) in try catalog.allSeries() {
            keysByID[id] = key
            idsByKey[key] = id
            sealedLSN[id] = sealed
        }
        var replayed = 0
        var skipped = 0
        wal = try WriteAheadLog(
            directory: directory + "/wal", configuration: configuration.groupCommit, logger: logger
        ) { lsn, kind, entries in
            if kind == .checkpoint { self.heads.removeAll() }
            for entry in entries {
                if lsn <= self.sealedLSN[entry.series, default: 0] {
                    skipped += 1
                    continue
                }
                self.applyToHead(entry, lsn: lsn)
                replayed += 1
            }
        }
        if !wal.damage.isEmpty {
            Counter(label: "timeseries_wal_damaged_ranges_total").increment(by: wal.damage.count)
        }
        logger.info(
            "store opened",
            metadata: ["store.dir": "\(directory)", "wal.replayed": "\(replayed)", "wal.already_sealed": "\(skipped)"])
        wal.start(
            onDurable: { [unowned self] lsn, entries in self.applyDurable(lsn: lsn, entries: entries) },
            afterAcknowledge: { [unowned self] in self.sealAfterCommit() },
            liveSamples: { [unowned self] in self.liveSamples() },
            liveCount: { [unowned self] in
                self.stateLock.locked { self.heads.values.reduce(0) { $0 + $1.samples.count } }
            })
        try sealFullHeads()
    }

    /// Opens a read-only snapshot of a store that another process (a running gatewayd) may be writing, so
    /// `gatewayd status`, `query` and the API can answer from the one store while the daemon keeps appending.
    ///
    /// It takes no lock and changes no file. The log is read first, then the catalog in one read transaction:
    /// samples the writer sealed in between are taken from their chunks and dropped from the heads (their log
    /// position is at or below the series' sealed position), and chunks sealed after that transaction are not
    /// seen (their samples are in the heads already, or were appended after the snapshot). A log segment that a
    /// checkpoint deletes while it is being read makes the snapshot start again. Samples appended later are not
    /// seen: open a new snapshot for newer data.
    public init(
        snapshotOf directory: String, configuration: StoreConfiguration = .init(),
        logger: Logger = Logger(label: "gatewayd.timeseries")
    ) throws {
        self.directory = directory
        self.configuration = configuration
        self.logger = logger
        isReadOnly = true
        guard FileManager.default.fileExists(atPath: directory + "/catalog.sqlite") else {
            throw StoreError.missing(directory)
        }
        // Sealed positions only move forward: entries at or below the ones read before the log are in chunks for
        // sure and are not kept while the log is read (a log can hold millions of sealed samples).
        let (_, before) = try Catalog.readOnly(path: directory + "/catalog.sqlite")
        var alreadySealed: [SeriesID: UInt64] = [:]
        for (id, _, sealed) in before { alreadySealed[id] = sealed }
        let live = try Self.readLog(directory + "/wal", skippingSealed: alreadySealed)
        let (catalog, series) = try Catalog.readOnly(path: directory + "/catalog.sqlite")
        self.catalog = catalog
        files = ChunkFiles(readingDirectory: directory + "/chunks")
        for (id, key, sealed) in series {
            keysByID[id] = key
            idsByKey[key] = id
            sealedLSN[id] = sealed
        }
        for (id, samples) in live {
            // Sealed while the log was read: in chunks now, so dropped here.
            let kept = samples.samples.indices.filter { samples.lsns[$0] > sealedLSN[id, default: 0] }
            guard !kept.isEmpty else { continue }
            let head = kept.map { samples.samples[$0] }
            let times = head.map(\.timestampMicros)
            let encoded = try ChunkEncoder.encode(head, compressionLevel: 1).bytes
            frozenHeads[id] = (encoded, head.count, times.min() ?? .max, times.max() ?? .min)
        }
        closed = true  // nothing to stop: no log thread, no lock
        // The log's samples were held decoded while the snapshot opened; give that memory back to the system now
        // rather than keeping it as the process's high-water mark.
        Self.returnFreeMemory()
    }

    /// The unsealed samples of the log as it is on disk, by series, each with its record's position; read again when
    /// a checkpoint replaced the segments meanwhile. Applied as they are read (not kept as records first), so a
    /// snapshot holds each live sample once while it opens.
    private static func readLog(
        _ directory: String, skippingSealed sealed: [SeriesID: UInt64]
    ) throws -> [SeriesID: (samples: [Sample], lsns: [UInt64])] {
        var attempt = 0
        while true {
            var live: [SeriesID: (samples: [Sample], lsns: [UInt64])] = [:]
            do {
                try WriteAheadLog.readOnlyReplay(directory: directory) { lsn, kind, entries in
                    if kind == .checkpoint { live.removeAll() }
                    for entry in entries where lsn > sealed[entry.series, default: 0] {
                        live[entry.series, default: ([], [])].samples.append(entry.sample)
                        live[entry.series, default: ([], [])].lsns.append(lsn)
                    }
                }
                return live
            } catch {
                guard error.code == ENOENT, attempt < 8 else { throw StoreError.io(error) }
                attempt += 1
            }
        }
    }

    deinit { close() }

    /// glibc's `malloc_trim(0)` when the C library has it (found at run time: not every libc does, and Swift's Glibc
    /// module does not declare it).
    private static func returnFreeMemory() {
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }

    /// The width of the per-chunk statistics kept with every sealed chunk (UTC hours).
    static let bucketWidthMicros: Int64 = 3_600_000_000

    /// Refuses a change to a read-only snapshot, naming the store.
    func requireWritable() throws {
        if isReadOnly { throw StoreError.readOnly(directory) }
    }

    /// Takes the exclusive lock, waiting up to half a second: a process spawned while the lock's last holder had it
    /// open holds the same open file (and so the lock) until it has exec'd, although the descriptor is close-on-exec.
    static func lock(_ descriptor: Int32) -> Bool {
        for attempt in 0..<10 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            guard errno == EWOULDBLOCK, attempt < 9 else { return false }
            usleep(50_000)
        }
        return false
    }

    /// Stops the log thread after finishing queued appends. Unsealed samples stay in the log for the next open.
    public func close() {
        let wasOpen = stateLock.locked { () -> Bool in
            defer { closed = true }
            return !closed
        }
        if wasOpen {
            wal?.stop()
            if lockDescriptor >= 0 { _ = Glibc.close(lockDescriptor) }
        }
    }

    // MARK: Series

    /// The id of a series, creating it on first use.
    public func series(_ key: SeriesKey) throws -> SeriesID {
        if let id = stateLock.locked({ idsByKey[key] }) { return id }
        try requireWritable()
        let id = try catalog.insertSeries(key)
        stateLock.locked {
            idsByKey[key] = id
            keysByID[id] = key
        }
        return id
    }

    public func existingSeries(_ key: SeriesKey) -> SeriesID? { stateLock.locked { idsByKey[key] } }

    public func allSeries() -> [SeriesKey: SeriesID] { stateLock.locked { idsByKey } }

    /// What opening the write-ahead log found damaged: the records after each damaged range were replayed; the samples
    /// the damaged bytes held are missing from the heads until the caller appends them again.
    public var walDamage: [WALDamage] { wal?.damage ?? [] }

    /// The latest sample time in the series' sealed chunks (samples or rollups); nil when nothing of it is sealed.
    /// Every later sample of the series is in its head, so in the write-ahead log.
    public func sealedThrough(_ id: SeriesID) throws -> Int64? {
        let everything = Int64.min..<Int64.max
        return try
            (catalog.chunks(series: id, kind: .samples, overlapping: everything)
            + catalog.chunks(series: id, kind: .rollup, overlapping: everything)).map(\.maxTimestampMicros).max()
    }

    func key(for id: SeriesID) -> SeriesKey {
        stateLock.locked { keysByID[id] } ?? SeriesKey(subject: "?", device: "?", metric: "\(id)")
    }

    // MARK: Appending

    /// Appends samples durably: returns only when they are on stable storage (write-ahead log fsynced).
    public func append(_ samples: [Sample], to series: SeriesID) async throws {
        try await append(samples.map { SeriesSample(series: series, sample: $0) })
    }

    /// Appends samples of any series in one durable batch; returns its log sequence number (0 for no samples), which
    /// a damaged log names when it lost the batch (`WALDamage.lostLSNs`).
    @discardableResult
    public func append(_ entries: [SeriesSample]) async throws -> UInt64 {
        try requireWritable()
        guard !entries.isEmpty else { return 0 }
        let unknown = stateLock.locked { entries.first { keysByID[$0.series] == nil } }
        if let unknown {
            throw StoreError.invalidArgument(name: "series", problem: "series id \(unknown.series) does not exist")
        }
        let lsn = try await wal.append(entries)
        appendedCounter.increment(by: Int64(entries.count))
        return lsn
    }

    /// Mutates the head in place: copying it out of the dictionary and back would copy every sample of the
    /// head for every appended sample.
    private func applyToHead(_ entry: SeriesSample, lsn: UInt64) {
        let t = entry.sample.timestampMicros
        heads[entry.series, default: Head()].samples.append(entry.sample)
        heads[entry.series, default: Head()].lastLSN = lsn
        if t < heads[entry.series, default: Head()].minTime { heads[entry.series, default: Head()].minTime = t }
        if t > heads[entry.series, default: Head()].maxTime { heads[entry.series, default: Head()].maxTime = t }
    }

    /// Runs on the log thread, under the log's I/O lock, before the batch's callers are resumed: a reader that
    /// saw `append` return sees the samples.
    private func applyDurable(lsn: UInt64, entries: [SeriesSample]) {
        stateLock.locked {
            for entry in entries { applyToHead(entry, lsn: lsn) }
        }
    }

    /// Runs on the log thread after the callers were resumed, so sealing never delays an acknowledgement.
    private func sealAfterCommit() {
        do { try sealFullHeads() } catch {
            logger.error("sealing failed; samples stay in the log", metadata: ["store.error": "\(error)"])
        }
    }

    private func liveSamples() -> [SeriesSample] {
        sealLock.locked {
            stateLock.locked {
                heads.flatMap { id, head in head.samples.decoded().map { SeriesSample(series: id, sample: $0) } }
            }
        }
    }

    // MARK: Sealing

    private func isFull(_ head: Head) -> Bool {
        head.samples.count >= configuration.chunkMaxSamples
            || (!head.samples.isEmpty && head.maxTime &- head.minTime >= configuration.chunkMaxSpanMicros)
    }

    private func sealFullHeads() throws {
        let full = stateLock.locked { heads.filter { isFull($0.value) }.map(\.key) }
        for id in full { try seal(id) }
    }

    /// Seals every non-empty head into a chunk (e.g. at the end of an import, or before measuring size).
    /// Afterwards the log is checkpointed, so it no longer holds what the chunks now hold.
    public func sealAll() throws {
        try requireWritable()
        let ids = stateLock.locked { heads.filter { !$0.value.samples.isEmpty }.map(\.key) }
        for id in ids.sorted() { try seal(id) }
        try wal.checkpointNow()
    }

    /// Seals one series' head: encode, write and fsync the chunk, then record it and advance the series'
    /// sealed log position in one catalog transaction, and only then drop the samples from the head.
    private func seal(_ id: SeriesID) throws {
        try sealLock.locked {
            guard let head = stateLock.locked({ heads[id] }), !head.samples.isEmpty else { return }
            let taken = head.samples.count
            let samples = head.samples.decoded()
            let (bytes, stats) = try ChunkEncoder.encode(samples, compressionLevel: configuration.compressionLevel)
            let location = try files.append(bytes)
            let record = ChunkRecord(
                id: 0, seriesID: id, kind: .samples, minTimestampMicros: stats.minTimestampMicros,
                maxTimestampMicros: stats.maxTimestampMicros, rowCount: stats.count, file: location.file,
                offset: location.offset, length: bytes.count, statistics: stats,
                hourBuckets: RollupCodec.buckets(of: samples, widths: [Self.bucketWidthMicros]))
            try stateLock.locked {
                _ = try catalog.recordSealedChunk(record, sealedLSN: head.lastLSN)
                sealedLSN[id] = head.lastLSN
                guard var current = heads[id] else { return }
                current.samples = current.samples.dropping(first: taken)
                if current.samples.isEmpty {
                    heads[id] = nil
                } else {
                    current.minTime = .max
                    current.maxTime = .min
                    // HeadSamples decodes as it goes (its own forEach, not a Sequence's): no array is built.
                    // swift-format-ignore: ReplaceForEachWithForLoop
                    current.samples.forEach { sample in
                        current.minTime = min(current.minTime, sample.timestampMicros)
                        current.maxTime = max(current.maxTime, sample.timestampMicros)
                    }
                    heads[id] = current
                }
            }
            sealedCounter.increment()
            logger.debug(
                "sealed chunk",
                metadata: ["series.id": "\(id)", "chunk.samples": "\(taken)", "chunk.bytes": "\(bytes.count)"])
        }
    }

    // MARK: Reading

    /// A consistent view of one series: its catalogued chunks and a copy of its unsealed samples.
    func snapshot(_ id: SeriesID, kind: ChunkRecord.Kind, range: Range<Int64>) throws -> ([ChunkRecord], [Sample]) {
        try stateLock.locked {
            let chunks = try catalog.chunks(series: id, kind: kind, overlapping: range)
            if let frozen = frozenHeads[id] {
                guard frozen.maxTime >= range.lowerBound, frozen.minTime < range.upperBound else { return (chunks, []) }
                let samples: [Sample]
                if let cached = decodedHeads.first(where: { $0.id == id }) {
                    samples = cached.samples
                } else {
                    let decoded = try ChunkDecoder.decode(frozen.bytes[...])
                    samples = (0..<decoded.count).map(decoded.sample(at:))
                    decodedHeads = [(id, samples)] + decodedHeads.prefix(Self.decodedHeadLimit - 1)
                }
                return (chunks, samples.filter { range.contains($0.timestampMicros) })
            }
            let head = heads[id]?.samples.decoded(in: range) ?? []
            return (chunks, head)
        }
    }

    func readChunk(_ chunk: ChunkRecord) throws -> [UInt8] {
        try files.read(file: chunk.file, offset: chunk.offset, length: chunk.length)
    }

    func report(corrupt chunk: ChunkRecord, _ reason: String) -> CorruptChunkReport {
        let report = CorruptChunkReport(
            series: key(for: chunk.seriesID), chunkID: chunk.id, fromMicros: chunk.minTimestampMicros,
            toMicros: chunk.maxTimestampMicros, reason: reason)
        corruptCounter.increment()
        logger.error("\(report)", metadata: ["series.id": "\(chunk.seriesID)", "chunk.id": "\(chunk.id)"])
        return report
    }

    /// Every sample of a series in `range`, ordered by time (append order among equal times).
    public func scan(_ id: SeriesID, range: Range<Int64>) throws -> ScanResult {
        let (chunks, head) = try snapshot(id, kind: .samples, range: range)
        var samples: [Sample] = []
        var corrupt: [CorruptChunkReport] = []
        for chunk in chunks {
            do {
                let decoded = try ChunkDecoder.decode(try readChunk(chunk)[...])
                for i in 0..<decoded.count where range.contains(decoded.timestamps[i]) {
                    samples.append(decoded.sample(at: i))
                }
            } catch {
                corrupt.append(report(corrupt: chunk, "\(error)"))
            }
        }
        samples.append(contentsOf: head)
        // Chunks come in time order and a head is mostly appended in order: sorting is then only a check.
        return ScanResult(
            samples: ChunkEncoder.isSorted(samples) ? samples : ChunkEncoder.stableSorted(samples),
            corruptChunks: corrupt)
    }

    // MARK: Size

    /// Bytes of every durable file of the store (catalog, its SQLite WAL, log segments, data files). SQLite's
    /// `-shm` file is a shared-memory index rebuilt on open, not stored data, and is not counted.
    public func diskBytes() -> Int { Directory.totalSize(directory) - Directory.totalSize(directory, suffix: "-shm") }

    /// Bytes written since open: log records and chunks (catalog writes are not counted here).
    public var bytesWritten: (log: Int, chunks: Int) { (wal?.bytesWritten ?? 0, files.bytesWritten) }

    /// Makes the catalog's SQLite WAL fold into the main file, so on-disk size reflects the data.
    public func checkpointCatalog() throws {
        try requireWritable()
        _ = try catalog.pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
    }
}

/// The samples of a range scan and any chunks that had to be skipped.
public struct ScanResult: Sendable {
    public var samples: [Sample]
    public var corruptChunks: [CorruptChunkReport]
}

/// Per-series counts and integrity, for `gatewayd store info`.
public struct StoreInspection: Sendable {
    public struct SeriesInfo: Sendable {
        public var key: SeriesKey
        public var samples: Int
        public var chunks: Int
        public var corrupt: [CorruptChunkReport]
    }
    public var series: [SeriesInfo]
}

extension TimeSeriesStore {
    /// Counts samples per series and verifies every chunk's checksum by reading it.
    /// How many samples the store holds: the catalog's counts of the sealed chunks and the unsealed heads — no chunk is
    /// read (`inspect` reads and checks every one; a status line must not cost the whole history).
    public func sampleCount() throws -> Int {
        let sealed = try catalog.allChunks().reduce(0) { $0 + ($1.kind == .samples ? $1.rowCount : 0) }
        let ids = Set(allSeries().values)
        return sealed
            + stateLock.locked { ids.reduce(0) { $0 + (heads[$1]?.samples.count ?? frozenHeads[$1]?.count ?? 0) } }
    }

    public func inspect() throws -> StoreInspection {
        let chunks = try catalog.allChunks()
        var infos: [SeriesID: StoreInspection.SeriesInfo] = [:]
        for (key, id) in allSeries() {
            let head = stateLock.locked { heads[id]?.samples.count ?? frozenHeads[id]?.count ?? 0 }
            infos[id] = .init(key: key, samples: head, chunks: 0, corrupt: [])
        }
        for chunk in chunks {
            guard var info = infos[chunk.seriesID] else { continue }
            info.chunks += 1
            do {
                let bytes = try readChunk(chunk)[...]
                if chunk.kind == .samples {
                    _ = try ChunkDecoder.decode(bytes)
                    info.samples += chunk.rowCount
                } else {
                    _ = try RollupCodec.decode(bytes)
                }
            } catch {
                info.corrupt.append(report(corrupt: chunk, "\(error)"))
            }
            infos[chunk.seriesID] = info
        }
        return StoreInspection(series: infos.values.sorted { $0.key.description < $1.key.description })
    }
}

extension TimeSeriesStore {
    /// Appends `samples` to the series `key` durably, `batch` at a time (each append one group commit), then seals
    /// and checkpoints, so the import is on disk in its final form when this returns. `progress` hears how many are in.
    public func importSamples(
        _ samples: [Sample], into key: SeriesKey, batch: Int, progress: (Int) -> Void = { _ in }
    ) async throws {
        let id = try series(key)
        var index = 0
        while index < samples.count {
            let end = min(index + max(batch, 1), samples.count)
            try await append(Array(samples[index..<end]), to: id)
            index = end
            progress(index)
        }
        try sealAll()
        try checkpointCatalog()
    }
}
