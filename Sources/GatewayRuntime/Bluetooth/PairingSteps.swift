import ServiceLifecycle
import Synchronization

/// The steps of the pairing flow that requests start — a scan; a pairing with its download — run one at a time as
/// child tasks of `run()` (the daemon's service for pairing), so none outlives the daemon. A new step, or `cancel()`,
/// cancels the one running. A step started while nobody runs them waits for a runner.
final class PairingSteps: Sendable {
    typealias Work = @Sendable () async -> Void

    private struct Step: Sendable {
        let number: Int
        let work: Work
    }

    private struct State {
        /// The newest step's number; a step with a smaller one has been superseded.
        var current = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())
    private let steps: AsyncStream<Step>
    private let sink: AsyncStream<Step>.Continuation

    init() { (steps, sink) = AsyncStream.makeStream(of: Step.self, bufferingPolicy: .unbounded) }

    /// Supersedes the running step (it is cancelled) and starts `work`.
    func start(_ work: @escaping Work) {
        let number = supersede()
        sink.yield(Step(number: number, work: work))
    }

    /// Cancels the running step.
    func cancel() { _ = supersede() }

    /// Runs the steps until cancelled or the daemon shuts down gracefully; the running step is cancelled then.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await step in steps.cancelOnGracefulShutdown() {
                group.addTask { await self.perform(step) }
            }
            group.cancelAll()
        }
    }

    /// Runs a step until it ends or is superseded, whichever comes first.
    private func perform(_ step: Step) async {
        await withTaskGroup(of: Void.self) { race in
            race.addTask { await step.work() }
            race.addTask { await self.superseded(step.number) }
            await race.next()
            race.cancelAll()
        }
    }

    private func supersede() -> Int {
        let (number, waiters) = state.withLock { state in
            state.current += 1
            defer { state.waiters = [:] }
            return (state.current, Array(state.waiters.values))
        }
        for waiter in waiters { waiter.resume() }
        return number
    }

    /// Returns once step `number` is superseded (or the wait is cancelled: its step ended).
    private func superseded(_ number: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    guard state.current == number, !Task.isCancelled else { return true }
                    state.waiters[number] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: number) }?.resume()
        }
    }
}
