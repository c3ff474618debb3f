import Foundation
import Provenance
import Synchronization
import TestSupport
import Testing

@testable import BLEGateway

@Suite struct BoundedChannelTests {
    @Test func aProducerWaitsAtCapacityAndResumesAsTheConsumerReads() async throws {
        let channel = BoundedChannel<Int>(capacity: 2)
        let sent = Mutex(0)
        let producer = Task {
            for value in 0..<10 {
                try await channel.send(value)
                sent.withLock { $0 = value + 1 }
            }
            channel.finish()
        }
        // Sends 0 and 1 return (within capacity); sending 2 waits until something is read.
        try await waitUntil { channel.waitingProducers == 1 }
        #expect(sent.withLock { $0 } == 2, "the producer ran past the channel's capacity")
        var received: [Int] = []
        for try await value in channel { received.append(value) }
        #expect(received == Array(0..<10))
        try await producer.value
    }

    @Test func aConsumerThatLeavesReleasesTheProducerAndCancelsItsTask() async throws {
        let cancelled = Mutex(false)
        let channel = BoundedChannel<Int>.producing(capacity: 1) { channel in
            do {
                for value in 0... { try await channel.send(value) }
            } catch {
                cancelled.withLock { $0 = true }
                throw error
            }
        }
        var taken: [Int] = []
        for try await value in channel {
            taken.append(value)
            if taken.count == 3 { break }
        }
        #expect(taken == [0, 1, 2])
        try await waitUntil { cancelled.withLock { $0 } }
    }

    @Test func elementsSentBeforeAFailureArriveBeforeIt() async throws {
        struct Broken: Error {}
        let channel = BoundedChannel<String>.producing(capacity: 8) { channel in
            try await channel.send("a")
            try await channel.send("b")
            throw Broken()
        }
        var received: [String] = []
        await #expect(throws: Broken.self) {
            for try await value in channel { received.append(value) }
        }
        #expect(received == ["a", "b"])
    }
}

/// Back-pressure from the reading's consumer reaches the profile session: a meter's records are not decoded into
/// readings faster than the engine takes them, so a slow disk leaves the backlog on the link as raw PDUs.
@Suite struct BackPressureChainTests {
    @Test func aConsumerThatStopsTakingStopsTheSessionAndEveryRecordStillArrives() async throws {
        let meter = GlucoseSessionTests.meter()
        await GlucoseSessionTests.fill(meter, count: 60)
        let cursor = StoredRecordCursor(next: nil)
        let events = GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run()
        let taken = Mutex(0)
        let readings = ReadingCollector.readings(
            from: events,
            options: ReadingMapperOptions(gateway: GatewayRecord(id: "gw", softwareVersion: "test")) {
                stamp, offset, received, clocks in
                TimeDecisionRules.decide(
                    deviceTimestamp: stamp, deviceTimeOffsetMinutes: offset, receivedMicros: received,
                    comparisons: clocks,
                    policy: TimePolicy(timeZoneIdentifier: "Asia/Tokyo"))
            },
            onEvent: { if case .measurement = $0 { taken.withLock { $0 += 1 } } }, onMalformed: { _, _ in })
        var iterator = readings.makeAsyncIterator()
        // Take two readings and acknowledge them; then stop taking.
        for _ in 0..<2 {
            let pending = try #require(try await iterator.next())
            await pending.acknowledge()
        }
        // The chain stands still once both stages wait for room: the collector to hand over a reading, the session an
        // event. Neither can move on until something is taken, so what they took is final.
        try await waitUntil { readings.waitingProducers == 1 && events.waitingProducers == 1 }
        // The collector holds at most its capacity and one in hand; the session its events' capacity and one in hand.
        let collectorBound = 2 + ReadingCollector.readingCapacity + 1
        #expect(taken.withLock { $0 } <= collectorBound)
        #expect(await cursor.unacknowledged <= collectorBound + profileEventCapacity + 1 - 2)
        // Taking the rest gets every record, in order, and the cursor reaches the end.
        var sequences: [UInt16] = [1, 2]
        while let pending = try await iterator.next() {
            if let sequence = pending.reading.sequenceNumber { sequences.append(sequence) }
            await pending.acknowledge()
        }
        #expect(sequences == Array(1...60))
        #expect(taken.withLock { $0 } == 60)
        #expect(await cursor.next == 61)
    }
}

/// Waits until `condition` holds (`eventually`), recording an issue if it never does.
func waitUntil(_ condition: @Sendable () async -> Bool) async throws {
    if !(await eventually(20, condition)) { Issue.record("condition not met within 20 s") }
}
