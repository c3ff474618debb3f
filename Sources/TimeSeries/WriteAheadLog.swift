import Foundation
import Logging

/// One sample bound for a series, as it travels through the log.
public struct SeriesSample: Hashable, Sendable {
    public var series: SeriesID
    public var sample: Sample

    public init(series: SeriesID, sample: Sample) {
        self.series = series
        self.sample = sample
    }
}

/// Group-commit settings: a batch is written and fsynced when it holds `maxBatchSamples`, or when its first
/// sample has waited `maxBatchLatencyMicros`, whichever comes first. With latency 0 the log still groups
/// naturally: everything that arrives while one fsync runs goes into the next.
public struct GroupCommitConfiguration: Sendable {
    public var maxBatchSamples: Int
    public var maxBatchLatencyMicros: Int
    /// A log segment is checkpointed (live samples rewritten, old segments deleted) beyond this size.
    public var maxSegmentBytes: Int
    /// Past this size a segment is also checkpointed once it holds more than twice what a checkpoint would write:
    /// after chunks are sealed most of the log is samples they already hold, and a small gateway would otherwise
    /// keep megabytes of them until the segment reached `maxSegmentBytes`. Each checkpoint then writes at most half
    /// of what was appended since the last one.
    public var compactionFloorBytes: Int

    public init(
        maxBatchSamples: Int = 65_536, maxBatchLatencyMicros: Int = 0, maxSegmentBytes: Int = 64 << 20,
        compactionFloorBytes: Int = 256 << 10
    ) {
        self.maxBatchSamples = maxBatchSamples
        self.maxBatchLatencyMicros = maxBatchLatencyMicros
        self.maxSegmentBytes = maxSegmentBytes
        self.compactionFloorBytes = compactionFloorBytes
    }
}

/// Bytes of a write-ahead log segment that held no valid record, found when the log was opened: the records after
/// them were recovered, what the damaged bytes held was not (the engine appends it again from its journal).
public struct WALDamage: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var bytes: Range<Int>
    public var reason: String
    /// The log sequence numbers the damaged bytes can have held: after the last valid record before them, before the
    /// first valid one after (to the end of numbering when none follows in the segment). Whoever wrote with those
    /// numbers (`TimeSeriesStore.append` returns them) knows exactly what to write again.
    public var lostLSNs: ClosedRange<UInt64>? = nil

    public init(file: String, bytes: Range<Int>, reason: String, lostLSNs: ClosedRange<UInt64>? = nil) {
        (self.file, self.bytes, self.reason, self.lostLSNs) = (file, bytes, reason, lostLSNs)
    }

    public var description: String { "\(file): bytes \(bytes.lowerBound)..<\(bytes.upperBound) damaged (\(reason))" }
}

/// The on-disk record format of the write-ahead log.
///
/// Record: payload length (u32) · CRC-32C of (LSN + payload) (u32) · LSN (u64) · payload. Payload: kind (append
/// or checkpoint), entry count, then per entry series id, timestamp (zigzag delta from the previous entry),
/// mantissa, exponent, flags, tag+1 — varints, about 8 bytes a sample for a 1 Hz strap. A record of many entries
/// is stored with the kind's high bit set, its entries column by column (series ids, then times, mantissas as the
/// change from the series' previous one, exponents, flags, tags) and zstd-compressed after the count and the
/// columns' length: a strap's samples then take 2–3 bytes in the log instead of 8–12, which is what a gateway's
/// log mostly holds (the samples of heads not yet sealed).
enum LogRecord {
    static let headerSize = 16
    enum Kind: UInt8 {
        case append = 1
        case checkpoint = 2
    }
    static let compressedBit: UInt8 = 0x80
    /// Records of fewer entries are not worth compressing (a cuff's single reading).
    static let compressionThreshold = 32
    /// Fast: the log thread compresses while the next batch waits.
    static let compressionLevel: Int32 = 3

    static func encode(lsn: UInt64, kind: Kind, entries: [SeriesSample]) -> [UInt8] {
        var payload = ByteWriter(capacity: entries.count * 10 + 8)
        let plain = entries.count >= compressionThreshold ? Self.columns(entries) : []
        if !plain.isEmpty, let columns = try? Zstd.compress(plain, level: compressionLevel) {
            payload.write(kind.rawValue | compressedBit)
            payload.write(varint: UInt64(entries.count))
            payload.write(varint: UInt64(plain.count))
            payload.write(contentsOf: columns)
        } else {
            payload.write(kind.rawValue)
            payload.write(varint: UInt64(entries.count))
            var previousTime: Int64 = 0
            for entry in entries {
                let s = entry.sample
                payload.write(varint: UInt64(bitPattern: entry.series))
                payload.write(signedVarint: s.timestampMicros &- previousTime)
                previousTime = s.timestampMicros
                payload.write(signedVarint: s.value.mantissa)
                payload.write(signedVarint: Int64(s.value.exponent))
                payload.write(varint: UInt64(s.flags))
                payload.write(varint: s.contextTag.map { UInt64($0) + 1 } ?? 0)
            }
        }
        var lsnBytes = ByteWriter(capacity: 8)
        lsnBytes.write(littleEndian: lsn)
        var record = ByteWriter(capacity: headerSize + payload.bytes.count)
        record.write(littleEndian: UInt32(payload.bytes.count))
        record.write(littleEndian: CRC32C.update(CRC32C.checksum(lsnBytes.bytes), payload.bytes))
        record.write(contentsOf: lsnBytes.bytes)
        record.write(contentsOf: payload.bytes)
        return record.bytes
    }

    /// The entries column by column (see the type's comment).
    static func columns(_ entries: [SeriesSample]) -> [UInt8] {
        var out = ByteWriter(capacity: entries.count * 8)
        for entry in entries { out.write(varint: UInt64(bitPattern: entry.series)) }
        var previousTime: Int64 = 0
        for entry in entries {
            out.write(signedVarint: entry.sample.timestampMicros &- previousTime)
            previousTime = entry.sample.timestampMicros
        }
        var previousMantissa: [SeriesID: Int64] = [:]
        for entry in entries {
            out.write(signedVarint: entry.sample.value.mantissa &- (previousMantissa[entry.series] ?? 0))
            previousMantissa[entry.series] = entry.sample.value.mantissa
        }
        for entry in entries { out.write(signedVarint: Int64(entry.sample.value.exponent)) }
        for entry in entries { out.write(varint: UInt64(entry.sample.flags)) }
        for entry in entries { out.write(varint: entry.sample.contextTag.map { UInt64($0) + 1 } ?? 0) }
        return out.bytes
    }

    /// Entries from their columns; nil when the columns do not hold `count` entries exactly.
    static func entries(columns bytes: [UInt8], count: Int) throws -> [SeriesSample]? {
        var reader = ByteReader(bytes[...])
        var series: [SeriesID] = []
        series.reserveCapacity(count)
        for _ in 0..<count { series.append(Int64(bitPattern: try reader.readVarint("series id"))) }
        var times: [Int64] = []
        times.reserveCapacity(count)
        var time: Int64 = 0
        for _ in 0..<count {
            time &+= try reader.readSignedVarint("timestamp")
            times.append(time)
        }
        var mantissas: [Int64] = []
        mantissas.reserveCapacity(count)
        var previous: [SeriesID: Int64] = [:]
        for index in 0..<count {
            let mantissa = (previous[series[index]] ?? 0) &+ (try reader.readSignedVarint("mantissa"))
            previous[series[index]] = mantissa
            mantissas.append(mantissa)
        }
        var exponents: [Int8] = []
        exponents.reserveCapacity(count)
        for _ in 0..<count {
            guard let exponent = Int8(exactly: try reader.readSignedVarint("exponent")) else { return nil }
            exponents.append(exponent)
        }
        var flags: [UInt16] = []
        flags.reserveCapacity(count)
        for _ in 0..<count {
            guard let value = UInt16(exactly: try reader.readVarint("flags")) else { return nil }
            flags.append(value)
        }
        var entries: [SeriesSample] = []
        entries.reserveCapacity(count)
        for index in 0..<count {
            let tag = try reader.readVarint("tag")
            guard tag <= UInt64(UInt32.max) + 1 else { return nil }
            entries.append(
                SeriesSample(
                    series: series[index],
                    sample: Sample(
                        timestampMicros: times[index],
                        value: DecimalValue(mantissa: mantissas[index], exponent: exponents[index]),
                        flags: flags[index],
                        contextTag: tag == 0 ? nil : UInt32(tag - 1))))
        }
        return reader.isAtEnd ? entries : nil
    }

    struct Decoded {
        var lsn: UInt64
        var kind: Kind
        var entries: [SeriesSample]
        var length: Int
    }

    enum ReadOutcome {
        case record(Decoded)
        case end
        /// The bytes at this offset are not a whole, valid record (a torn write or corruption).
        case invalid(reason: String)
    }

    /// Where the next valid record after damage at `offset` starts: the first later offset whose header claims an LSN
    /// after `lastLSN` (LSNs go up by one a record, so a few past it), whose length fits, and whose record then
    /// reads whole with its checksum. Nil when none does (the damage runs to the end: a torn tail).
    static func resynchronise(_ bytes: [UInt8], after offset: Int, lastLSN: UInt64) -> Int? {
        var candidate = offset + 1
        while candidate + headerSize <= bytes.count {
            defer { candidate += 1 }
            // The cheap checks first: nearly every position of damaged bytes fails them without a checksum.
            let length = Int(littleEndian(bytes, at: candidate, count: 4))
            guard length > 0, length <= bytes.count - candidate - headerSize else { continue }
            let lsn = littleEndian(bytes, at: candidate + 8, count: 8)
            guard lsn > lastLSN, lsn - lastLSN <= 1 << 20 else { continue }
            if case .record = read(bytes, at: candidate) { return candidate }
        }
        return nil
    }

    /// `count` bytes at `offset` as a little-endian integer (the caller checked they are there).
    private static func littleEndian(_ bytes: [UInt8], at offset: Int, count: Int) -> UInt64 {
        (0..<count).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }

    /// Every valid record of a segment in order, past damaged ranges: `onRecord` for each, and the ranges of bytes
    /// that held no valid record. `end` is where reading stopped: the segment's end, or the start of damage that
    /// runs to its end (a torn tail).
    static func scan(
        _ bytes: [UInt8], lastLSN: UInt64, onRecord: (Decoded) -> Void
    ) -> (end: Int, damaged: [(range: Range<Int>, reason: String, lost: ClosedRange<UInt64>?)]) {
        var offset = 0
        var last = lastLSN
        var damaged: [(range: Range<Int>, reason: String, lost: ClosedRange<UInt64>?)] = []
        while true {
            switch read(bytes, at: offset) {
            case .end:
                return (offset, damaged)
            case .record(let record):
                onRecord(record)
                last = max(last, record.lsn)
                offset += record.length
            case .invalid(let reason):
                guard let next = resynchronise(bytes, after: offset, lastLSN: last) else { return (offset, damaged) }
                // The records between the last valid one and the next: their numbers are the ones in between.
                var lost: ClosedRange<UInt64>?
                if case .record(let following) = read(bytes, at: next), following.lsn > last + 1 {
                    lost = (last + 1)...(following.lsn - 1)
                }
                damaged.append((offset..<next, reason, lost))
                offset = next
            }
        }
    }

    static func read(_ bytes: [UInt8], at offset: Int) -> ReadOutcome {
        if offset == bytes.count { return .end }
        var reader = ByteReader(bytes[offset...])
        do {
            let length = Int(try reader.read(UInt32.self, "record length"))
            let crc = try reader.read(UInt32.self, "record checksum")
            let lsnBytes = try reader.readBytes(8, "record LSN")
            let payload = try reader.readBytes(length, "record payload")
            let computed = CRC32C.update(CRC32C.checksum(lsnBytes), payload)
            guard computed == crc else { return .invalid(reason: "checksum mismatch") }
            var lsnReader = ByteReader(lsnBytes)
            let lsn = try lsnReader.read(UInt64.self, "record LSN")
            var p = ByteReader(payload)
            let kindByte = try p.readByte("record kind")
            guard let kind = Kind(rawValue: kindByte & ~compressedBit) else {
                return .invalid(reason: "unknown record kind")
            }
            let count = Int(clamping: try p.readVarint("entry count"))
            if kindByte & compressedBit != 0 {
                let plainLength = Int(clamping: try p.readVarint("columns length"))
                // A sample's columns take at most 6 varints of 10 bytes: a larger claim is damage, not a record.
                guard count <= plainLength, plainLength <= count * 60 else {
                    return .invalid(reason: "columns length out of range")
                }
                let columns = try Zstd.decompress(try p.readBytes(p.remaining, "columns"), expectedLength: plainLength)
                guard let entries = try Self.entries(columns: columns, count: count) else {
                    return .invalid(reason: "columns do not hold the entries")
                }
                return .record(Decoded(lsn: lsn, kind: kind, entries: entries, length: headerSize + length))
            }
            var entries: [SeriesSample] = []
            entries.reserveCapacity(min(count, length))
            var time: Int64 = 0
            for _ in 0..<count {
                let series = Int64(bitPattern: try p.readVarint("series id"))
                time &+= try p.readSignedVarint("timestamp")
                let mantissa = try p.readSignedVarint("mantissa")
                guard let exponent = Int8(exactly: try p.readSignedVarint("exponent")) else {
                    return .invalid(reason: "exponent out of range")
                }
                guard let flags = UInt16(exactly: try p.readVarint("flags")) else {
                    return .invalid(reason: "flags out of range")
                }
                let tag = try p.readVarint("tag")
                guard tag <= UInt64(UInt32.max) + 1 else { return .invalid(reason: "tag out of range") }
                let sample = Sample(
                    timestampMicros: time, value: DecimalValue(mantissa: mantissa, exponent: exponent), flags: flags,
                    contextTag: tag == 0 ? nil : UInt32(tag - 1))
                entries.append(SeriesSample(series: series, sample: sample))
            }
            guard p.isAtEnd else { return .invalid(reason: "trailing bytes in payload") }
            return .record(Decoded(lsn: lsn, kind: kind, entries: entries, length: headerSize + length))
        } catch {
            return .invalid(reason: "\(error)")
        }
    }
}

/// The write-ahead log: durable, checksummed, group-committed appends.
///
/// `append` returns only after the batch holding its samples has been written and fdatasync'd; that promise
/// is what lets the gateway confirm a reading to a device. A dedicated thread does the writing so a slow SD
/// card never blocks Swift's cooperative thread pool; callers wait on continuations.
final class WriteAheadLog: @unchecked Sendable {
    /// Called on the log thread after each durable batch, in LSN order, before the callers are resumed.
    /// Sealing belongs in `afterAcknowledge`, which runs once the callers have been resumed.
    typealias DurableHandler = (_ lsn: UInt64, _ entries: [SeriesSample]) -> Void
    /// Returns every sample not yet sealed into a chunk, for a checkpoint.
    typealias LiveSamplesProvider = () -> [SeriesSample]
    /// How many samples are not sealed yet (cheap: no copies), to judge whether a checkpoint pays.
    typealias LiveCountProvider = () -> Int
    /// A generous bound on a live sample's bytes in a checkpoint record (varints: series, time delta, mantissa,
    /// exponent, flags, tag), so the estimate errs toward checkpointing less often — until a checkpoint has measured
    /// what its samples really took (compressed, usually 2–4 bytes).
    static let checkpointBytesPerSample = 12
    /// Bytes per live sample the last checkpoint record took (at least 1; the bound above before any).
    private var measuredBytesPerSample = WriteAheadLog.checkpointBytesPerSample

    private struct Pending {
        var entries: [SeriesSample]
        var continuation: CheckedContinuation<UInt64, any Error>
    }

    private let directory: String
    private let configuration: GroupCommitConfiguration
    private let logger: Logger
    private let condition = NSCondition()
    /// Serialises writes to the segment file between group commits and checkpoints.
    private let ioLock = NSLock()
    private var queue: [Pending] = []
    private var queuedSamples = 0
    private var firstQueuedAt: ContinuousClock.Instant?
    private var stopping = false
    private var thread: Thread?
    private var failure: (any Error)?

    private var segmentNumber: Int
    private var segment: StoreFile
    private var segmentSize: Int
    private(set) var nextLSN: UInt64
    private var onDurable: DurableHandler = { _, _ in }
    private var afterAcknowledge: () -> Void = {}
    private var liveSamples: LiveSamplesProvider = { [] }
    private var liveCount: LiveCountProvider = { 0 }
    /// Bytes written to log files since open (for write-amplification reports).
    private(set) var bytesWritten = 0
    /// What opening the log found damaged (empty when every record read whole).
    private(set) var damage: [WALDamage] = []

    private static func segmentName(_ n: Int) -> String {
        let digits = String(n)
        return "wal-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".log"
    }

    /// Opens the log in `directory`, replaying every valid record through `replay` in order.
    ///
    /// A record that is cut short or fails its checksum at the end of the last segment is a torn write from a
    /// crash: it was never acknowledged, so the segment is truncated there — with a warning naming the file,
    /// offset and byte count, never silently.
    init(
        directory: String, configuration: GroupCommitConfiguration, logger: Logger,
        replay: (_ lsn: UInt64, _ kind: LogRecord.Kind, _ entries: [SeriesSample]) -> Void
    ) throws(StoreIOError) {
        self.directory = directory
        self.configuration = configuration
        self.logger = logger
        try Directory.create(directory)
        let segments = try Directory.list(directory).filter { $0.hasPrefix("wal-") && $0.hasSuffix(".log") }
        var lastLSN: UInt64 = 0
        for (index, name) in segments.enumerated() {
            let path = directory + "/" + name
            let file = try StoreFile(path: path, create: false)
            let bytes = try file.readAll()
            let (end, damaged) = LogRecord.scan(bytes, lastLSN: lastLSN) { record in
                replay(record.lsn, record.kind, record.entries)
                lastLSN = max(lastLSN, record.lsn)
            }
            // Damage with valid records after it: those records were acknowledged and are replayed; the damaged bytes
            // are reported (and kept, so the report can be checked) — never a reason to drop what follows.
            for (range, reason, lost) in damaged {
                logger.error(
                    "write-ahead log: a damaged record, the records after it recovered",
                    metadata: [
                        "wal.file": "\(path)", "wal.damaged_bytes": "\(range.lowerBound)..<\(range.upperBound)",
                        "wal.reason": "\(reason)",
                    ])
                damage.append(WALDamage(file: path, bytes: range, reason: reason, lostLSNs: lost))
            }
            if end < bytes.count {
                let isLast = index == segments.count - 1
                logger.warning(
                    isLast
                        ? "write-ahead log: truncating torn tail"
                        : "write-ahead log: damage to the end of an older segment",
                    metadata: [
                        "wal.file": "\(path)", "wal.offset": "\(end)", "wal.dropped_bytes": "\(bytes.count - end)",
                    ])
                if isLast {
                    try file.truncate(to: end)
                    try file.sync()
                } else {
                    damage.append(
                        WALDamage(
                            file: path, bytes: end..<bytes.count, reason: "no valid record to the end of the segment",
                            lostLSNs: (lastLSN + 1)...UInt64.max))
                }
            }
        }
        nextLSN = lastLSN + 1
        if let last = segments.last, let number = Int(last.dropFirst(4).dropLast(4)) {
            segmentNumber = number
        } else {
            segmentNumber = 1
        }
        let path = directory + "/" + Self.segmentName(segmentNumber)
        segment = try StoreFile(path: path, create: true)
        segmentSize = try segment.size
        if segments.isEmpty { try Directory.sync(directory) }
    }

    /// Reads every valid record of a log another process may be writing, changing nothing. A record cut short at
    /// the end of the last segment is an append in progress there (or a torn tail the writer will truncate), so
    /// reading stops at it; a segment deleted by a checkpoint while being listed is reported as `.vanished`.
    static func readOnlyReplay(
        directory: String, replay: (_ lsn: UInt64, _ kind: LogRecord.Kind, _ entries: [SeriesSample]) -> Void
    ) throws(StoreIOError) {
        guard FileManager.default.fileExists(atPath: directory) else { return }
        let segments = try Directory.list(directory).filter { $0.hasPrefix("wal-") && $0.hasSuffix(".log") }
        var lastLSN: UInt64 = 0
        for name in segments {
            let bytes = try StoreFile(path: directory + "/" + name, create: false, readOnly: true).readAll()
            // Past damage in the middle, as the writer does; an unfinished record at the end is an append in progress.
            _ = LogRecord.scan(bytes, lastLSN: lastLSN) { record in
                replay(record.lsn, record.kind, record.entries)
                lastLSN = max(lastLSN, record.lsn)
            }
        }
    }

    /// Starts the log thread. `onDurable` runs on it after every durable batch.
    func start(
        onDurable: @escaping DurableHandler, afterAcknowledge: @escaping () -> Void,
        liveSamples: @escaping LiveSamplesProvider, liveCount: @escaping LiveCountProvider
    ) {
        condition.lock()
        self.onDurable = onDurable
        self.afterAcknowledge = afterAcknowledge
        self.liveSamples = liveSamples
        self.liveCount = liveCount
        let thread = Thread { [unowned self] in self.runLoop() }
        thread.name = "gatewayd-wal"
        self.thread = thread
        condition.unlock()
        thread.start()
    }

    /// Appends samples and returns the LSN of the batch once it is on stable storage.
    func append(_ entries: [SeriesSample]) async throws -> UInt64 {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            defer { condition.unlock() }
            if let failure {
                continuation.resume(throwing: failure)
                return
            }
            guard !stopping else {
                continuation.resume(throwing: StoreError.closed)
                return
            }
            if queue.isEmpty { firstQueuedAt = .now }
            queue.append(Pending(entries: entries, continuation: continuation))
            queuedSamples += entries.count
            condition.signal()
        }
    }

    /// Finishes every queued append, then stops the thread.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        while true {
            condition.lock()
            let done = thread == nil
            condition.unlock()
            if done { return }
            usleep(500)
        }
    }

    private func runLoop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping {
                thread = nil
                condition.unlock()
                return
            }
            // Wait for the batch to fill or its latency budget to run out.
            if configuration.maxBatchLatencyMicros > 0, let first = firstQueuedAt {
                let deadline = first + .microseconds(configuration.maxBatchLatencyMicros)
                while queuedSamples < configuration.maxBatchSamples && !stopping && ContinuousClock.now < deadline {
                    let remaining = ContinuousClock.now.duration(to: deadline)
                    let seconds = Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18
                    _ = condition.wait(until: Date(timeIntervalSinceNow: max(seconds, 0)))
                }
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            queuedSamples = 0
            firstQueuedAt = nil
            condition.unlock()
            commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) {
        let lsn = condition.locked { () -> UInt64 in
            defer { nextLSN += 1 }
            return nextLSN
        }
        let entries = batch.count == 1 ? batch[0].entries : batch.flatMap(\.entries)
        let record = LogRecord.encode(lsn: lsn, kind: .append, entries: entries)
        do {
            // Applying to the heads happens under the same lock as the write, so a checkpoint (which snapshots
            // the heads and deletes old segments) never misses a batch that is on disk but not yet in a head.
            try ioLock.locked {
                try segment.write(record, at: segmentSize)
                try segment.sync()
                segmentSize += record.count
                bytesWritten += record.count
                onDurable(lsn, entries)
            }
        } catch {
            logger.error("write-ahead log: append failed", metadata: ["wal.error": "\(error)"])
            // A write that failed (a full disk) left at most a torn record past `segmentSize`, which the next write
            // overwrites and replay ignores: the log goes on once there is space. A failed fdatasync is different — the
            // kernel may have dropped the pages it could not write and report the next sync clean — so the log stops.
            if (error as? StoreIOError)?.operation == "fdatasync" {
                condition.lock()
                failure = error
                condition.unlock()
            } else {
                ioLock.locked { try? segment.truncate(to: segmentSize) }  // no torn tail for replay to step over
            }
            for pending in batch { pending.continuation.resume(throwing: error) }
            return
        }
        for pending in batch { pending.continuation.resume(returning: lsn) }
        afterAcknowledge()
        let size = ioLock.locked { segmentSize }
        if size > configuration.maxSegmentBytes
            || (size > configuration.compactionFloorBytes && size > 2 * liveCount() * measuredBytesPerSample)
        {
            do { try ioLock.locked { try checkpoint() } } catch {
                logger.error("write-ahead log: checkpoint failed", metadata: ["wal.error": "\(error)"])
            }
        }
    }

    /// Checkpoints now (e.g. after everything was sealed), so the log holds only what is not yet in chunks.
    func checkpointNow() throws {
        ioLock.lock()
        defer { ioLock.unlock() }
        try checkpoint()
    }

    /// Starts a new segment holding every unsealed sample, then deletes the older segments.
    ///
    /// Runs on the log thread, where the heads cannot change underneath it. A crash between writing the new
    /// segment and deleting the old ones is harmless: replay meets the checkpoint record and discards what it
    /// replayed before it.
    private func checkpoint() throws(StoreIOError) {
        let live = liveSamples()
        let lsn = condition.locked { () -> UInt64 in
            defer { nextLSN += 1 }
            return nextLSN
        }
        let record = LogRecord.encode(lsn: lsn, kind: .checkpoint, entries: live)
        if !live.isEmpty { measuredBytesPerSample = max(1, (record.count + live.count - 1) / live.count) }
        let newNumber = segmentNumber + 1
        let file = try StoreFile(path: directory + "/" + Self.segmentName(newNumber), create: true)
        try file.truncate(to: 0)
        try file.write(record, at: 0)
        try file.sync()
        try Directory.sync(directory)
        bytesWritten += record.count
        for name in try Directory.list(directory) where name.hasPrefix("wal-") && name != Self.segmentName(newNumber) {
            try Directory.remove(directory + "/" + name)
        }
        try Directory.sync(directory)
        segment = file
        segmentNumber = newNumber
        segmentSize = record.count
        logger.debug("write-ahead log: checkpoint", metadata: ["wal.live_samples": "\(live.count)"])
    }
}
