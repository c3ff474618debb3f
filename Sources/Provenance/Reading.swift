/// One reading as the gateway keeps it: what was measured, exactly; by which device, through which gateway;
/// how and when (with the evidence for the time); whose it is; and the raw bytes it came from.
public struct Reading: Hashable, Sendable, Codable {
    public var kind: ReadingKind
    public var components: [ReadingComponent]
    /// The subject it belongs to; nil until the (device, user) mapping is known (then it is quarantined).
    public var subject: String?
    public var device: DeviceRecord
    public var gateway: GatewayRecord
    public var context: MeasurementContext
    public var time: TimeProvenance
    public var flags: ReadingFlags
    /// The characteristic UUID the value came from ("0x2A35").
    public var characteristic: String
    /// The exact payloads received (measurement, then context), for hashing and audit.
    public var rawPayloads: [[UInt8]]
    /// The device-reported sequence number (glucose), part of the identity when present.
    public var sequenceNumber: UInt16?
    public var modelVersion = ProvenanceModel.version

    public init(
        kind: ReadingKind, components: [ReadingComponent], subject: String?, device: DeviceRecord,
        gateway: GatewayRecord,
        context: MeasurementContext, time: TimeProvenance, flags: ReadingFlags, characteristic: String,
        rawPayloads: [[UInt8]],
        sequenceNumber: UInt16? = nil
    ) {
        self.kind = kind
        self.components = components
        self.subject = subject
        self.device = device
        self.gateway = gateway
        self.context = context
        self.time = time
        self.flags = flags
        self.characteristic = characteristic
        self.rawPayloads = rawPayloads
        self.sequenceNumber = sequenceNumber
    }

    public func component(_ metric: Metric) -> ReadingComponent? { components.first { $0.metric == metric } }
}
