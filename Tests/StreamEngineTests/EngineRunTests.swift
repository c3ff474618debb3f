import Foundation
import Provenance
import Testing
import TimeSeries

@testable import StreamEngine

/// The engine run as its owner's child (the daemon's EngineService): readings that join are batched by the run, and
/// stopping it batches what waits — a linger cut short — before it returns.
@Suite struct EngineRunTests {
    /// An engine on a scratch directory, with the ledger that counts its batches, for one test's body.
    private func withEngine(_ body: (StreamEngine, CountingLedger) async throws -> Void) async throws {
        let directory = try NotificationLingerTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = CountingLedger()
        let (store, engine) = try ConfirmationOrderTests.engine(directory, ledger: ledger)
        defer { store.close() }
        try await body(engine, ledger)
    }

    @Test(.timeLimit(.minutes(1))) func readingsThatJoinWhileItRunsAreBatchedAndItEndsWhenStopped() async throws {
        try await withEngine { engine, ledger in
            async let ran: Void = engine.run()
            #expect(
                try await engine.ingest(
                    PendingReading(reading: ProvenanceCatalogTests.readings()[0], waiter: .device) {})
                    != .quarantined)
            try await engine.consume(ConfirmationOrderTests.records(3))
            await engine.stopRunning()
            await ran
            #expect(ledger.batches.reduce(0, +) == 4, "\(ledger.batches)")
        }
    }

    /// Notifications linger for ten minutes here; stopping the run does not wait for that: they are stored, in one
    /// batch, before `run()` returns, and the source that sent them hears their outcomes.
    @Test(.timeLimit(.minutes(1))) func stoppingBatchesWhatLingersBeforeTheRunReturns() async throws {
        try await withEngine { engine, ledger in
            async let ran: Void = engine.run()
            let (strap, continuation) = AsyncStream.makeStream(of: PendingReading.self)
            async let fed: Void = engine.consume(strap)
            await NotificationLingerTests.notify(continuation, 12, queuedIn: engine)
            #expect(ledger.batches.isEmpty)
            await engine.stopRunning()
            await ran
            #expect(ledger.batches == [12])
            #expect(await engine.queueDepth == 0)
            continuation.finish()
            try await fed
            // A run once stopped does not start again.
            await engine.run()
        }
    }
}
