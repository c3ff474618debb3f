/// A reading on its way in, with the way to tell its source that it is durable: for a BLE indication that
/// sends the ATT confirmation, for a stored record it advances the RACP cursor, for an API call it answers.
/// The StreamEngine calls `acknowledge` only after the durable append (DESIGN.md rule 3).
public struct PendingReading: Sendable {
    public var reading: Reading
    public let acknowledge: @Sendable () async -> Void
    /// False for a BLE notification: nobody confirms it, so it may wait a moment to share a batch (and a few disk
    /// writes) with others. Indications, stored records and API calls wait for their acknowledgement: true.
    public var awaitsConfirmation: Bool

    public init(reading: Reading, awaitsConfirmation: Bool = true, acknowledge: @escaping @Sendable () async -> Void) {
        self.reading = reading
        self.awaitsConfirmation = awaitsConfirmation
        self.acknowledge = acknowledge
    }
}
