import Synchronization

/// What a session loop waits on: the device's notifications/indications, its deadlines, the link's end.
enum SessionInput: Sendable {
    case event(GATTServerEvent)
    case deadline(UInt64)
    case linkClosed
}

/// A deadline a session scheduled; cancelling it means its `.deadline` is never delivered.
struct SessionDeadline: Sendable {
    fileprivate let token: UInt64
    fileprivate let timers: SessionTimers

    func cancel() { timers.cancel(token) }
}

/// Runs a session's loop (`body`) with an inbox that merges the client's `events` and the session's deadlines into one
/// ordered stream, so the loop is a single `for await` without racing iterators. The event pump and the deadline timer
/// are child tasks of this call: they end with the session, and a cancelled session takes them with it.
func withSessionInbox<Value, Failure: Error>(
    events: AsyncStream<GATTServerEvent>, clock: any Clock<Duration>, isolation: isolated (any Actor)? = #isolation,
    body: (SessionInbox) async throws(Failure) -> Value
) async throws(Failure) -> Value {
    let inbox = SessionInbox(clock: clock)
    let outcome = await withTaskGroup(of: Void.self, returning: Result<Value, Failure>.self, isolation: isolation) {
        group in
        group.addTask { await inbox.pump(events) }
        group.addTask { await inbox.timers.run() }
        let outcome: Result<Value, Failure>
        do throws(Failure) { outcome = .success(try await body(inbox)) } catch { outcome = .failure(error) }
        inbox.finish()
        group.cancelAll()
        return outcome
    }
    return try outcome.get()
}

/// The stream a session loop reads (see `withSessionInbox`).
final class SessionInbox: Sendable {
    let stream: AsyncStream<SessionInput>
    private let sink: AsyncStream<SessionInput>.Continuation
    fileprivate let timers: SessionTimers

    fileprivate init(clock: any Clock<Duration>) {
        let (stream, sink) = AsyncStream.makeStream(of: SessionInput.self, bufferingPolicy: .unbounded)
        self.stream = stream
        self.sink = sink
        timers = SessionTimers(clock: clock, sink: sink)
    }

    /// Delivers `.deadline(id)` after `delay` on the session's clock, unless cancelled first.
    func schedule(_ id: UInt64, after delay: Duration) -> SessionDeadline {
        SessionDeadline(token: timers.schedule(id, after: delay), timers: timers)
    }

    fileprivate func pump(_ events: AsyncStream<GATTServerEvent>) async {
        for await event in events { sink.yield(.event(event)) }
        sink.yield(.linkClosed)
    }

    fileprivate func finish() { sink.finish() }
}

/// A session's pending deadlines and the one timer that waits for the earliest. Scheduling a later deadline (a
/// download's progress moving its deadline on, record after record) leaves the timer asleep: it wakes at the earlier
/// instant, finds that deadline gone and sleeps on. Only a deadline earlier than the one it waits for wakes it.
final class SessionTimers: Sendable {
    private struct Pending {
        var id: UInt64
        var due: Duration
    }

    private struct State {
        var nextToken: UInt64 = 0
        var pending: [UInt64: Pending] = [:]
        /// What the timer sleeps toward; nil while it waits for a first deadline.
        var target: Duration?
        var waiter: CheckedContinuation<Void, Never>?
        var woken = false
    }

    private let state = Mutex(State())
    private let elapsed: @Sendable () -> Duration
    private let sleep: @Sendable (_ until: Duration) async throws -> Void
    private let sink: AsyncStream<SessionInput>.Continuation

    fileprivate init(clock: any Clock<Duration>, sink: AsyncStream<SessionInput>.Continuation) {
        (elapsed, sleep) = Self.stopwatch(clock)
        self.sink = sink
    }

    /// Time since the session began on `clock`, and a sleep until an instant given the same way, so deadlines of any
    /// clock compare as durations and the timer wakes at exactly the instant a deadline names.
    private static func stopwatch<C: Clock<Duration>>(_ clock: C) -> (
        @Sendable () -> Duration, @Sendable (Duration) async throws -> Void
    ) {
        let start = clock.now
        return (
            { start.duration(to: clock.now) },
            { try await clock.sleep(until: start.advanced(by: $0), tolerance: nil) }
        )
    }

    fileprivate func schedule(_ id: UInt64, after delay: Duration) -> UInt64 {
        let due = elapsed() + delay
        let (token, waiter) = state.withLock { state -> (UInt64, CheckedContinuation<Void, Never>?) in
            state.nextToken += 1
            state.pending[state.nextToken] = Pending(id: id, due: due)
            guard state.target.map({ due < $0 }) ?? true else { return (state.nextToken, nil) }
            return (state.nextToken, Self.wake(&state))
        }
        waiter?.resume()
        return token
    }

    fileprivate func cancel(_ token: UInt64) {
        _ = state.withLock { $0.pending.removeValue(forKey: token) }
    }

    /// The timer: delivers every due deadline in order, then sleeps until the earliest pending one or until an
    /// earlier one is scheduled; it ends when cancelled with the session.
    fileprivate func run() async {
        while !Task.isCancelled {
            let now = elapsed()
            let (due, target) = state.withLock { state -> ([Pending], Duration?) in
                let due = state.pending.filter { $0.value.due <= now }.sorted {
                    ($0.value.due, $0.key) < ($1.value.due, $1.key)
                }
                for (token, _) in due { state.pending.removeValue(forKey: token) }
                state.target = state.pending.values.map(\.due).min()
                state.woken = false  // what woke it is in this reckoning
                return (due.map(\.value), state.target)
            }
            for pending in due { sink.yield(.deadline(pending.id)) }
            await withTaskGroup(of: Void.self) { group in
                if let target { group.addTask { try? await self.sleep(target) } }
                group.addTask { await self.waitToBeWoken() }
                await group.next()
                group.cancelAll()
            }
        }
    }

    private func waitToBeWoken() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.woken || Task.isCancelled {
                        state.woken = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }
    }

    /// Takes the sleeping timer's waiter to resume, or leaves word for a timer not yet asleep.
    private static func wake(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        guard let waiter = state.waiter else {
            state.woken = true
            return nil
        }
        state.waiter = nil
        return waiter
    }
}
