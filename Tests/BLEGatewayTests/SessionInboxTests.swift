import Synchronization
import TestSupport
import Testing

@testable import BLEGateway

/// The inbox every profile session reads: the device's events and the session's deadlines in one stream, with its
/// pump and its timer children of the session. Deadlines are on the injected clock, so these tests move a manual clock.
@Suite(.timeLimit(.minutes(1))) struct SessionInboxTests {
    /// A session's inputs in the order the inbox gave them, with the clock's reading when each came.
    typealias Arrival = (input: String, at: Duration)

    private static func label(_ input: SessionInput) -> String {
        switch input {
        case .event(.notification(let handle, _)): "notification \(handle)"
        case .event(.indication(let indication)): "indication \(indication.handle)"
        case .event(.confirmedIndication(let handle, _)): "confirmed \(handle)"
        case .deadline(let id): "deadline \(id)"
        case .linkClosed: "link closed"
        }
    }

    private static func next(
        _ iterator: inout AsyncStream<SessionInput>.Iterator, _ clock: ManualClock
    ) async -> Arrival? {
        guard let input = await iterator.next() else { return nil }
        return (label(input), clock.now.offset)
    }

    @Test func aDeadlineArrivesAtItsInstantOnTheClockAndNotBefore() async {
        let clock = ManualClock()
        let (events, _) = AsyncStream.makeStream(of: GATTServerEvent.self)
        let arrival = await withSessionInbox(events: events, clock: clock) { inbox in
            var inputs = inbox.stream.makeAsyncIterator()
            _ = inbox.schedule(7, after: .seconds(30))
            await clock.sleeping(until: .seconds(30))
            clock.advance(by: .seconds(29))
            #expect(clock.sleepers == 1)  // still asleep: nothing is due
            clock.advance(by: .seconds(1))
            return await Self.next(&inputs, clock)
        }
        #expect(arrival?.input == "deadline 7")
        #expect(arrival?.at == .seconds(30))
    }

    @Test func aCancelledDeadlineNeverArrives() async {
        let clock = ManualClock()
        let (events, _) = AsyncStream.makeStream(of: GATTServerEvent.self)
        let arrival = await withSessionInbox(events: events, clock: clock) { inbox in
            var inputs = inbox.stream.makeAsyncIterator()
            let first = inbox.schedule(1, after: .seconds(10))
            await clock.sleeping(until: .seconds(10))
            first.cancel()
            _ = inbox.schedule(2, after: .seconds(20))
            clock.advance(by: .seconds(10))
            await clock.sleeping(until: .seconds(20))  // woke at 10 s, found nothing due, sleeps on
            clock.advance(by: .seconds(10))
            return await Self.next(&inputs, clock)
        }
        #expect(arrival?.input == "deadline 2")
        #expect(arrival?.at == .seconds(20))
    }

    @Test func anEarlierDeadlineWakesTheTimerAndDeadlinesArriveInTheirOrder() async {
        let clock = ManualClock()
        let (events, _) = AsyncStream.makeStream(of: GATTServerEvent.self)
        let arrivals = await withSessionInbox(events: events, clock: clock) { inbox in
            var inputs = inbox.stream.makeAsyncIterator()
            _ = inbox.schedule(1, after: .seconds(30))
            await clock.sleeping(until: .seconds(30))
            _ = inbox.schedule(2, after: .seconds(5))
            await clock.sleeping(until: .seconds(5))
            clock.advance(by: .seconds(5))
            let first = await Self.next(&inputs, clock)
            await clock.sleeping(until: .seconds(30))
            clock.advance(by: .seconds(25))
            let second = await Self.next(&inputs, clock)
            return [first, second].compactMap { $0 }
        }
        #expect(arrivals.map(\.input) == ["deadline 2", "deadline 1"])
        #expect(arrivals.map(\.at) == [.seconds(5), .seconds(30)])
    }

    /// A download moves its deadline on with every record; that must not cost a timer per record.
    @Test func aDeadlineMovedOnRecordAfterRecordKeepsOneTimer() async {
        let clock = ManualClock()
        let (events, _) = AsyncStream.makeStream(of: GATTServerEvent.self)
        let arrival = await withSessionInbox(events: events, clock: clock) { inbox in
            var inputs = inbox.stream.makeAsyncIterator()
            var deadline = inbox.schedule(1, after: .seconds(30))
            await clock.sleeping(until: .seconds(30))
            for _ in 0..<1_000 {
                clock.advance(by: .milliseconds(10))
                deadline.cancel()
                deadline = inbox.schedule(1, after: .seconds(30))
                #expect(clock.sleepers == 1)
            }
            // 10 s have passed: the timer wakes at 30 s, finds the deadline moved to 40 s and sleeps on.
            clock.advance(by: .seconds(20))
            await clock.sleeping(until: .seconds(40))
            clock.advance(by: .seconds(10))
            return await Self.next(&inputs, clock)
        }
        #expect(arrival?.input == "deadline 1")
        #expect(arrival?.at == .seconds(40))
    }

    @Test func theDevicesEventsThenTheLinksEndArriveInOrder() async {
        let clock = ManualClock()
        let (events, device) = AsyncStream.makeStream(of: GATTServerEvent.self)
        let arrivals = await withSessionInbox(events: events, clock: clock) { inbox in
            device.yield(.notification(handle: 3, value: [1]))
            device.yield(.confirmedIndication(handle: 9, value: [2]))
            device.finish()
            var seen: [String] = []
            for await input in inbox.stream {
                seen.append(Self.label(input))
                if case .linkClosed = input { break }
            }
            return seen
        }
        #expect(arrivals == ["notification 3", "confirmed 9", "link closed"])
    }

    /// The pump and the timer are children of the session: when it returns (or throws), they are gone, a pending
    /// deadline's sleep with them, and the client's event stream is no longer read.
    @Test func thePumpAndTheTimerEndWithTheSession() async {
        enum SessionFailed: Error { case onPurpose }
        let clock = ManualClock()
        let stopped = Mutex(false)
        let (events, device) = AsyncStream.makeStream(of: GATTServerEvent.self)
        device.onTermination = { _ in stopped.withLock { $0 = true } }
        var failure: SessionFailed?
        do throws(SessionFailed) {
            try await withSessionInbox(events: events, clock: clock) { inbox throws(SessionFailed) in
                _ = inbox.schedule(1, after: .seconds(30))
                await clock.sleeping(until: .seconds(30))
                throw .onPurpose
            }
        } catch {
            failure = error
        }
        #expect(failure == .onPurpose)
        #expect(clock.sleepers == 0)
        #expect(stopped.withLock { $0 })
    }
}
