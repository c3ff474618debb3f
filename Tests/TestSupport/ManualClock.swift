import Foundation

/// A clock that moves only when the test says (`advance(by:)`): a timer under test fires at exactly the instant it asks
/// for, and the test waits for no time. `sleepers` says how many wait, so a test can wait until the code under test is
/// asleep before it moves the clock.
public final class ManualClock: Clock, @unchecked Sendable {
    public struct Instant: InstantProtocol {
        public var offset: Duration
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        var id: UInt64
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let lock = NSLock()
    private var current = Instant(offset: .zero)
    private var waiting: [Sleeper] = []
    private var cancelled: Set<UInt64> = []
    private var nextID: UInt64 = 0
    private var sleeperWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []

    public init() {}

    public var now: Instant { lock.withLock { current } }
    public var minimumResolution: Duration { .zero }
    /// How many sleeps have not ended yet.
    public var sleepers: Int { lock.withLock { waiting.count } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = lock.withLock {
            nextID += 1
            return nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (outcome, ready) = lock.withLock {
                    () -> (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) in
                    if cancelled.remove(id) != nil { return (.failure(CancellationError()), []) }
                    if deadline <= current { return (.success(()), []) }
                    waiting.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    let ready = sleeperWaiters.filter { $0.count <= waiting.count }.map(\.continuation)
                    sleeperWaiters.removeAll { $0.count <= waiting.count }
                    return (nil, ready)
                }
                if let outcome { continuation.resume(with: outcome) }
                for waiter in ready { waiter.resume() }
            }
        } onCancel: {
            let sleeper = lock.withLock { () -> Sleeper? in
                guard let index = waiting.firstIndex(where: { $0.id == id }) else {
                    cancelled.insert(id)
                    return nil
                }
                return waiting.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Returns once at least `count` sleeps wait — the code under test is asleep — so the test can move the clock. It
    /// waits for that as long as it takes (bound it with the test's time limit): a poll with a deadline of its own ran
    /// out on a loaded machine before the code got to sleep, and the test then waited forever for a timer not started.
    public func sleeping(atLeast count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = lock.withLock { () -> Bool in
                if waiting.count >= count { return true }
                sleeperWaiters.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Moves the clock on; every sleep whose deadline has come ends, earliest first.
    public func advance(by duration: Duration) {
        let due = lock.withLock { () -> [Sleeper] in
            current = current.advanced(by: duration)
            let due = waiting.filter { $0.deadline <= current }.sorted { $0.deadline < $1.deadline }
            waiting.removeAll { $0.deadline <= current }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
