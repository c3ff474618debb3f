import Synchronization
import TestSupport
import Testing

@testable import BLEGateway

/// `withExpiry`, the timer of every timed call: it fires at its deadline on the injected clock and not a moment before,
/// never after the call returned, and at once (saying so) when the caller is cancelled.
@Suite(.timeLimit(.minutes(1))) struct ExpiryTests {
    /// A call waiting until `expire` answers it, as a transaction waits for its response.
    actor Waiter {
        private var waiting: CheckedContinuation<Void, Never>?
        private(set) var causes: [ExpiryCause] = []

        func wait(timeout: Duration, clock: any Clock<Duration>) async {
            await withExpiry(
                after: timeout, on: clock, expire: { cause in await self.expired(cause) },
                body: {
                    await withCheckedContinuation { waiting = $0 }
                })
        }

        func answer() {
            waiting?.resume()
            waiting = nil
        }

        private func expired(_ cause: ExpiryCause) {
            causes.append(cause)
            answer()
        }
    }

    @Test func theCallExpiresAtItsDeadlineOnTheClock() async {
        let clock = ManualClock()
        let waiter = Waiter()
        let call = Task { await waiter.wait(timeout: .seconds(30), clock: clock) }
        await clock.sleeping(atLeast: 1)
        clock.advance(by: .seconds(29))
        #expect(await waiter.causes.isEmpty)
        #expect(clock.sleepers == 1)
        clock.advance(by: .seconds(1))
        await call.value
        #expect(await waiter.causes == [.deadline])
    }

    @Test func aCallAnsweredInTimeNeverExpiresAndLeavesNoTimer() async {
        let clock = ManualClock()
        let waiter = Waiter()
        let call = Task { await waiter.wait(timeout: .seconds(30), clock: clock) }
        await clock.sleeping(atLeast: 1)
        await waiter.answer()
        await call.value
        #expect(clock.sleepers == 0)  // the timer ended with the call
        clock.advance(by: .seconds(60))
        #expect(await waiter.causes.isEmpty)
    }

    @Test func aCancelledCallerStopsWaitingAtOnce() async {
        let clock = ManualClock()
        let waiter = Waiter()
        let call = Task { await waiter.wait(timeout: .seconds(30), clock: clock) }
        await clock.sleeping(atLeast: 1)
        call.cancel()
        await call.value
        #expect(await waiter.causes == [.callerCancelled])
        #expect(clock.now.offset == .zero)
    }

    @Test func whatTheBodyThrowsIsWhatTheCallThrows() async {
        struct Refused: Error, Equatable {}
        await #expect(throws: Refused()) {
            try await withExpiry(
                after: .seconds(1), on: ManualClock(), expire: { _ in },
                body: { () throws(Refused) in
                    throw Refused()
                })
        }
    }
}
