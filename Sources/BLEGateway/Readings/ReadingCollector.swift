import Foundation
import Provenance

/// Turns a profile session's events into `PendingReading`s for the StreamEngine. It remembers the device's
/// identity and latest clock comparison for the readings that follow, and acknowledges a measurement to the
/// device only when every reading made from it has been acknowledged as durable.
public enum ReadingCollector {
    /// A payload that could not be decoded, handed to `onMalformed` (which must keep it durably) before the
    /// device is told it may forget it. Throwing means it was not kept: the device is not told, and the stream ends
    /// with that error (the link closes; the device still holds the payload and sends it again).
    public typealias MalformedHandler = @Sendable (MalformedPayload, DeviceIdentity?) async throws -> Void

    /// Readings the collector may make ahead of its consumer before it stops taking the session's events (a cuff's
    /// pressure and pulse, a glucose record: a measurement's readings, a few over). Bounded, so the engine's
    /// back-pressure reaches the link (see `BoundedChannel`).
    public static let readingCapacity = 4

    public static func readings(
        from events: ProfileEvents, options: ReadingMapperOptions,
        onEvent: (@Sendable (ProfileEvent) -> Void)? = nil, onMalformed: @escaping MalformedHandler
    ) -> PendingReadings {
        PendingReadings.producing(capacity: readingCapacity) { output in
            var identity: DeviceIdentity?
            /// The identity's record, made once per connection: every reading refers to the same strings.
            var device = ReadingMapper.deviceRecord(DeviceIdentity(link: "unknown"))
            var clocks: [ClockObservation] = []
            var connectionValues: [any CharacteristicValue] = []
            for try await event in events {
                onEvent?(event)
                switch event {
                case .identity(let value):
                    identity = value
                    device = ReadingMapper.deviceRecord(value)
                case .clock(let value): clocks.append(value)
                case .characteristicRead(let value): connectionValues.append(value)
                case .measurement(let received):
                    let readings = ReadingMapper.readings(
                        from: received, identity: identity ?? DeviceIdentity(link: "unknown"), clocks: clocks,
                        options: options,
                        connectionValues: connectionValues, device: device)
                    guard !readings.isEmpty else {
                        try? await received.acknowledgeDurable()  // nothing to keep (cuff pressure progress)
                        continue
                    }
                    let acknowledge = Self.acknowledgement(received.acknowledgement, readings: readings.count)
                    let waiter: PendingReading.Waiter
                    switch received.delivery {
                    case .indication: waiter = .device
                    case .storedRecord: waiter = .transfer
                    case .notification: waiter = .nobody
                    }
                    for reading in readings {
                        try await output.send(
                            PendingReading(reading: reading, waiter: waiter, acknowledge: acknowledge))
                    }
                case .malformed(let payload):
                    do {
                        try await onMalformed(payload, identity)
                    } catch {
                        throw MalformedPayloadNotKept(characteristic: payload.characteristic, underlying: "\(error)")
                    }
                    try? await payload.acknowledgement.acknowledgeDurable()
                default: break
                }
            }
        }
    }

    /// What acknowledging one of a measurement's `readings` does: nothing for a notification; for one reading, the
    /// acknowledgement itself; for several, the last of them to become durable acknowledges. (A hub's notifications are
    /// most readings in flight: they need no group and no capture.)
    static func acknowledgement(_ acknowledgement: DurabilityAcknowledgement, readings: Int)
        -> @Sendable () async -> Void
    {
        if case .nothingToDo = acknowledgement.kind { return {} }
        guard readings > 1 else { return { try? await acknowledgement.acknowledgeDurable() } }
        let group = AcknowledgementGroup(count: readings) { try? await acknowledgement.acknowledgeDurable() }
        return { await group.done() }
    }
}

/// A connection's readings, as the collector makes them (bounded: see `ReadingCollector.readingCapacity`).
public typealias PendingReadings = BoundedChannel<PendingReading>

/// A payload the gateway could not decode could not be kept either: it was not confirmed, the device still has it.
public struct MalformedPayloadNotKept: Error, CustomStringConvertible {
    public var characteristic: BluetoothUUID
    public var underlying: String
    public var description: String {
        "a malformed \(characteristic) payload could not be recorded (\(underlying)); it was not confirmed, so the device keeps it"
    }
}

/// Acknowledges the device once all readings made from one measurement are durable.
actor AcknowledgementGroup {
    private var remaining: Int
    private let action: @Sendable () async -> Void

    init(count: Int, action: @escaping @Sendable () async -> Void) {
        remaining = count
        self.action = action
    }

    func done() async {
        remaining -= 1
        if remaining == 0 { await action() }
    }
}
