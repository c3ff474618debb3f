/// How and where a reading was measured, as the device reported it. Values use the specification's names
/// in snake_case ("preprandial", "capillary_plasma") so this module needs no Bluetooth types.
public struct MeasurementContext: Hashable, Sendable, Codable {
    /// The setting: "home" unless configured otherwise (a care facility).
    public var setting: String = "home"
    /// The device's user slot (BP User ID); nil when the device has none, 255 = "unknown user".
    public var userID: UInt8?
    /// The raw status word as sent (BP measurement status, glucose sensor status annunciation).
    public var rawStatus: UInt16?
    /// The status bits' names ("body_movement_detected", "strip_insertion_error").
    public var statusLabels: [String] = []
    /// BP: the pulse-rate range ("within_range", "exceeds_upper_limit", "less_than_lower_limit").
    public var pulseRateRange: String?
    public var glucose: GlucoseContext?
    /// HR: "not_supported", "not_detected", "detected".
    public var sensorContact: String?
    /// HR: "chest", "wrist", …
    public var bodySensorLocation: String?

    public init() {}
}

/// What a glucose meter said about the circumstances of a measurement.
public struct GlucoseContext: Hashable, Sendable, Codable {
    public var sequenceNumber: UInt16
    public var sampleType: String?
    public var sampleLocation: String?
    public var meal: String?
    public var carbohydrateID: String?
    public var carbohydrateKilograms: DecimalQuantity?
    public var tester: String?
    public var health: String?
    public var exerciseDurationSeconds: Int?
    public var exerciseIntensityPercent: Int?
    public var medicationID: String?
    public var medicationQuantity: DecimalQuantity?
    /// "kg" or "L".
    public var medicationUnit: String?
    public var hba1cPercent: DecimalQuantity?
    /// The meter announced a context that never arrived.
    public var contextMissing = false

    public init(sequenceNumber: UInt16) { self.sequenceNumber = sequenceNumber }
}
