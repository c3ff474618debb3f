/// A reading on its way in, with the way to tell its source that it is durable: for a BLE indication that
/// sends the ATT confirmation, for a stored record it advances the RACP cursor, for an API call it answers.
/// The StreamEngine calls `acknowledge` only after the durable append (DESIGN.md rule 3).
public struct PendingReading: Sendable {
    /// Who waits for the acknowledgement, which decides how soon the engine takes the reading.
    public enum Waiter: Sendable, Hashable {
        /// A device (an indication: it sends nothing more until it is confirmed) or a person (an API call).
        case device
        /// A stored-record transfer (RACP): the meter streams its records without waiting for each, and the transfer's
        /// cursor waits for them all, so a hundred records need not go before a cuff's one indication.
        case transfer
        /// Nobody (a BLE notification): it may wait a moment to share a batch, and a few disk writes, with others.
        case nobody
    }

    public var reading: Reading
    public let acknowledge: @Sendable () async -> Void
    public var waiter: Waiter
    /// False for a BLE notification: nobody confirms it. Indications, stored records and API calls wait for their
    /// acknowledgement: true.
    public var awaitsConfirmation: Bool { waiter != .nobody }

    public init(reading: Reading, waiter: Waiter, acknowledge: @escaping @Sendable () async -> Void) {
        self.reading = reading
        self.waiter = waiter
        self.acknowledge = acknowledge
    }

    public init(reading: Reading, awaitsConfirmation: Bool = true, acknowledge: @escaping @Sendable () async -> Void) {
        self.init(reading: reading, waiter: awaitsConfirmation ? .device : .nobody, acknowledge: acknowledge)
    }
}
