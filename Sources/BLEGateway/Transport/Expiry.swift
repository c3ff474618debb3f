import Synchronization

/// Why a timed call was told to stop waiting.
public enum ExpiryCause: Sendable, Equatable {
    /// Its time ran out on the clock.
    case deadline
    /// Its caller was cancelled before: it stops waiting at once rather than at the deadline (the deadline's timer is
    /// a child of the call, cancelled with it).
    case callerCancelled
}

/// Runs `body` while a child task waits `timeout` on `clock` and then calls `expire`, unless `body` returned first
/// (which cancels the wait). `expire` is how the timed call learns of it: it closes a link or answers a waiter, so that
/// `body` returns. When the caller is cancelled while `body` waits, `expire` is called at once with `.callerCancelled`.
///
/// The timer of an ATT transaction, a management command, an indication's confirmation, a pairing download or a
/// long poll: a child of the call it times, so it never outlives that call nor fires into the next one, and a test
/// moves a manual clock instead of waiting.
public func withExpiry<Value: Sendable, Failure: Error>(
    after timeout: Duration, on clock: any Clock<Duration>, isolation: isolated (any Actor)? = #isolation,
    expire: @escaping @Sendable (ExpiryCause) async -> Void, body: () async throws(Failure) -> Value
) async throws(Failure) -> Value {
    let returned = Returned()
    let outcome = await withTaskGroup(of: Void.self, returning: Result<Value, Failure>.self, isolation: isolation) {
        group in
        group.addTask {
            do {
                try await clock.sleep(for: timeout, tolerance: nil)
            } catch {
                // Cancelled: by `body` returning (nothing to do), or with the caller while `body` still waits.
                if !returned.value.withLock({ $0 }) { await expire(.callerCancelled) }
                return
            }
            if !returned.value.withLock({ $0 }) { await expire(.deadline) }
        }
        let outcome: Result<Value, Failure>
        do throws(Failure) { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        returned.value.withLock { $0 = true }
        group.cancelAll()
        return outcome
    }
    return try outcome.get()
}

/// Set once the timed call's body has returned, so its timer tells a finished call from a cancelled caller.
private final class Returned: Sendable {
    let value = Mutex(false)
}
