import Foundation
import Logging
import Metrics
import Provenance
import TimeSeries

/// Where accepted batches are chained for tamper evidence (the Provenance ledger).
public protocol BatchLedger: Sendable {
    /// Records a batch durably (each reading's identity with the digest of its stored bytes, see
    /// `ReadingArchive.ledgerItem`); returns its entry's sequence number.
    func record(_ items: [LedgerEntry.Item], recordedMicros: Int64) throws -> Int
    /// The sequence number of the last recorded batch if it recorded exactly these readings (nil otherwise).
    func lastBatch(recorded items: [LedgerEntry.Item]) -> Int?
    /// Records durably that retention removes the readings of entries 1…`through`; returns the record's sequence number.
    func recordRetirement(through: Int, cutoffMicros: Int64, recordedMicros: Int64) throws -> Int
}

/// The Provenance ledger as the engine's batch recorder.
public struct LedgerRecorder: BatchLedger {
    public let ledger: Ledger
    public init(ledger: Ledger) { self.ledger = ledger }

    public func record(_ items: [LedgerEntry.Item], recordedMicros: Int64) throws -> Int {
        try ledger.append(items: items, recordedMicros: recordedMicros).sequence
    }

    public func lastBatch(recorded items: [LedgerEntry.Item]) -> Int? { ledger.lastEntryRecorded(items) }

    public func recordRetirement(through: Int, cutoffMicros: Int64, recordedMicros: Int64) throws -> Int {
        try ledger.appendRetirement(through: through, cutoffMicros: cutoffMicros, recordedMicros: recordedMicros)
            .sequence
    }
}

/// What happened to one reading.
public enum IngestOutcome: Hashable, Sendable {
    /// Stored durably for the first time.
    case stored(ReadingIdentity)
    /// Already stored (resent by the device, heard again): acknowledged, not stored twice.
    case duplicate(ReadingIdentity)
    /// Its (device, user) has no subject yet: held durably in quarantine until it is mapped.
    case quarantined
    /// Refused: invalid.
    case rejected(String)
}

public struct StreamEngineOptions: Sendable {
    /// Readings processed together (one journal transaction, one store append, one ledger entry).
    public var batchSize = 256
    /// Readings per batch of `ingest(batch:)` (a file: nobody waits for a confirmation).
    public var importBatchSize = 2048
    /// Readings waiting beyond this make sources wait (back-pressure), except readings a device waits on (an indication:
    /// one per device at a time, so they are bounded already, and holding one behind a meter's records or a hub's
    /// notifications is what made a cuff's confirmation slow). The sources' streams are bounded too (`BoundedChannel`),
    /// so a waiting source stops reading its link and the backlog waits there as raw PDUs, not as ~1 KB readings: a
    /// queue of 4096 was ~4 MB of a hub's start-up burst for no gain in throughput (a batch takes at most
    /// `importBatchSize`).
    public var queueCapacity = 1024
    public var clock: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }
    /// How long readings nobody confirms (notifications) may wait for others to share their batch — its journal
    /// transaction, store fsync, ledger line and mark — when nothing waiting needs a confirmation. 0: never wait.
    public var notificationLinger: Duration = .zero
    /// What the linger and the engine's "recently" (a device waited for a confirmation in the last minute) are measured
    /// on; a test's manual clock moves them without waiting.
    public var lingerClock: any Clock<Duration> = ContinuousClock()
    /// Held while each batch is written and while retention runs (see `IngestLock`); nil: no other process copies the data.
    public var ingestLock: IngestLock?
    public init() {}
}

/// The pipeline from a reading to durable storage and back to an acknowledgement.
///
/// Per batch: resolve subjects (unmapped readings go to quarantine), derive identities, drop those already
/// archived (dedupe survives restarts because the archive is durable), journal the new ones, append their
/// samples to the store (fsynced), record the batch in the ledger, mark them stored, and only then
/// acknowledge every reading of the batch to its source (DESIGN.md rule 3).
public actor StreamEngine {
    /// The engine's jobs run on a thread of their own: its commits block on the disk (see `DedicatedThreadExecutor`).
    private let executor = DedicatedThreadExecutor(name: "gatewayd-engine")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    public let store: TimeSeriesStore
    public let archive: ReadingArchive
    let ledger: (any BatchLedger)?
    let options: StreamEngineOptions
    let logger: Logger
    private var subjects: [String: String] = [:]
    /// Who hears a reading's outcome, once its source has been acknowledged.
    typealias Completion = WaitingReading.Completion
    private var waiting = WaitingReadings<WaitingReading>()
    /// `options.lingerClock`'s time since the engine was made: one type for any clock's instants.
    private nonisolated let elapsed: @Sendable () -> Duration
    /// When the oldest waiting reading arrived (for the notification linger).
    private var oldestWaiting: Duration?
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    private var flushing = false
    /// The flush task of a burst when nobody runs the engine (see `run()`); `run()` waits for it before it returns.
    private var burst: Task<Void, Never>?
    /// Set while `run()` runs: a reading that joins the queue wakes it instead of starting a burst.
    private var running = false
    /// Set by `stopRunning()`: what waits is batched without lingering, since nobody else is coming.
    private var stopping = false
    private nonisolated let runnerWakes: AsyncStream<Void>
    private nonisolated let runnerWake: AsyncStream<Void>.Continuation
    private let revisionSink: AsyncStream<WindowRevision>.Continuation
    /// Every window whose summary a batch changed, in order (sinks: the FHIR outbox).
    public nonisolated let revisions: AsyncStream<WindowRevision>
    let windows: WindowTracker

    private let storedCounter = Counter(label: "gatewayd_readings_ingested_total")
    private let duplicateCounter = Counter(label: "gatewayd_readings_deduplicated_total")
    private let quarantinedCounter = Counter(label: "gatewayd_readings_quarantined_total")
    private let rejectedCounter = Counter(label: "gatewayd_readings_rejected_total")
    private let appendTimer = Timer(label: "gatewayd_append_latency_seconds")
    private let queueGauge = Gauge(label: "gatewayd_engine_queue_depth")
    private let batchFailures = Counter(label: "gatewayd_batches_failed_total")
    private func storageFailingGauge(_ failure: StorageFailure) -> Gauge {
        Gauge(label: "gatewayd_storage_failing", dimensions: [("reason", failure.rawValue)])
    }
    /// Set while batches fail to be stored (a full or failing disk); cleared by the next batch that is stored.
    public private(set) var storageFailure: StorageFailure?

    public init(
        store: TimeSeriesStore, archive: ReadingArchive, ledger: (any BatchLedger)? = nil,
        windows: WindowTracker? = nil,
        options: StreamEngineOptions = StreamEngineOptions(), logger: Logger = Logger(label: "gatewayd.stream-engine")
    ) throws {
        self.store = store
        self.archive = archive
        self.ledger = ledger
        self.options = options
        self.logger = logger
        self.windows = windows ?? WindowTracker(zones: [:])
        // Series readings are read back from this store, not a snapshot of its files.
        archive.useStore(store)
        (revisions, revisionSink) = AsyncStream.makeStream(
            of: WindowRevision.self, bufferingPolicy: .bufferingNewest(10_000))
        (runnerWakes, runnerWake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        elapsed = Self.elapsedTime(on: options.lingerClock)
        for mapping in try archive.subjectMappings() {
            subjects[Self.subjectKey(mapping.deviceKey, mapping.userID)] = mapping.subject
        }
    }

    deinit { executor.shutdown() }

    private static func elapsedTime<C: Clock<Duration>>(on clock: C) -> @Sendable () -> Duration {
        let start = clock.now
        return { start.duration(to: clock.now) }
    }

    static func subjectKey(_ device: String, _ user: UInt8?) -> String { device + "#" + (user.map(String.init) ?? "-") }

    // MARK: Recovery

    /// Resolves readings journaled before a crash: if their samples reached the store they are marked
    /// stored, otherwise they are appended now. Call once at start-up, before ingesting.
    @discardableResult
    public func recover() async throws -> (confirmed: Int, appended: Int) {
        try await resolveJournaled(flushingAllSummaries: true)
    }

    /// Set when a batch failed after its journal (a full disk under the store, the ledger or the mark): what it journaled
    /// is resolved, as at start-up, before the next batch is stored — so the ledger never goes on without readings the
    /// archive holds, and nothing new is confirmed while that cannot be done.
    private var journalUnresolved = false

    /// `recover`'s work; mid-run (after a failed batch) without flushing every pending window.
    private func resolveJournaled(flushingAllSummaries: Bool) async throws -> (confirmed: Int, appended: Int) {
        let (pending, batches) = try archive.unstored()
        var confirmed: [String] = []
        var missing: [(String, Reading)] = []
        for entry in pending {
            // A series reading is rebuilt from the store: present by construction.
            if try entry.series || samplesPresent(entry.reading) {
                confirmed.append(entry.identity)
            } else {
                missing.append((entry.identity, entry.reading))
            }
        }
        if !missing.isEmpty {
            try await store.append(try missing.flatMap { try SampleMapping.seriesSamples($0.1, store: store) })
        }
        let restored = store.walDamage.isEmpty ? 0 : try await reappendAfterLogDamage()
        // A crash after the ledger entry but before the mark leaves readings the last entry already recorded. Batches
        // are processed one at a time, so those are all the journaled ones (one batch, or the batches a recovery
        // that was itself cut short recorded together).
        let items = pending.map(\.item)
        let recorded = pending.isEmpty ? nil : ledger?.lastBatch(recorded: items)
        if let recorded { try archive.markStored(rows: pending.map(\.row), batches: batches, ledgerSequence: recorded) }
        let unrecorded = recorded == nil ? pending : []
        let sequence = try unrecorded.isEmpty ? nil : ledger?.record(items, recordedMicros: options.clock())
        reviseWindows(pending.map(\.reading), now: options.clock())
        // Windows left pending by the last run get their versions now, so no final version is lost to a stop.
        if flushingAllSummaries { flushSummaries(all: true) }
        try archive.markStored(
            rows: unrecorded.map(\.row), batches: recorded == nil ? batches : [], ledgerSequence: sequence)
        if !pending.isEmpty {
            logger.notice(
                "recovered readings journaled before a stop",
                metadata: [
                    "already_in_store": "\(confirmed.count)", "appended_now": "\(missing.count)",
                ])
        }
        return (confirmed.count, missing.count + restored)
    }

    /// The store found damage in its write-ahead log: what the damaged bytes held is missing from it, although the
    /// archive has those readings stored. Per series, every stored reading after the series' last sealed chunk (the log
    /// holds every sample not sealed) is checked against the store and appended again from the archive when missing.
    /// Then the batches whose append had a log sequence number the damage lost (`WALDamage.lostLSNs`, the numbers each
    /// batch's mark keeps): this reaches a late sample older than its series' last sealed chunk too. A span's readings
    /// live in the store alone: what the log lost of them is reported, not restored.
    private func reappendAfterLogDamage() async throws -> Int {
        var checked = Set<String>()
        var missing: [Reading] = []
        var spansLost = 0
        for lost in store.walDamage.compactMap(\.lostLSNs) {
            let (readings, spans) = try archive.readings(ofBatchesWithStoreLSNs: lost)
            spansLost += spans
            for reading in readings {
                let identity =
                    reading.identity?.hex
                    ?? "\(reading.device.key)|\(reading.time.effectiveMicros)|\(reading.kind.rawValue)"
                guard checked.insert(identity).inserted else { continue }
                if try !samplesPresent(reading) { missing.append(reading) }
            }
        }
        for (key, id) in store.allSeries().sorted(by: { $0.value < $1.value }) {
            guard let kind = Metric(rawValue: key.metric)?.readingKind else { continue }
            let after = try store.sealedThrough(id).map { $0 + 1 } ?? .min
            for reading in try archive.readings(subject: key.subject, from: after, kind: kind)
            where reading.device.key == key.device {
                let identity =
                    reading.identity?.hex
                    ?? "\(reading.device.key)|\(reading.time.effectiveMicros)|\(reading.kind.rawValue)"
                guard checked.insert(identity).inserted else { continue }
                if try !samplesPresent(reading) { missing.append(reading) }
            }
        }
        if !missing.isEmpty {
            try await store.append(try missing.flatMap { try SampleMapping.seriesSamples($0, store: store) })
        }
        logger.error(
            "the store's write-ahead log was damaged; readings it lost were appended again from the archive",
            metadata: [
                "damage": "\(store.walDamage.map(\.description).joined(separator: "; "))",
                "checked": "\(checked.count)",
                "appended_again": "\(missing.count)", "span_rows_in_lost_batches": "\(spansLost)",
            ])
        return missing.count
    }

    /// Revises the windows these readings touched (logged durably in engine.sqlite and yielded to `revisions`).
    private func reviseWindows(_ readings: [Reading], now: Int64, flushDue: Bool = true) {
        do {
            for revision in try windows.revise(
                readings, store: store, archive: archive, nowMicros: now, flushDue: flushDue)
            {
                revisionSink.yield(revision)
            }
        } catch {
            // Summaries are derived data: a failure here must not hold back the acknowledgement.
            logger.warning("window summaries could not be revised", metadata: ["error": "\(error)"])
        }
    }

    /// Revises the pending windows that are due (all of them with `all`), e.g. from a timer while no batch arrives,
    /// and before a stop.
    public func flushSummaries(all: Bool = false, limit: Int? = nil) {
        do {
            for revision in try windows.flush(
                store: store, archive: archive, nowMicros: options.clock(), all: all, limit: limit)
            {
                revisionSink.yield(revision)
            }
        } catch {
            logger.warning("pending window summaries could not be revised", metadata: ["error": "\(error)"])
        }
    }

    /// True when every component of `reading` is in the store exactly as it would be written.
    private func samplesPresent(_ reading: Reading) throws -> Bool {
        for component in reading.components {
            guard let key = SampleMapping.seriesKey(reading, component), let id = store.existingSeries(key) else {
                return false
            }
            let wanted = SampleMapping.sample(reading, component)
            let found = try store.scan(id, range: wanted.timestampMicros..<(wanted.timestampMicros + 1)).samples
            if !found.contains(wanted) { return false }
        }
        return true
    }

    // MARK: Subjects

    /// Maps (device, user slot) to a subject and releases that pair's quarantined readings into the store.
    @discardableResult
    public func mapSubject(deviceKey: String, userID: UInt8?, subject: String) async throws -> Int {
        try archive.mapSubject(deviceKey: deviceKey, userID: userID, subject: subject)
        subjects[Self.subjectKey(deviceKey, userID)] = subject
        let held = try archive.quarantined(deviceKey: deviceKey, userID: .some(userID))
        guard !held.isEmpty else { return 0 }
        var batch: [(PendingReading, Int64?)] = []
        for entry in held {
            var reading = entry.reading
            reading.subject = subject
            batch.append((PendingReading(reading: reading) {}, entry.id))
        }
        _ = try await process(batch)
        return held.count
    }

    // MARK: Ingest

    /// Takes one reading through the pipeline; returns once it is durable (or deduplicated, quarantined,
    /// rejected) and its source has been acknowledged. Waits when the queue is full.
    public func ingest(_ pending: PendingReading) async throws -> IngestOutcome {
        await waitForSpace(pending.waiter)
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(pending) { result, _ in continuation.resume(with: result) }
        }
    }

    /// Back-pressure: a source waits while `queueCapacity` readings wait for their batch (not a device that waits for
    /// its confirmation, see `StreamEngineOptions.queueCapacity`).
    private func waitForSpace(_ waiter: PendingReading.Waiter) async {
        guard waiter != .device else { return }
        while waiting.count >= options.queueCapacity {
            await withCheckedContinuation { spaceWaiters.append($0) }
        }
    }

    /// When a reading that awaits a confirmation last arrived (see `nextBatch`).
    private var lastConfirmation: Duration?

    private func enqueue(_ pending: PendingReading, completion: @escaping Completion) {
        if waiting.isEmpty { oldestWaiting = elapsed() }
        if pending.awaitsConfirmation { lastConfirmation = elapsed() }
        if pending.waiter == .device { lastDeviceWait = elapsed() }
        waiting.append(WaitingReading(pending, completion: completion), waiter: pending.waiter)
        queueGauge.record(waiting.count)
        wakeDepthWaiters()
        wakeLinger()
        startFlushing()
    }

    /// Batches what waits: the runner does (`run()`), or else a task of its own until the queue is empty.
    private func startFlushing() {
        if running {
            runnerWake.yield()
        } else if !flushing {
            flushing = true
            burst = Task { await self.flushLoop() }
        }
    }

    /// Runs the engine's batches in its caller's task — the daemon's service for it, which the group stops after the
    /// devices, the API and sync, so what they handed over is stored before the store closes — until `stopRunning()`
    /// or cancellation; then batches what still waits, without lingering, and returns once nothing is being written.
    /// While it runs, a reading that joins the queue wakes it; a command or a test that feeds the engine without
    /// running it gets a task per burst instead, which ends when the queue is empty. One runner at a time, once.
    public func run() async {
        guard !running, !stopping else { return }
        running = true
        if !waiting.isEmpty { runnerWake.yield() }
        for await _ in runnerWakes { await flushUnlessFlushing() }
        running = false
        stopping = true
        await burst?.value
        await flushUnlessFlushing()
    }

    /// Ends `run()`: what waits is batched at once (a linger is cut short), then it returns.
    public func stopRunning() {
        stopping = true
        wakeLinger()
        runnerWake.finish()
    }

    private func flushUnlessFlushing() async {
        guard !flushing, !waiting.isEmpty else { return }
        flushing = true
        await flushLoop()
    }

    /// Takes readings nobody waits to confirm (a file) through the pipeline in batches of up to `importBatchSize`
    /// (one journal transaction, store append, ledger entry and mark each — nothing waits for a confirmation, so a
    /// bigger batch costs no latency), without a task or a queue entry per reading; returns every reading's outcome, in
    /// order, once all are durable.
    public func ingest(batch pending: [PendingReading]) async throws -> [IngestOutcome] {
        var outcomes: [IngestOutcome] = []
        outcomes.reserveCapacity(pending.count)
        let size = max(options.batchSize, options.importBatchSize)
        for start in stride(from: 0, to: pending.count, by: size) {
            let part = pending[start..<min(start + size, pending.count)]
            outcomes += try await process(part.map { ($0, nil) })
            for reading in part { await reading.acknowledge() }
        }
        return outcomes
    }

    /// Feeds a whole source through the engine without waiting for each reading's batch, up to `inFlight` readings at
    /// once (so a slow disk slows the device): notifications share batches, and the readings of one indication (a
    /// cuff's pressure and pulse) no longer wait for each other's outcome, which took two batches in turn — a device
    /// sends its next indication only once the last is confirmed anyway. `onOutcome` hears every reading's outcome,
    /// `onFailure` a reading that could not be stored, as soon as its batch fails. Returns once every reading has its
    /// outcome; throws the first failure.
    public func consume<S: AsyncSequence & Sendable>(
        _ source: S, inFlight: Int = 64, onOutcome: (@Sendable (IngestOutcome, Reading) async -> Void)? = nil,
        onFailure: (@Sendable (any Error) -> Void)? = nil
    ) async throws where S.Element == PendingReading {
        // Each reading waits in the queue itself, with a completion — no task per reading (a linger's worth of a
        // hundred straps' notifications was ten thousand suspended tasks).
        let flight = InFlightReadings(limit: max(1, inFlight))
        for try await pending in source {
            let notification = !pending.awaitsConfirmation
            try await flight.reserve(notification: notification)
            await waitForSpace(pending.waiter)
            enqueue(pending) { result, reading in
                if case .success(let outcome) = result, let reading { await onOutcome?(outcome, reading) }
                // (`onFailure` at once: the source may be waiting on a device that waits for a confirmation that will
                // not come — the daemon closes the link, so the device keeps its reading and can try again soon.)
                if case .failure(let error) = result { onFailure?(error) }
                flight.finished(result, notification: notification)
            }
        }
        // The source has ended: the notifications it left waiting need not wait for readings that will not come. (A
        // meter's records and a cuff's indications never linger; cutting every strap's linger short whenever one of a
        // hub's meters ends a sync made the notifications' batches a tenth of their size.)
        guard flight.notificationsOutstanding > 0 else {
            try await flight.drain()
            return
        }
        lingerCutShort = true
        wakeLinger()
        if !waiting.isEmpty { startFlushing() }
        try await flight.drain()
    }

    /// Set when a source ends: the readings waiting are flushed without lingering (cleared once the queue is empty).
    private var lingerCutShort = false

    /// While only notifications wait, fewer than a batch, and the oldest has waited less than the linger: let more come.
    /// It sleeps until something could end it — a reading joins, a source ends, the oldest's linger is up — instead of
    /// polling: a hub's straps linger most of the time, and a Raspberry Pi should not wake 200 times a second for it.
    private func lingerForNotifications() async {
        let linger = options.notificationLinger
        guard linger > .zero else { return }
        // A full queue ends the linger: its sources are waiting for room, so nobody else can come to share the batch.
        while !waiting.isEmpty, !lingerCutShort, !stopping,
            waiting.count < min(notificationLimit, options.queueCapacity),
            !waiting.awaitConfirmation,
            let oldest = oldestWaiting, elapsed() - oldest < linger
        {
            let (clock, remaining) = (options.lingerClock, oldest + linger - elapsed())
            let lingerEnds = Task { [weak self] in
                try? await clock.sleep(for: remaining, tolerance: nil)
                guard !Task.isCancelled else { return }
                await self?.wakeLinger()
            }
            await withCheckedContinuation { lingerWake = $0 }
            lingerEnds.cancel()
        }
    }

    /// The linger waiting for its next reason to look again (one flush loop at a time, so one waiter at most).
    private var lingerWake: CheckedContinuation<Void, Never>?

    private func wakeLinger() {
        lingerWake?.resume()
        lingerWake = nil
    }

    public var queueDepth: Int { waiting.count }

    /// Returns once at least `count` readings wait for their batch (at once if they do): what a test or a benchmark
    /// waits for instead of polling `queueDepth`.
    public func waitUntilQueued(_ count: Int) async {
        if waiting.count >= count { return }
        await withCheckedContinuation { depthWaiters.append((count, $0)) }
    }

    private var depthWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []

    private func wakeDepthWaiters() {
        guard !depthWaiters.isEmpty else { return }
        let depth = waiting.count
        let ready = depthWaiters.filter { $0.count <= depth }
        depthWaiters.removeAll { $0.count <= depth }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Notifications alone may fill a bigger batch than readings waiting for a confirmation: nobody waits for it, and
    /// a hub's hundred straps then share one journal transaction, store commit and ledger line per linger, not one per
    /// `batchSize` readings.
    private var notificationBatchSize: Int { max(options.batchSize, options.importBatchSize) }

    /// The notifications a batch takes now. A batch in progress cannot be interrupted, and a linger's worth of a hundred
    /// straps' notifications takes a tenth of a second or more, which a cuff's indication arriving meanwhile would wait
    /// for: while devices wait for confirmations (one came in the last minute) an eighth of `batchSize` (32: ~3 ms of a
    /// hub's straps; 128 made PipelineBenchmark's BP confirmation p99 ~30 ms, 32 ~17 ms); while only a transfer's
    /// records do, `batchSize`.
    private var notificationLimit: Int {
        let devicesWait = lastDeviceWait.map { elapsed() - $0 < .seconds(60) } ?? false
        if devicesWait { return max(1, options.batchSize / 8) }
        let confirmationsFlow = lastConfirmation.map { elapsed() - $0 < .seconds(60) } ?? false
        return confirmationsFlow ? options.batchSize : notificationBatchSize
    }

    private func flushLoop() async {
        repeat {
            await flushWaiting()
            // Nothing waits: the last batch's deferred mark is written now (the feed does not wait for the next batch),
            // and windows that became due while confirmations went first are revised.
            // Readings that came meanwhile are taken by this loop (`flushing` is still set, so nobody else starts one).
            await settleDeferredMark()
            if waiting.isEmpty { await flushDueSummaries() }
        } while !waiting.isEmpty
        flushing = false
        lingerCutShort = false
    }

    /// Due windows revised while the engine is idle, a batch's worth at a time, between batches (so not inside a
    /// batch whose readings someone waits to confirm).
    private func flushDueSummaries() async {
        await beginProcessing()
        defer { endProcessing() }
        flushSummaries(limit: WindowTracker.flushLimitPerBatch)
    }

    /// The next batch: readings a device waits to have confirmed (an indication, an API call) go first and alone, so a
    /// cuff's confirmation pays for its own few readings, not for the notifications or a meter's records that waited
    /// beside it; then a transfer's stored records, alone and — while devices wait for confirmations — a few at a time,
    /// so that a cuff's indication arriving meanwhile does not wait behind a meter's hundred records; once the oldest
    /// notification has waited its linger (or nothing waits to be confirmed), everything, those a device or a
    /// transfer waits on first.
    private func nextBatch() -> (batch: [WaitingReading], confirmationsOnly: Bool) {
        let notificationsOverdue = oldestWaiting.map { elapsed() - $0 >= options.notificationLinger } ?? false
        if !notificationsOverdue {
            if waiting.contains(.device) { return (waiting.take(.device, limit: options.batchSize), true) }
            if waiting.contains(.transfer) { return (waiting.take(.transfer, limit: transferLimit), true) }
        }
        return (waiting.takeAll(limit: waiting.awaitConfirmation ? options.batchSize : notificationLimit), false)
    }

    /// When a device last waited for a confirmation (see `transferLimit`).
    private var lastDeviceWait: Duration?

    /// A transfer's records a batch takes: a sixteenth of `batchSize` (16) while devices wait for confirmations (one
    /// came in the last minute), so a cuff's indication waits at most for a few milliseconds of records.
    private var transferLimit: Int {
        let devicesWait = lastDeviceWait.map { elapsed() - $0 < .seconds(60) } ?? false
        return devicesWait ? max(1, options.batchSize / 16) : options.batchSize
    }

    /// Batches what waits, until nothing does.
    private func flushWaiting() async {
        while !waiting.isEmpty {
            await lingerForNotifications()
            let (batch, confirmationsOnly) = nextBatch()
            let count = batch.count
            // The notifications left behind by a batch of confirmations keep their age (their linger runs on).
            if !confirmationsOnly { oldestWaiting = waiting.isEmpty ? nil : elapsed() }
            queueGauge.record(waiting.count)
            let resumable = min(spaceWaiters.count, count)
            for waiter in spaceWaiters.prefix(resumable) { waiter.resume() }
            spaceWaiters.removeFirst(resumable)
            // Devices are confirmed as soon as the batch is durable, while the batch and the next go on (a meter's
            // hundreds of records take tens of milliseconds to confirm, which a cuff's indication waiting behind them need
            // not wait for); whoever hears the outcome (`ingest`, `consume`) hears it once the batch is marked stored, so
            // the reading is readable by then. Readings a device waits on are told first (a notification's
            // acknowledgement is nothing to its device).
            var acknowledgedEarly = false
            let acknowledgeEarly = { (_: [IngestOutcome]) in
                acknowledgedEarly = true
                let waited = batch.map(\.pending).filter(\.awaitsConfirmation)
                Task.detached { for pending in waited { await pending.acknowledge() } }
            }
            do {
                let outcomes = try await process(
                    batch.map { ($0.pending, nil) }, deferringMark: true, onDurable: acknowledgeEarly)
                if let failure = storageFailure {
                    storageFailingGauge(failure).record(0)
                    storageFailure = nil
                    logger.notice("readings are stored again", metadata: ["after": "\(failure.rawValue)"])
                }
                let early = acknowledgedEarly
                Task.detached {
                    let order = zip(batch, outcomes).sorted {
                        $0.0.pending.awaitsConfirmation && !$1.0.pending.awaitsConfirmation
                    }
                    for (entry, outcome) in order {
                        if !(early && entry.pending.awaitsConfirmation) { await entry.pending.acknowledge() }
                        await entry.completion(.success(outcome), entry.pending.reading)
                    }
                }
            } catch {
                let failure = StorageFailure(error).following(storageFailure)
                if storageFailure != failure {
                    // one reason at a time
                    if let previous = storageFailure { storageFailingGauge(previous).record(0) }
                    storageFailingGauge(failure).record(1)
                }
                storageFailure = failure
                batchFailures.increment()
                if acknowledgedEarly {
                    // Durable and confirmed already: what failed after (the ledger, the mark) is resolved before the next
                    // batch is stored (`journalUnresolved`), or by recovery at the next start.
                    logger.error(
                        "a stored batch could not be recorded or marked; it will be before the next batch is stored. \(failure.advice)",
                        metadata: ["error": "\(error)", "reason": "\(failure.rawValue)"])
                } else {
                    logger.error("\(failure.advice)", metadata: ["error": "\(error)", "reason": "\(failure.rawValue)"])
                }
                Task.detached { for entry in batch { await entry.completion(.failure(error), entry.pending.reading) } }
            }
        }
    }

    /// A batch of notifications that only extended spans is marked stored in the next batch's journal transaction, not
    /// in a commit of its own: its readings are readable already (their spans are stored), and a crash before that
    /// mark is what recovery resolves anyway (the ledger's last entry recorded them). One commit, one fsync and a few
    /// pages less per linger on the SD card.
    private var deferredMark: (batch: Int64, ledgerSequence: Int?)?

    private func settleDeferredMark() async {
        guard deferredMark != nil else { return }
        await beginProcessing()
        defer { endProcessing() }
        guard let mark = deferredMark else { return }
        do {
            try archive.markStored(rows: [], marks: [mark], ledgerSequence: nil)
            deferredMark = nil
        } catch {
            logger.warning(
                "a batch could not be marked stored; the next batch or a restart marks it",
                metadata: ["error": "\(error)"])
        }
    }

    /// Validates a reading before anything is written.
    private func validate(_ reading: Reading) -> String? {
        if reading.components.isEmpty { return "a reading needs at least one component" }
        if reading.time.effectiveMicros <= 0 {
            return "the reading's time \(reading.time.effectiveMicros) µs is not after 1970"
        }
        if reading.rawPayloads.isEmpty && reading.characteristic.hasPrefix("0x") {
            return "a device reading must carry its raw payload"
        }
        return nil
    }

    /// One batch at a time between its journal and its mark, so a crash leaves at most one batch to recover and the
    /// ledger's last entry is the only one that can have recorded it (the actor alone would interleave batches at
    /// the store's await).
    private var processing = false
    private var processWaiters: [CheckedContinuation<Void, Never>] = []

    /// Waits for the one-batch section (`processing`) and takes it; `endProcessing` hands it to the next waiter.
    private func beginProcessing() async {
        while processing { await withCheckedContinuation { processWaiters.append($0) } }
        processing = true
        options.ingestLock?.lock()  // a backup copying makes the batch wait (on the engine's own thread)
    }

    private func endProcessing() {
        options.ingestLock?.unlock()
        processing = false
        if !processWaiters.isEmpty { processWaiters.removeFirst().resume() }
    }

    /// `onDurable`: hears the outcomes as soon as every reading is durable — journaled with all it varies by (a batch
    /// of readings devices wait on) or appended to the store — before the ledger, the windows and the mark, which a
    /// crash leaves to recovery; not called when the batch fails before.
    private func process(
        _ batch: [(PendingReading, Int64?)], deferringMark: Bool = false, onDurable: (([IngestOutcome]) -> Void)? = nil
    ) async throws -> [IngestOutcome] {
        await beginProcessing()
        defer { endProcessing() }
        if journalUnresolved {
            _ = try await resolveJournaled(flushingAllSummaries: false)
            journalUnresolved = false
        }
        do {
            return try await processOneBatch(batch, deferringMark: deferringMark, onDurable: onDurable)
        } catch {
            journalUnresolved = true
            throw error
        }
    }

    private func processOneBatch(
        _ batch: [(PendingReading, Int64?)], deferringMark: Bool, onDurable: (([IngestOutcome]) -> Void)?
    ) async throws -> [IngestOutcome] {
        // Every entry gets exactly one outcome, at its own index.
        var outcomes: [IngestOutcome] = []
        var accepted: [(slot: Int, reading: Reading)] = []
        var quarantine: [Reading] = []
        var released: [Int64] = []
        for (slot, (pending, quarantineID)) in batch.enumerated() {
            var reading = pending.reading
            if let problem = validate(reading) {
                // Kept, with the reason, among the malformed payloads: refused but not lost.
                try archive.recordMalformed(
                    deviceKey: reading.device.key, characteristic: reading.characteristic,
                    bytes: reading.rawPayloads.first ?? [], error: problem, receivedMicros: reading.time.receivedMicros)
                outcomes.append(.rejected(problem))
                continue
            }
            if reading.subject == nil {
                reading.subject = subjects[Self.subjectKey(reading.device.key, reading.context.userID)]
            }
            guard reading.subject != nil else {
                quarantine.append(reading)
                outcomes.append(.quarantined)
                continue
            }
            if let quarantineID { released.append(quarantineID) }
            accepted.append((slot, reading))
            outcomes.append(.quarantined)  // replaced below by stored or duplicate
        }
        // What each reading needs hashed and encoded, on every core (the journal's transaction then only writes it).
        let prepared = ReadingArchive.prepare(accepted.map(\.reading))
        var candidates: [(slot: Int, identity: String, reading: Reading, prepared: ReadingArchive.Prepared)] = []
        candidates.reserveCapacity(accepted.count)
        for ((slot, reading), item) in zip(accepted, prepared) {
            outcomes[slot] = .stored(ReadingIdentity(hex: item.identity))
            candidates.append((slot, item.identity, reading, item))
        }
        let archived = try archive.existing(candidates.map { ($0.identity, $0.reading) })
        var fresh: [(identity: String, reading: Reading)] = []
        var freshPrepared: [ReadingArchive.Prepared] = []
        var seen: Set<String> = []
        for candidate in candidates {
            if archived.contains(candidate.identity) || !seen.insert(candidate.identity).inserted {
                outcomes[candidate.slot] = .duplicate(ReadingIdentity(hex: candidate.identity))
            } else {
                fresh.append((candidate.identity, candidate.reading))
                freshPrepared.append(candidate.prepared)
            }
        }

        // 1. Journal (and quarantine) durably, 2. append the samples durably, 3. ledger, 4. mark stored.
        let earlier = deferredMark.map { [$0] } ?? []
        // Readings devices wait on are journaled as rows, each with all it varies by: durable once the transaction
        // commits, so the device is confirmed before the store's fsync, the ledger's and the mark's (when someone hears
        // of it: an import or a release from quarantine is told at the end anyway, and keeps its spans).
        let devicesWait = onDurable != nil && !batch.isEmpty && batch.allSatisfy { $0.0.waiter == .device }
        let journaled = try archive.journal(
            fresh, prepared: freshPrepared, quarantine: quarantine, released: released, marking: earlier,
            rowsOnly: devicesWait)
        deferredMark = nil
        if devicesWait || fresh.isEmpty { onDurable?(outcomes) }
        if !fresh.isEmpty {
            let started = DispatchTime.now().uptimeNanoseconds
            var samples: [SeriesSample] = []
            samples.reserveCapacity(fresh.count * 3)
            for ((_, reading), tag) in zip(fresh, journaled.tags) {
                samples += try SampleMapping.seriesSamples(reading, store: store, tag: tag)
            }
            let lsn = try await store.append(samples)
            if !devicesWait { onDurable?(outcomes) }
            appendTimer.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
            let now = options.clock()
            let sequence = try ledger?.record(journaled.items, recordedMicros: now)
            // Windows are revised before the mark: a crash in between leaves the readings unstored, and recovery
            // revises their windows again (a repeated version is harmless; a missed one would never be sent).
            // A batch someone waits on leaves the due windows to a batch nobody waits on, or to the engine's idle time
            // (unless windows are not coalesced: then every batch revises its windows at once).
            let awaited = batch.contains { $0.0.awaitsConfirmation }
            reviseWindows(fresh.map(\.reading), now: now, flushDue: windows.coalesceMicros == 0 || !awaited)
            if deferringMark, journaled.rows.isEmpty, let batch = journaled.batch {
                deferredMark = (batch, sequence)
            } else {
                try archive.markStored(
                    rows: journaled.rows, batches: journaled.batch.map { [$0] } ?? [], ledgerSequence: sequence,
                    storeLSN: lsn, nowMicros: now)
            }
        }
        for (outcome, (pending, _)) in zip(outcomes, batch) {
            let counter: Counter
            switch outcome {
            case .stored: counter = storedCounter
            case .duplicate: counter = duplicateCounter
            case .quarantined: counter = quarantinedCounter
            case .rejected: counter = rejectedCounter
            }
            counter.increment()
            // The same count per kind and device, so one failing device shows in /metrics.
            Counter(
                label: counter.label + "_by_device",
                dimensions: [
                    ("kind", pending.reading.kind.rawValue), ("device", pending.reading.device.key),
                ]
            ).increment()
        }
        // 5. Only now may the sources be told (`acknowledge`, by the caller: outside the one-batch-at-a-time section).
        return outcomes
    }
}
