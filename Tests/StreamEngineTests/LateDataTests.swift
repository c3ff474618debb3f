import Foundation
import Provenance
import Synchronization
import TestSupport
import Testing
import TimeSeries

@testable import StreamEngine

/// A glucose reading at `micros` with value `mgdl` (kg/L exact: mg/dL × 10⁻⁵), anchored by `sequence`.
func glucoseReading(
    _ micros: Int64, mgdl: Int64, sequence: UInt16, flags: ReadingFlags = [], subject: String? = "carol"
) -> Reading {
    var device = DeviceRecord(link: "test")
    device.systemID = "00-1B-C5-00-00-00-22-01"
    var context = MeasurementContext()
    context.glucose = GlucoseContext(sequenceNumber: sequence)
    let time = TimeProvenance(
        deviceTimestamp: nil, receivedMicros: micros, clock: nil, clockOffsetMicros: nil, decision: .kept,
        effectiveMicros: micros,
        localOffsetSeconds: 32_400, syncMethod: "none")
    return Reading(
        kind: .glucose,
        components: [
            ReadingComponent(
                metric: .glucose, value: .quantity(DecimalQuantity(mantissa: mgdl, exponent: -5)), unit: "kg/L")
        ],
        subject: subject, device: device, gateway: GatewayRecord(id: "gw", softwareVersion: "test"), context: context,
        time: time, flags: flags,
        characteristic: "0x2A18",
        rawPayloads: [[UInt8(truncatingIfNeeded: sequence), UInt8(truncatingIfNeeded: mgdl)]], sequenceNumber: sequence)
}

@Suite struct LateDataTests {
    /// 2026-11-17 (a Tuesday) 08:00 JST and 2026-11-21 (Saturday) 08:00 JST, in UTC µs.
    static let tuesday8 = Int64(1_795_388_400) * 1_000_000 - 4 * 86_400_000_000
    static let saturday8 = Int64(1_795_388_400) * 1_000_000

    @Test func aRecordFromLastTuesdayRevisesTuesdaysHourAndDayAsNewVersions() async throws {
        let pipeline = try await TestPipeline.make(zones: ["carol": TimeZone(identifier: "Asia/Tokyo")!])
        defer { pipeline.remove() }
        var revisions = pipeline.engine.revisions.makeAsyncIterator()
        // Tuesday 08:10 and Saturday 08:05 arrive first.
        #expect(
            try await pipeline.engine.ingest(
                PendingReading(reading: glucoseReading(Self.tuesday8 + 600_000_000, mgdl: 100, sequence: 1)) {})
                != .quarantined)
        let first = [await revisions.next(), await revisions.next()].compactMap { $0 }
        #expect(first.map(\.width) == [.hour, .day])
        #expect(first.allSatisfy { $0.version == 1 && $0.summary.aggregate.count == 1 })
        _ = try await pipeline.engine.ingest(
            PendingReading(reading: glucoseReading(Self.saturday8 + 300_000_000, mgdl: 140, sequence: 3)) {})
        _ = [await revisions.next(), await revisions.next()]
        // Then a stored record from Tuesday 08:40 arrives: Tuesday's 08:00 hour and Tuesday's day get version 2.
        _ = try await pipeline.engine.ingest(
            PendingReading(reading: glucoseReading(Self.tuesday8 + 2_400_000_000, mgdl: 121, sequence: 2)) {})
        let late = [await revisions.next(), await revisions.next()].compactMap { $0 }
        let hour = try #require(late.first { $0.width == .hour })
        let day = try #require(late.first { $0.width == .day })
        #expect(hour.version == 2 && day.version == 2)
        #expect(hour.summary.aggregate.count == 2)
        #expect(hour.summary.aggregate.sum?.description == "0.00221")  // 100 + 121 mg/dL, exactly
        #expect(hour.startMicros == Self.tuesday8 && hour.endMicros == Self.tuesday8 + 3_600_000_000)
        // Tuesday's day in Tokyo starts at 00:00 JST (15:00 UTC the day before).
        #expect(day.startMicros == Self.tuesday8 - 8 * 3_600_000_000)
        #expect(hour.late && day.late)
        // A doubtful reading revises the window too, and is counted as excluded, not averaged.
        _ = try await pipeline.engine.ingest(
            PendingReading(
                reading: glucoseReading(
                    Self.tuesday8 + 3_000_000_000, mgdl: 400, sequence: 4, flags: [.sensorAnnunciation])
            ) {})
        let doubtful = try #require(await revisions.next())
        #expect(doubtful.version == 3 && doubtful.summary.aggregate.count == 2 && doubtful.summary.excludedCount == 1)
    }

    @Test func versionsContinueAcrossARestart() async throws {
        let zones = ["carol": TimeZone(identifier: "Asia/Tokyo")!]
        let first = try await TestPipeline.make(zones: zones)
        _ = try await first.engine.ingest(
            PendingReading(reading: glucoseReading(Self.tuesday8, mgdl: 100, sequence: 1)) {})
        first.close()
        let second = try await TestPipeline.make(zones: zones, directory: first.directory)
        defer { second.remove() }
        var revisions = second.engine.revisions.makeAsyncIterator()
        // The same record again is a duplicate: no revision. A new one in the same hour is version 2.
        #expect(
            try await second.engine.ingest(
                PendingReading(reading: glucoseReading(Self.tuesday8, mgdl: 100, sequence: 1)) {})
                == .duplicate(try #require(glucoseReading(Self.tuesday8, mgdl: 100, sequence: 1).identity)))
        _ = try await second.engine.ingest(
            PendingReading(reading: glucoseReading(Self.tuesday8 + 60_000_000, mgdl: 104, sequence: 2)) {})
        #expect(await revisions.next()?.version == 2)
    }
}

/// A gateway clock the test moves by hand.
final class ManualWallClock: @unchecked Sendable {
    private let lock = NSLock()
    private var micros: Int64
    init(_ micros: Int64) { self.micros = micros }
    var now: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return micros
    }
    func advance(seconds: Int64) {
        lock.lock()
        micros += seconds * 1_000_000
        lock.unlock()
    }
}

@Suite struct CoalescedSummaryTests {
    /// An engine whose windows wait a minute before they are revised, on a clock the test moves.
    static func engine(_ directory: String, clock: ManualWallClock) throws -> (
        TimeSeriesStore, ReadingArchive, StreamEngine
    ) {
        let store = try TimeSeriesStore(directory: directory + "/store")
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        var options = StreamEngineOptions()
        options.clock = { clock.now }
        let windows = WindowTracker(zones: ["carol": TimeZone(identifier: "Asia/Tokyo")!], coalesceMicros: 60_000_000)
        return (store, archive, try StreamEngine(store: store, archive: archive, windows: windows, options: options))
    }

    @Test func aBusyHourIsRevisedOncePerIntervalAndTheFinalVersionSurvivesAStop() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-coalesce-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let saturday = LateDataTests.saturday8
        let clock = ManualWallClock(saturday + 120_000_000)
        var (store, archive, engine) = try Self.engine(directory, clock: clock)
        // Ten batches in the same hour, seconds apart: nothing is revised yet (each would have made two versions).
        for i in 0..<10 {
            _ = try await engine.ingest(
                PendingReading(
                    reading: glucoseReading(
                        saturday + Int64(i) * 1_000_000, mgdl: 100 + Int64(i), sequence: UInt16(i + 1))
                ) {})
            clock.advance(seconds: 5)
        }
        #expect(try archive.summaryRevisions(after: 0).isEmpty)
        // A minute after the window became pending, the next batch revises it once, with every reading so far.
        clock.advance(seconds: 20)
        _ = try await engine.ingest(
            PendingReading(reading: glucoseReading(saturday + 30_000_000, mgdl: 130, sequence: 11)) {})
        let revised = try archive.summaryRevisions(after: 0)
        #expect(revised.map(\.revision.width) == [.hour, .day])
        #expect(revised.allSatisfy { $0.revision.version == 1 && $0.revision.summary.aggregate.count == 11 })
        // A late record pends again; a timer with nothing else arriving revises it once due.
        _ = try await engine.ingest(
            PendingReading(reading: glucoseReading(saturday + 40_000_000, mgdl: 90, sequence: 12)) {})
        await engine.flushSummaries()
        #expect(try archive.summaryRevisions(after: 0).count == 2)
        clock.advance(seconds: 61)
        await engine.flushSummaries()
        let second = try archive.summaryRevisions(after: 0).dropFirst(2)
        #expect(
            second.map(\.revision.version) == [2, 2] && second.allSatisfy { $0.revision.summary.aggregate.count == 12 })
        // One more reading, then a stop before it is due: the pending window is revised at the next start.
        _ = try await engine.ingest(
            PendingReading(reading: glucoseReading(saturday + 50_000_000, mgdl: 95, sequence: 13)) {})
        store.close()
        (store, archive, engine) = try Self.engine(directory, clock: clock)
        defer { store.close() }
        try await engine.recover()
        let third = try archive.summaryRevisions(after: 0).dropFirst(4)
        #expect(
            third.map(\.revision.version) == [3, 3] && third.allSatisfy { $0.revision.summary.aggregate.count == 13 })
    }

    /// A batch revises at most `WindowTracker.flushLimitPerBatch` due windows (the oldest first), so no reading
    /// waiting in it pays for a whole minute of windows; the rest follow with the next batch or the timer.
    @Test func aBatchRevisesABoundedNumberOfDueWindows() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-coalesce-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let saturday = LateDataTests.saturday8
        let clock = ManualWallClock(saturday + 120_000_000)
        let (store, archive, engine) = try Self.engine(directory, clock: clock)
        defer { store.close() }
        // Forty people's meters: 80 windows (hour and day) pending.
        for person in 0..<40 {
            _ = try await engine.ingest(
                PendingReading(reading: glucoseReading(saturday, mgdl: 100, sequence: 1, subject: "p\(person)")) {})
        }
        #expect(try archive.summaryRevisions(after: 0).isEmpty)
        clock.advance(seconds: 61)
        _ = try await engine.ingest(
            PendingReading(reading: glucoseReading(saturday + 1_000_000, mgdl: 101, sequence: 2)) {})
        #expect(try archive.summaryRevisions(after: 0).count == WindowTracker.flushLimitPerBatch)
        await engine.flushSummaries()
        let all = try archive.summaryRevisions(after: 0)
        #expect(all.count == 80)
        #expect(Set(all.map { "\($0.revision.series)|\($0.revision.width)" }).count == 80)
    }
}

/// Counts the batches the engine records.
final class CountingLedger: BatchLedger, @unchecked Sendable {
    private let lock = NSLock()
    private var sizes: [Int] = []
    private var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    var batches: [Int] {
        lock.lock()
        defer { lock.unlock() }
        return sizes
    }

    /// Returns once `count` batches are recorded (a test waits for the engine instead of polling).
    func waitForBatches(_ count: Int) async {
        await withCheckedContinuation { continuation in
            let ready = lock.withLock { () -> Bool in
                if sizes.count >= count { return true }
                waiters.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func record(_ readings: [LedgerEntry.Item], recordedMicros: Int64) throws -> Int {
        let (count, ready) = lock.withLock { () -> (Int, [CheckedContinuation<Void, Never>]) in
            sizes.append(readings.count)
            let ready = waiters.filter { $0.count <= sizes.count }.map(\.continuation)
            waiters.removeAll { $0.count <= sizes.count }
            return (sizes.count, ready)
        }
        for continuation in ready { continuation.resume() }
        return count
    }
    func lastBatch(recorded readings: [LedgerEntry.Item]) -> Int? { nil }
    func recordRetirement(through: Int, cutoffMicros: Int64, recordedMicros: Int64) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        sizes.append(0)
        return sizes.count
    }
}

@Suite struct NotificationLingerTests {
    /// A fresh data directory for one test (the caller removes it).
    static func directory() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-linger-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    static func engine(
        _ directory: String, ledger: CountingLedger, linger: Duration, batchSize: Int? = nil,
        importBatchSize: Int? = nil, clock: (any Clock<Duration>)? = nil
    ) throws -> (TimeSeriesStore, StreamEngine) {
        let store = try TimeSeriesStore(directory: directory + "/store")
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        var options = StreamEngineOptions()
        options.notificationLinger = linger
        if let batchSize { options.batchSize = batchSize }
        if let importBatchSize { options.importBatchSize = importBatchSize }
        if let clock { options.lingerClock = clock }
        return (store, try StreamEngine(store: store, archive: archive, ledger: ledger, options: options))
    }

    /// A strap's `count` notifications, a second apart, sent into `continuation`; returns once all wait in `engine`.
    static func notify(
        _ continuation: AsyncStream<PendingReading>.Continuation, _ count: Int, queuedIn engine: StreamEngine
    ) async {
        for second in 0..<count {
            let notification = SeriesReadingTests.strap(
                SeriesReadingTests.base + Int64(second) * 1_000_000, bpm: 70, rr: [850])
            continuation.yield(PendingReading(reading: notification, waiter: .nobody) {})
        }
        await engine.waitUntilQueued(count)
    }

    /// Notifications alone wait their linger on the engine's clock, not a moment less, then share one batch. The clock
    /// is a manual one: the test moves it through the 200 ms and waits for none of them.
    @Test(.timeLimit(.minutes(1))) func notificationsWaitTheirLingerOnTheEnginesClockThenShareABatch() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = CountingLedger()
        let clock = ManualClock()
        let (store, engine) = try Self.engine(directory, ledger: ledger, linger: .milliseconds(200), clock: clock)
        defer { store.close() }
        let (strap, continuation) = AsyncStream.makeStream(of: PendingReading.self)
        async let fed: Void = engine.consume(strap)
        await NotificationLingerTests.notify(continuation, 5, queuedIn: engine)
        await clock.sleeping(atLeast: 1)
        clock.advance(by: .milliseconds(199))
        let waiting = await engine.queueDepth
        #expect(ledger.batches.isEmpty && waiting == 5, "the linger ended early")
        clock.advance(by: .milliseconds(1))
        #expect(await eventually { ledger.batches == [5] }, "\(ledger.batches)")
        continuation.finish()
        try await fed
    }

    /// The linger is ten minutes and the test has one: it passes only if the confirmed reading does not wait for it.
    @Test(.timeLimit(.minutes(1))) func notificationsShareABatchAndAConfirmedReadingDoesNotWait() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = CountingLedger()
        let (store, engine) = try Self.engine(directory, ledger: ledger, linger: .seconds(600))
        defer { store.close() }
        // Twelve notifications (as twelve straps would send them): one batch, not twelve.
        let readings = ProvenanceCatalogTests.readings()
        let (stream, continuation) = AsyncStream.makeStream(of: PendingReading.self)
        let feeding = Task { try await engine.consume(stream) }
        for index in 0..<12 {
            var notification = readings[2]
            notification.time.receivedMicros += Int64(index) * 1_000_000
            notification.time.effectiveMicros += Int64(index) * 1_000_000
            notification.rawPayloads = [[0x16, UInt8(60 + index)]]
            continuation.yield(PendingReading(reading: notification, awaitsConfirmation: false) {})
        }
        // All twelve wait together (none is stored alone).
        await engine.waitUntilQueued(12)
        #expect(await engine.queueDepth == 12 && ledger.batches.isEmpty)
        // A cuff's indication arrives: it is stored at once and alone (its confirmation does not wait for the
        // notifications' work), not after the linger; the notifications go on lingering until their source ends.
        #expect(try await engine.ingest(PendingReading(reading: readings[0]) {}) != .quarantined)
        let stillWaiting = await engine.queueDepth
        #expect(ledger.batches == [1] && stillWaiting == 12)
        continuation.finish()
        try await feeding.value
        #expect(ledger.batches == [1, 12])
        #expect(try ReadingArchive(path: directory + "/engine.sqlite").readings(subject: "carol").count == 13)
    }

    /// A cuff's pressure and pulse (one indication, both awaiting its confirmation): the source hands over the pulse
    /// without waiting for the pressure's outcome (it used to wait, so the two took two batches in turn), and the
    /// indication is confirmed once both are durable.
    @Test(.timeLimit(.minutes(1))) func theReadingsOfOneIndicationDoNotWaitForEachOther() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = CountingLedger()
        let (store, engine) = try Self.engine(directory, ledger: ledger, linger: .seconds(600))
        defer { store.close() }
        let pressure = ProvenanceCatalogTests.readings()[0]
        var pulse = pressure
        pulse.kind = .pulseRate
        pulse.components = [
            ReadingComponent(
                metric: .pulseRate, value: .quantity(DecimalQuantity(mantissa: 72, exponent: 0)), unit: "/min")
        ]
        pulse.flags.remove(.valueAbsent)
        let readings = [pressure, pulse]
        let events = Mutex<[String]>([])
        let handed = Mutex(0)
        let source = AsyncStream<PendingReading>(unfolding: {
            let index = handed.withLock { count in
                defer { count += 1 }
                return count
            }
            guard index < readings.count else { return nil }
            events.withLock { $0.append("handed \(index)") }
            return PendingReading(reading: readings[index]) { events.withLock { $0.append("confirmed \(index)") } }
        })
        try await engine.consume(source)
        let order = events.withLock { $0 }
        let second = try #require(order.firstIndex(of: "handed 1"))
        let first = try #require(order.firstIndex(of: "confirmed 0"))
        #expect(second < first && order.contains("confirmed 1") && ledger.batches.reduce(0, +) == 2)
    }

    /// Notifications alone wait past `batchSize` (up to `importBatchSize`): a hub's straps share one batch per linger.
    @Test(.timeLimit(.minutes(1))) func notificationsAloneFillABiggerBatch() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = CountingLedger()
        let (store, engine) = try Self.engine(
            directory, ledger: ledger, linger: .seconds(600), batchSize: 8, importBatchSize: 64)
        defer { store.close() }
        let (stream, continuation) = AsyncStream.makeStream(of: PendingReading.self)
        let feeding = Task { try await engine.consume(stream) }
        await NotificationLingerTests.notify(continuation, 40, queuedIn: engine)
        #expect(await engine.queueDepth == 40 && ledger.batches.isEmpty)
        continuation.finish()
        try await feeding.value
        #expect(ledger.batches == [40])
    }

    /// A strap's later batches only extend its span: each is marked stored in the next batch's transaction, and the
    /// last one when nothing more waits — every batch reaches the feed, none is left for recovery.
    @Test(.timeLimit(.minutes(1))) func batchesThatOnlyExtendASpanAreAllMarkedStored() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = CountingLedger()
        // A batch is six notifications: full before the (long) linger ends.
        let (store, engine) = try Self.engine(
            directory, ledger: ledger, linger: .seconds(600), batchSize: 6, importBatchSize: 6)
        defer { store.close() }
        let (stream, continuation) = AsyncStream.makeStream(of: PendingReading.self)
        let feeding = Task { try await engine.consume(stream) }
        for group in 0..<4 {
            for second in (group * 6)..<(group * 6 + 6) {
                let notification = SeriesReadingTests.strap(
                    SeriesReadingTests.base + Int64(second) * 1_000_000, bpm: 70 + second % 9, rr: [850])
                continuation.yield(PendingReading(reading: notification, awaitsConfirmation: false) {})
            }
            await ledger.waitForBatches(group + 1)
        }
        continuation.finish()
        try await feeding.value
        #expect(ledger.batches == [6, 6, 6, 6])
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        let spans = try await archive.queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM reading") }
        #expect(spans == 1)
        #expect(try archive.storedReadings(after: 0, limit: 100).count == 24)
        #expect(try archive.unstored().batches.isEmpty)
    }

    /// A source that ends (an import file, a connection) does not leave its last readings lingering.
    @Test(.timeLimit(.minutes(1))) func readingsLeftWaitingWhenTheSourceEndsDoNotLinger() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = CountingLedger()
        let (store, engine) = try Self.engine(directory, ledger: ledger, linger: .seconds(600))
        defer { store.close() }
        let strap = ProvenanceCatalogTests.readings()[2]
        let notifications = (0..<5).map { index in
            var notification = strap
            notification.time.receivedMicros += Int64(index) * 1_000_000
            notification.time.effectiveMicros += Int64(index) * 1_000_000
            notification.rawPayloads = [[0x16, UInt8(60 + index)]]
            return PendingReading(reading: notification, awaitsConfirmation: false) {}
        }
        let (source, continuation) = AsyncStream.makeStream(of: PendingReading.self)
        for notification in notifications { continuation.yield(notification) }
        continuation.finish()
        try await engine.consume(source)
        #expect(ledger.batches.reduce(0, +) == 5)
    }
}
