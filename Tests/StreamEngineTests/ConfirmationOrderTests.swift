import Foundation
import Provenance
import Synchronization
import TestSupport
import Testing
import TimeSeries

@testable import StreamEngine

/// Who waits decides what goes first: a device's indication before a transfer's records, and both before
/// notifications; a device is confirmed once its readings are durable, before the ledger records them.
@Suite struct ConfirmationOrderTests {
    static func engine(
        _ directory: String, ledger: any BatchLedger, batchSize: Int? = nil
    ) throws -> (TimeSeriesStore, StreamEngine) {
        let store = try TimeSeriesStore(directory: directory + "/store")
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        var options = StreamEngineOptions()
        options.notificationLinger = .seconds(600)
        if let batchSize { options.batchSize = batchSize }
        return (store, try StreamEngine(store: store, archive: archive, ledger: ledger, options: options))
    }

    static func records(_ count: Int, from sequence: UInt16 = 1) -> AsyncStream<PendingReading> {
        let records = (0..<count).map { index in
            glucoseReading(
                SeriesReadingTests.base + Int64(index) * 60_000_000, mgdl: 100 + Int64(index),
                sequence: sequence + UInt16(index))
        }
        return AsyncStream { continuation in
            for record in records { continuation.yield(PendingReading(reading: record, waiter: .transfer) {}) }
            continuation.finish()
        }
    }

    /// A meter's sync ends while a strap's notifications linger: they go on lingering (a hub's meters ending their
    /// syncs every few seconds cut every strap's linger short, and its batches to a tenth of their size).
    @Test(.timeLimit(.minutes(1))) func aSourceEndingWithNothingLingeringLeavesTheOthersNotificationsLingering()
        async throws
    {
        let directory = try NotificationLingerTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = CountingLedger()
        let (store, engine) = try Self.engine(directory, ledger: ledger)
        defer { store.close() }
        let (strap, continuation) = AsyncStream.makeStream(of: PendingReading.self)
        let feeding = Task { try await engine.consume(strap) }
        await NotificationLingerTests.notify(continuation, 12, queuedIn: engine)
        try await engine.consume(Self.records(3))
        // The records are stored (in one batch, or one by one when the engine takes each as it arrives: that race is
        // not what this is about), and the notifications still linger, all twelve.
        let records = ledger.batches
        #expect(records.reduce(0, +) == 3, "\(records)")
        #expect(await engine.queueDepth == 12)
        continuation.finish()
        try await feeding.value
        #expect(ledger.batches == records + [12])
    }

    /// Once a device has waited for a confirmation, a transfer's records go a sixteenth of `batchSize` at a time, so a
    /// cuff's indication arriving meanwhile waits for a few records, not for a meter's hundred.
    @Test(.timeLimit(.minutes(1))) func aTransfersRecordsGoAFewAtATimeOnceADeviceWaited() async throws {
        let directory = try NotificationLingerTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = CountingLedger()
        let (store, engine) = try Self.engine(directory, ledger: ledger, batchSize: 32)
        defer { store.close() }
        #expect(
            try await engine.ingest(PendingReading(reading: ProvenanceCatalogTests.readings()[0], waiter: .device) {})
                != .quarantined)
        try await engine.consume(Self.records(10))
        let batches = ledger.batches
        #expect(batches.first == 1 && batches.dropFirst().reduce(0, +) == 10)
        #expect(batches.dropFirst().allSatisfy { $0 <= 2 }, "\(batches)")
    }

    /// Readings a device waits on are journaled as rows holding all they vary by — durable once the journal commits —
    /// and confirmed then, before the ledger records them; they read back exactly.
    @Test(.timeLimit(.minutes(1))) func aDevicesReadingsAreRowsConfirmedBeforeTheLedgerRecordsThem() async throws {
        let directory = try NotificationLingerTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = ConfirmationWatchingLedger()
        let (store, engine) = try Self.engine(directory, ledger: ledger)
        defer { store.close() }
        // Readings a strap would send, as a device that waits for each (so they could have been a span).
        let readings = (0..<6).map { second in
            SeriesReadingTests.strap(SeriesReadingTests.base + Int64(second) * 1_000_000, bpm: 70 + second, rr: [850])
        }
        let source = AsyncStream<PendingReading> { continuation in
            for reading in readings {
                continuation.yield(PendingReading(reading: reading, waiter: .device) { ledger.confirm() })
            }
            continuation.finish()
        }
        try await engine.consume(source)
        #expect(ledger.recorded.withLock { $0 } == 6)
        #expect(
            ledger.confirmedFirst.withLock { $0 }, "a batch was recorded in the ledger before its device was confirmed")
        #expect(try ReadingArchive(path: directory + "/engine.sqlite").readings(subject: "carol") == readings)
    }

    /// What makes a device's readings durable at the journal's commit: journaled `rowsOnly`, a strap's readings are
    /// rows that read back without the store (otherwise one span, whose values only the store holds).
    @Test func readingsJournaledAsRowsOnlyHoldAllTheyVaryBy() throws {
        let directory = try NotificationLingerTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let readings = (0..<6).map { second in
            SeriesReadingTests.strap(SeriesReadingTests.base + Int64(second) * 1_000_000, bpm: 70 + second, rr: [850])
        }
        let batch = try readings.map { (try #require($0.identity).hex, $0) }
        let spanned = try ReadingArchive(path: directory + "/spanned.sqlite").journal(
            batch, quarantine: [], released: [])
        #expect(spanned.rows.count == 1 && spanned.tags.allSatisfy { $0 != nil })
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        let journaled = try archive.journal(batch, quarantine: [], released: [], rowsOnly: true)
        #expect(journaled.rows.count == 6 && journaled.tags.allSatisfy { $0 == nil })
        try archive.markStored(rows: journaled.rows, ledgerSequence: 1)
        #expect(try archive.readings(subject: "carol") == readings)
    }
}

/// A ledger that, before recording a batch, waits (up to 5 s) until every reading recorded so far and the batch's own
/// have been confirmed to their device, and notes whether they were.
final class ConfirmationWatchingLedger: BatchLedger, @unchecked Sendable {
    /// Confirmations so far, guarded by `confirmation` (a condition: `record` waits on it, `confirm` signals it).
    private var confirmedCount = 0
    private let confirmation = NSCondition()
    let recorded = Mutex(0)
    let confirmedFirst = Mutex(true)

    /// A device heard its confirmation.
    func confirm() {
        confirmation.lock()
        confirmedCount += 1
        confirmation.broadcast()
        confirmation.unlock()
    }

    func record(_ items: [LedgerEntry.Item], recordedMicros: Int64) throws -> Int {
        let wanted = recorded.withLock { $0 } + items.count
        let deadline = Date().addingTimeInterval(5)
        confirmation.lock()
        while confirmedCount < wanted, confirmation.wait(until: deadline) {}
        let confirmedInTime = confirmedCount >= wanted
        confirmation.unlock()
        if !confirmedInTime { confirmedFirst.withLock { $0 = false } }
        return recorded.withLock { count in
            count += items.count
            return count
        }
    }
    func lastBatch(recorded items: [LedgerEntry.Item]) -> Int? { nil }
    func recordRetirement(through: Int, cutoffMicros: Int64, recordedMicros: Int64) throws -> Int { 0 }
}
