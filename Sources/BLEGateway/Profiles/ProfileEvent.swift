import Foundation

/// The gateway's own clock, injectable so tests and simulations can control "now".
public struct GatewayClock: Sendable {
    public let now: @Sendable () -> Date
    public init(now: @escaping @Sendable () -> Date) { self.now = now }
    public static let system = GatewayClock { Date() }
}

/// How a reading reached the gateway, which decides how it is acknowledged.
public enum MeasurementDelivery: Hashable, Sendable {
    /// A Handle Value Indication: confirmed once durable.
    case indication
    /// A Handle Value Notification: the device expects no acknowledgement.
    case notification
    /// A stored record reported through the RACP; the durable cursor moves past it once acknowledged.
    case storedRecord(sequenceNumber: UInt16)
}

/// Tells the device side that a reading is durable: confirms an indication, or advances the stored-record
/// cursor. Calling it before the reading is durably stored breaks DESIGN.md rule 3.
public struct DurabilityAcknowledgement: Sendable {
    enum Kind: Sendable {
        case nothingToDo
        case indication(Indication)
        case storedRecord(StoredRecordCursor, UInt16)
    }

    let kind: Kind

    public static let none = DurabilityAcknowledgement(kind: .nothingToDo)

    public func acknowledgeDurable() async throws(GATTError) {
        switch kind {
        case .nothingToDo: return
        case .indication(let indication): try await indication.acknowledgeDurable()
        case .storedRecord(let cursor, let sequence): await cursor.acknowledge(sequence)
        }
    }
}

/// One measurement with everything the Provenance module needs about how it arrived.
public struct ReceivedMeasurement: Sendable {
    public let measurement: Measurement
    /// The characteristic the value came from (the measurement's, for glucose records with context).
    public let characteristic: BluetoothUUID
    /// The exact bytes received, measurement first (then the context for glucose), for hashing.
    public let rawPayloads: [[UInt8]]
    /// The gateway's clock when the value arrived.
    public let receivedAt: Date
    public let delivery: MeasurementDelivery
    /// True when a glucose record announced a context that never arrived before the procedure ended.
    public let contextMissing: Bool
    public let acknowledgement: DurabilityAcknowledgement

    public func acknowledgeDurable() async throws(GATTError) { try await acknowledgement.acknowledgeDurable() }
}

/// A payload that failed to decode. It still carries its acknowledgement: the caller keeps the raw bytes
/// (quarantine) durably and then confirms, so the device does not resend it forever, and nothing is lost.
public struct MalformedPayload: Sendable {
    public let characteristic: BluetoothUUID
    public let bytes: [UInt8]
    public let error: CharacteristicDecodeError
    public let receivedAt: Date
    public let delivery: MeasurementDelivery
    public let acknowledgement: DurabilityAcknowledgement
}

/// The outcome of a stored-record transfer.
public struct StoredRecordTransfer: Hashable, Sendable {
    /// What the meter said it would send (Number of Stored Records response).
    public var announced: Int?
    /// What arrived.
    public var delivered: Int
    public var responseCode: RACPResponseCode
    /// The meter no longer held the last record the cursor had stored (its memory was cleared, or another meter
    /// answers at its address): every record it holds was asked for again.
    public var restartedFromFirstRecord = false

    public init(announced: Int?, delivered: Int, responseCode: RACPResponseCode, restartedFromFirstRecord: Bool = false)
    {
        (self.announced, self.delivered, self.responseCode) = (announced, delivered, responseCode)
        self.restartedFromFirstRecord = restartedFromFirstRecord
    }
}

/// Everything a profile session reports, in order.
public enum ProfileEvent: Sendable {
    /// Discovery found these services.
    case discovered(DiscoveredDatabase)
    case identity(DeviceIdentity)
    case clock(ClockObservation)
    /// A profile characteristic read once per connection: a Feature, a strap's Body Sensor Location, a thermometer's
    /// Temperature Type. The measurements of the connection are mapped with them (`ReadingMapping.connectionValue`).
    case characteristicRead(any CharacteristicValue)
    case batteryLevel(BatteryLevel)
    case measurement(ReceivedMeasurement)
    case malformed(MalformedPayload)
    /// The number of stored records ≥ the cursor, before the transfer starts.
    case storedRecordCount(Int)
    case transferComplete(StoredRecordTransfer)
    /// The device registered a new user (User Data Service) in this slot under this consent code: what pairing keeps.
    case userRegistered(slot: UInt8, consentCode: UInt16)
}

/// Why a profile session stopped before its end.
public enum ProfileError: Error, Equatable, Sendable, CustomStringConvertible {
    case gatt(GATTError)
    /// The device lacks what the profile requires.
    case missing(String)
    /// The device's current user slot has no consent code at this gateway, or the device refused the one it has.
    case userConsent(slot: UInt8, problem: String)
    /// The RACP procedure did not finish in time; an abort was sent.
    case procedureTimeout(seconds: Double)
    /// A control point (User Control Point, CGM Specific Ops Control Point) did not answer in time.
    case controlPointTimeout(String, seconds: Double)
    /// The meter answered a RACP request with a failure code.
    case recordAccessFailed(request: UInt8, code: RACPResponseCode)
    /// The meter's RACP response was not what the request calls for.
    case unexpectedControlPointResponse(String)

    public var description: String {
        switch self {
        case .gatt(let error): error.description
        case .missing(let what): "the device does not expose \(what)"
        case .userConsent(let slot, let problem):
            "user slot \(slot) of the device: \(problem); `gatewayd pair` registers this gateway for a slot and says whose it is"
        case .procedureTimeout(let seconds):
            "the stored-record transfer did not complete within \(seconds) s; it was aborted and will resume from the durable cursor"
        case .controlPointTimeout(let name, let seconds): "the device did not answer on its \(name) within \(seconds) s"
        case .recordAccessFailed(let request, let code):
            "the meter answered RACP request op code \(request) with \(code.specName)"
        case .unexpectedControlPointResponse(let what): "unexpected Record Access Control Point response: \(what)"
        }
    }
}

/// The stored-record cursor: the next sequence number not yet durable. It moves only when the caller
/// acknowledges records, and only past a contiguous prefix of what was delivered, so a crash or a dropped
/// link resumes exactly after the last durable record — and each move is handed to `onMove` at once (the daemon
/// keeps it in its archive), so a timeout or a crash mid-transfer does not start the download over.
///
/// Sequence numbers are compared as serial numbers (RFC 1982): after 65535 comes 0, so a meter whose numbers wrap
/// is followed past the wrap. A meter whose numbers went back (its memory cleared, another meter behind the same
/// address) is `restart`ed: its records are downloaded from the start and deduplicated by identity.
public actor StoredRecordCursor {
    public private(set) var next: UInt16?
    private var pending: Set<UInt16> = []
    private var highestAcknowledged: UInt16?
    private let onMove: (@Sendable (UInt16?) async -> Void)?
    /// True once `restart` was called on this connection.
    public private(set) var restarted = false

    public init(next: UInt16?, onMove: (@Sendable (UInt16?) async -> Void)? = nil) {
        self.next = next
        self.onMove = onMove
    }

    /// Whether `a` comes after `b` in serial-number order (within half the number space).
    public static func isAfter(_ a: UInt16, _ b: UInt16) -> Bool {
        let distance = a &- b
        return distance != 0 && distance < 0x8000
    }

    /// The last record already durable before this connection, if the cursor knows one.
    public var lastDurable: UInt16? { next.map { $0 &- 1 } }

    func delivered(_ sequence: UInt16) { pending.insert(sequence) }
    /// Records handed to the consumer and not yet acknowledged as durable.
    var unacknowledged: Int { pending.count }

    func acknowledge(_ sequence: UInt16) async {
        guard pending.remove(sequence) != nil else { return }
        highestAcknowledged = highestAcknowledged.map { Self.isAfter(sequence, $0) ? sequence : $0 } ?? sequence
        let candidate: UInt16?
        if let lowestPending = pending.min(by: { Self.isAfter($1, $0) }) {
            candidate = lowestPending
        } else {
            candidate = highestAcknowledged.map { $0 &+ 1 }
        }
        guard let candidate else { return }
        if let current = next, !Self.isAfter(candidate, current) { return }
        next = candidate
        await onMove?(candidate)
    }

    /// The meter's sequence numbers went back: forget the position (and say so to `onMove`); what it reports from
    /// now on is acknowledged from scratch.
    func restart() async {
        next = nil
        highestAcknowledged = nil
        pending.removeAll()
        restarted = true
        await onMove?(nil)
    }
}
