import Synchronization

/// The readings of one source (`StreamEngine.consume`) that wait for their outcome: at most `limit` at once, so a
/// slow disk slows the device; the first failure is what the source's consumer hears.
final class InFlightReadings: Sendable {
    private struct State {
        var outstanding = 0
        /// Of those, readings nobody confirms (notifications), which may be lingering for company.
        var notifications = 0
        var failure: (any Error)?
        var slotWaiter: CheckedContinuation<Void, Never>?
        var drainWaiter: CheckedContinuation<Void, Never>?
    }
    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    /// Readings of this source nobody confirms that have no outcome yet.
    var notificationsOutstanding: Int { state.withLock { $0.notifications } }

    /// A source is waiting here, for a place or for the last outcome (what a test waits for instead of sleeping).
    var hasWaiter: Bool { state.withLock { $0.slotWaiter != nil || $0.drainWaiter != nil } }

    /// Takes a place, waiting for one when `limit` readings are out; throws the first failure instead.
    /// `notification`: the reading awaits no confirmation (counted in `notificationsOutstanding` until it finishes).
    func reserve(notification: Bool = false) async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.outstanding < limit || state.failure != nil {
                    state.outstanding += 1
                    return true
                }
                state.slotWaiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
        if let failure = state.withLock({ $0.failure }) {
            state.withLock { $0.outstanding -= 1 }
            throw failure
        }
        if notification { state.withLock { $0.notifications += 1 } }
    }

    /// A reading has its outcome: its place goes to a waiting reservation, or counts toward the drain.
    func finished(_ result: Result<IngestOutcome, any Error>, notification: Bool = false) {
        let (slot, drained) = state.withLock {
            state -> (CheckedContinuation<Void, Never>?, CheckedContinuation<Void, Never>?) in
            if notification { state.notifications -= 1 }
            if case .failure(let error) = result, state.failure == nil { state.failure = error }
            if let waiter = state.slotWaiter {
                state.slotWaiter = nil
                return (waiter, nil)  // the place passes on: outstanding stays
            }
            state.outstanding -= 1
            if state.outstanding == 0, let waiter = state.drainWaiter {
                state.drainWaiter = nil
                return (nil, waiter)
            }
            return (nil, nil)
        }
        slot?.resume()
        drained?.resume()
    }

    /// Waits until every reading has its outcome; throws the first failure.
    func drain() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.outstanding == 0 { return true }
                state.drainWaiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }
}
