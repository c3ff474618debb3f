import DequeModule
import Provenance

/// The readings waiting for a batch, one queue per kind of waiter (`PendingReading.Waiter`), each in arrival order:
/// taking a cuff's indication out from among a meter's thousands of records and a hundred straps' notifications costs
/// what the readings taken cost, not a walk over the whole queue (which made every batch of a hub's start-up burst pay
/// for all that waited).
struct WaitingReadings<Entry> {
    private var device = Deque<Entry>()
    private var transfer = Deque<Entry>()
    private var nobody = Deque<Entry>()

    var count: Int { device.count + transfer.count + nobody.count }
    var isEmpty: Bool { device.isEmpty && transfer.isEmpty && nobody.isEmpty }
    /// True when a reading someone waits to have confirmed (a device, a transfer) is waiting.
    var awaitConfirmation: Bool { !device.isEmpty || !transfer.isEmpty }

    func contains(_ waiter: PendingReading.Waiter) -> Bool { !self[waiter].isEmpty }

    mutating func append(_ entry: Entry, waiter: PendingReading.Waiter) {
        switch waiter {
        case .device: device.append(entry)
        case .transfer: transfer.append(entry)
        case .nobody: nobody.append(entry)
        }
    }

    /// Up to `limit` of `waiter`'s readings, oldest first.
    mutating func take(_ waiter: PendingReading.Waiter, limit: Int) -> [Entry] {
        var taken: [Entry] = []
        taken.reserveCapacity(min(limit, self[waiter].count))
        while taken.count < limit, let entry = popFirst(waiter) { taken.append(entry) }
        return taken
    }

    /// Up to `limit` readings of every kind: those a device waits on first, then a transfer's, then notifications.
    mutating func takeAll(limit: Int) -> [Entry] {
        var taken = take(.device, limit: limit)
        taken += take(.transfer, limit: limit - taken.count)
        taken += take(.nobody, limit: limit - taken.count)
        return taken
    }

    private subscript(_ waiter: PendingReading.Waiter) -> Deque<Entry> {
        switch waiter {
        case .device: device
        case .transfer: transfer
        case .nobody: nobody
        }
    }

    private mutating func popFirst(_ waiter: PendingReading.Waiter) -> Entry? {
        switch waiter {
        case .device: device.popFirst()
        case .transfer: transfer.popFirst()
        case .nobody: nobody.popFirst()
        }
    }
}
