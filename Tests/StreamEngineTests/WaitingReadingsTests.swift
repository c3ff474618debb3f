import Provenance
import Testing

@testable import StreamEngine

/// The engine's queue: one queue per kind of waiter, each in arrival order.
@Suite struct WaitingReadingsTests {
    @Test func aDevicesReadingsComeOutFirstThenATransfersThenNotificationsEachInArrivalOrder() {
        var waiting = WaitingReadings<String>()
        for (index, waiter) in [
            PendingReading.Waiter.nobody, .transfer, .device, .nobody, .transfer, .device, .transfer,
        ].enumerated() {
            waiting.append("\(waiter)-\(index)", waiter: waiter)
        }
        #expect(waiting.count == 7 && waiting.awaitConfirmation && waiting.contains(.device))
        #expect(waiting.take(.transfer, limit: 2) == ["transfer-1", "transfer-4"])
        #expect(waiting.takeAll(limit: 4) == ["device-2", "device-5", "transfer-6", "nobody-0"])
        #expect(!waiting.awaitConfirmation && !waiting.contains(.device) && waiting.count == 1)
        #expect(waiting.take(.device, limit: 10).isEmpty)
        #expect(waiting.takeAll(limit: 10) == ["nobody-3"])
        #expect(waiting.isEmpty)
    }
}
