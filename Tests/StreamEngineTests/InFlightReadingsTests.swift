import Foundation
import Provenance
import Synchronization
import Testing

@testable import StreamEngine

/// A source fed through `consume` has at most its limit of readings waiting for an outcome, and hears the first
/// failure; the engine's own thread runs its jobs and ends with it.
@Suite struct InFlightReadingsTests {
    struct Refused: Error {}

    @Test(.timeLimit(.minutes(1))) func aFourthReadingWaitsForAPlaceAndTheFirstFailureIsHeard() async throws {
        let flight = InFlightReadings(limit: 3)
        for _ in 0..<3 { try await flight.reserve() }
        let placed = Mutex(false)
        let fourth = Task {
            try await flight.reserve()
            placed.withLock { $0 = true }
        }
        while !flight.hasWaiter { await Task.yield() }
        #expect(!placed.withLock { $0 })  // three are out: the fourth waits
        flight.finished(.success(.quarantined))  // a place frees: the fourth takes it
        try await fourth.value
        #expect(placed.withLock { $0 })
        flight.finished(.failure(Refused()))
        flight.finished(.success(.quarantined))
        flight.finished(.success(.quarantined))
        await #expect(throws: Refused.self) { try await flight.drain() }
        await #expect(throws: Refused.self) { try await flight.reserve() }
    }

    /// The notifications a source still has out decide whether its end cuts the linger short (`StreamEngine.consume`).
    @Test(.timeLimit(.minutes(1))) func notificationsOutstandingCountsOnlyReadingsNobodyConfirms() async throws {
        let flight = InFlightReadings(limit: 8)
        try await flight.reserve(notification: true)
        try await flight.reserve(notification: false)
        try await flight.reserve(notification: true)
        #expect(flight.notificationsOutstanding == 2)
        flight.finished(.success(.quarantined), notification: true)
        flight.finished(.success(.quarantined), notification: false)
        #expect(flight.notificationsOutstanding == 1)
        flight.finished(.success(.quarantined), notification: true)
        #expect(flight.notificationsOutstanding == 0)
        try await flight.drain()
    }

    @Test(.timeLimit(.minutes(1))) func drainWaitsForTheLastOutcome() async throws {
        let flight = InFlightReadings(limit: 2)
        try await flight.reserve()
        let finished = Mutex(false)
        let draining = Task {
            try await flight.drain()
            return finished.withLock { $0 }
        }
        while !flight.hasWaiter { await Task.yield() }  // the drain waits for the last outcome
        finished.withLock { $0 = true }
        flight.finished(.success(.quarantined))
        #expect(try await draining.value)
    }

    @Test func theExecutorRunsJobsInOrderOnOneThreadAndEnds() async throws {
        actor Counter {
            let executor = DedicatedThreadExecutor(name: "test")
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            var values: [Int] = []
            var threads: Set<UInt> = []
            func add(_ value: Int) {
                values.append(value)
                threads.insert(UInt(pthread_self()))
            }
            deinit { executor.shutdown() }
        }
        let counter = Counter()
        for value in 0..<100 { await counter.add(value) }
        #expect(await counter.values == Array(0..<100))
        #expect(await counter.threads.count == 1)
        #expect(await !counter.threads.contains(UInt(pthread_self())))
    }
}
