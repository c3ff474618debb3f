import Provenance

/// The Glucose Measurement characteristic (0x2A18): one glucose record, live or replayed through RACP.
///
/// Layout (Glucose Service 1.0.1 and the GATT Specification Supplement): flags (uint8), sequence number
/// (uint16), base time (7-byte Date Time), then — as the flags announce — time offset (sint16 minutes),
/// concentration (SFLOAT) + one Type-Sample Location byte, and the sensor status annunciation (uint16).
///
/// Flags: bit 0 time offset present; bit 1 concentration with type and sample location present; bit 2
/// concentration units (0 kg/L, 1 mol/L); bit 3 sensor status annunciation present; bit 4 a Glucose
/// Measurement Context with the same sequence number follows; bits 5–7 reserved, refused (a future flag could
/// add a field and shift everything after it — see `CharacteristicValue`).
///
/// The sequence number is the record's identity on the meter (DESIGN.md rule 4) and is what RACP filters on.
public struct GlucoseMeasurement: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.glucoseMeasurement
    public static let name = "Glucose Measurement"

    /// Flag bits this decoder understands. Bits 5-7 are reserved: ignored and kept as sent (`reservedFlags`); with one
    /// set, octets after the known fields (a field a newer meter may add) are ignored too.
    static let knownFlags: UInt8 = 0x1F
    /// Flag bits 5-7 as sent (reserved for future use).
    public var reservedFlags: UInt8 = 0

    public var sequenceNumber: UInt16
    /// The device's wall-clock time for the record (no zone; may have unknown parts).
    public var baseTime: DateTime
    /// Minutes to add to `baseTime` to get the user-facing time (the meter's clock was adjusted after the
    /// base time was recorded). Kept separate so the raw device evidence stays intact (DESIGN.md rule 2).
    public var timeOffset: Int16?
    /// The measured value with what was measured and where; nil when the flags leave it out.
    public var concentration: GlucoseConcentration?
    /// Flag bit 2. It qualifies `concentration`; it is kept even when no concentration is present so that the
    /// decoded value re-encodes to exactly the bytes the device sent.
    public var concentrationUnits: GlucoseConcentrationUnits
    /// Device annunciations that make this reading doubtful (DESIGN.md rule 5); nil when not sent.
    public var sensorStatus: GlucoseSensorStatus?
    /// True when the meter will send a Glucose Measurement Context for this sequence number next; the client
    /// must wait for it before treating the record as complete.
    public var contextInformationFollows: Bool

    public init(
        sequenceNumber: UInt16, baseTime: DateTime, timeOffset: Int16? = nil,
        concentration: GlucoseConcentration? = nil,
        concentrationUnits: GlucoseConcentrationUnits = .kilogramsPerLiter,
        sensorStatus: GlucoseSensorStatus? = nil, contextInformationFollows: Bool = false
    ) {
        self.sequenceNumber = sequenceNumber
        self.baseTime = baseTime
        self.timeOffset = timeOffset
        self.concentration = concentration
        self.concentrationUnits = concentrationUnits
        self.sensorStatus = sensorStatus
        self.contextInformationFollows = contextInformationFollows
    }

    /// The flags byte this value encodes to.
    public var flags: UInt8 {
        var flags: UInt8 = 0
        if timeOffset != nil { flags |= 0x01 }
        if concentration != nil { flags |= 0x02 }
        if concentrationUnits == .molesPerLiter { flags |= 0x04 }
        if sensorStatus != nil { flags |= 0x08 }
        if contextInformationFollows { flags |= 0x10 }
        return flags | (reservedFlags & ~Self.knownFlags)
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let flags = try reader.uint8("flags")
        reservedFlags = flags & ~Self.knownFlags
        sequenceNumber = try reader.uint16("sequence_number")
        baseTime = try DateTime(reading: &reader, field: "base_time", reservedValues: .keep)
        timeOffset = try flags & 0x01 != 0 ? reader.int16("time_offset") : nil
        concentrationUnits = flags & 0x04 != 0 ? .molesPerLiter : .kilogramsPerLiter
        if flags & 0x02 != 0 {
            let value = try reader.sfloat("glucose_concentration")
            // A reserved type or sample location keeps the concentration: the field is unknown, the reading doubtful.
            concentration = GlucoseConcentration(
                value: value, rawTypeSampleLocation: try reader.uint8("type_sample_location"))
        } else {
            concentration = nil
        }
        sensorStatus =
            try flags & 0x08 != 0 ? GlucoseSensorStatus(rawValue: reader.uint16("sensor_status_annunciation")) : nil
        contextInformationFollows = flags & 0x10 != 0
        if reservedFlags == 0 { try reader.finish() }
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(flags)
        writer.uint16(sequenceNumber)
        baseTime.write(to: &writer)
        if let timeOffset { writer.int16(timeOffset) }
        if let concentration {
            writer.sfloat(concentration.value)
            writer.uint8(concentration.rawTypeSampleLocation)
        }
        if let sensorStatus { writer.uint16(sensorStatus.rawValue) }
        return writer.bytes
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("flags", .integer(flags)),
            ("sequence_number", .integer(sequenceNumber)),
            ("base_time", baseTime.json),
        ]
        if let timeOffset { members.append(("time_offset", .integer(timeOffset))) }
        if let concentration {
            members.append(("glucose_concentration", concentration.value.json))
            members.append(("glucose_concentration_units", .string(concentrationUnits.symbol)))
            members.append(
                (
                    "type_sample_location",
                    .members([
                        (
                            "type",
                            .string(
                                concentration.type?.specName
                                    ?? "reserved (\(concentration.rawTypeSampleLocation & 0x0F))")
                        ),
                        (
                            "sample_location",
                            .string(
                                concentration.sampleLocation?.specName
                                    ?? "reserved (\(concentration.rawTypeSampleLocation >> 4))")
                        ),
                    ])
                ))
        }
        if let sensorStatus { members.append(("sensor_status_annunciation", sensorStatus.json)) }
        members.append(("context_information_follows", .bool(contextInformationFollows)))
        return .members(members)
    }

    /// True when the record measured control solution rather than a person (by type or by sample location):
    /// such a record checks the meter and must not be summarised as the subject's glucose.
    public var isControlSolution: Bool {
        concentration?.type == .controlSolution || concentration?.sampleLocation == .controlSolution
    }
}

/// The concentration field with the Type-Sample Location byte that always travels with it.
public struct GlucoseConcentration: Hashable, Sendable {
    /// Exact SFLOAT, in `GlucoseMeasurement.concentrationUnits` (kg/L or mol/L); special values stay special.
    public var value: MedicalFloat
    /// The sample type; nil when the meter sent a value the specification reserves (kept in `rawTypeSampleLocation`).
    public let type: GlucoseSampleType?
    /// The sample location; nil when reserved.
    public let sampleLocation: GlucoseSampleLocation?
    /// The Type-Sample Location byte as sent (type in the low nibble), so a reserved value re-encodes exactly.
    public let rawTypeSampleLocation: UInt8

    public init(value: MedicalFloat, type: GlucoseSampleType, sampleLocation: GlucoseSampleLocation) {
        self.init(value: value, rawTypeSampleLocation: type.rawValue | sampleLocation.rawValue << 4)
    }

    public init(value: MedicalFloat, rawTypeSampleLocation raw: UInt8) {
        self.value = value
        rawTypeSampleLocation = raw
        type = GlucoseSampleType(rawValue: raw & 0x0F)
        sampleLocation = GlucoseSampleLocation(rawValue: raw >> 4)
    }

    /// The type or the sample location is a reserved value: what was measured, or where, is unknown.
    public var hasReservedValue: Bool { type == nil || sampleLocation == nil }
}

/// Flag bit 2 of the Glucose Measurement. The SI base units are what the wire carries: 80 mg/dL arrives as
/// 80 × 10⁻⁵ kg/L and 5.5 mmol/L as 55 × 10⁻⁴ mol/L; converting for display is someone else's job.
public enum GlucoseConcentrationUnits: Hashable, Sendable, CaseIterable {
    case kilogramsPerLiter
    case molesPerLiter

    /// The UCUM unit code.
    public var symbol: String {
        switch self {
        case .kilogramsPerLiter: "kg/L"
        case .molesPerLiter: "mol/L"
        }
    }
}

/// The low nibble of Type-Sample Location: what kind of sample was measured. 0 and 11–15 are reserved.
public enum GlucoseSampleType: UInt8, Hashable, Sendable, CaseIterable {
    case capillaryWholeBlood = 1
    case capillaryPlasma = 2
    case venousWholeBlood = 3
    case venousPlasma = 4
    case arterialWholeBlood = 5
    case arterialPlasma = 6
    case undeterminedWholeBlood = 7
    case undeterminedPlasma = 8
    case interstitialFluid = 9
    case controlSolution = 10

    /// The specification's name in snake_case.
    public var specName: String {
        switch self {
        case .capillaryWholeBlood: "capillary_whole_blood"
        case .capillaryPlasma: "capillary_plasma"
        case .venousWholeBlood: "venous_whole_blood"
        case .venousPlasma: "venous_plasma"
        case .arterialWholeBlood: "arterial_whole_blood"
        case .arterialPlasma: "arterial_plasma"
        case .undeterminedWholeBlood: "undetermined_whole_blood"
        case .undeterminedPlasma: "undetermined_plasma"
        case .interstitialFluid: "interstitial_fluid"
        case .controlSolution: "control_solution"
        }
    }
}

/// The high nibble of Type-Sample Location: where the sample was taken. 0 and 5–14 are reserved.
public enum GlucoseSampleLocation: UInt8, Hashable, Sendable, CaseIterable {
    case finger = 1
    case alternateSiteTest = 2
    case earlobe = 3
    case controlSolution = 4
    /// The meter does not know; a valid answer, not a missing field.
    case notAvailable = 15

    public var specName: String {
        switch self {
        case .finger: "finger"
        case .alternateSiteTest: "alternate_site_test"
        case .earlobe: "earlobe"
        case .controlSolution: "control_solution"
        case .notAvailable: "not_available"
        }
    }
}

/// The Sensor Status Annunciation word: conditions at the time of measurement that make the result doubtful.
///
/// Bits 12–15 are reserved but kept raw (`reservedBits`): a status word never changes the payload layout, and
/// an unknown annunciation from a newer meter is still a reason to doubt the reading, not to drop it.
public struct GlucoseSensorStatus: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let deviceBatteryLow = GlucoseSensorStatus(rawValue: 1 << 0)
    public static let sensorMalfunction = GlucoseSensorStatus(rawValue: 1 << 1)
    public static let sampleSizeInsufficient = GlucoseSensorStatus(rawValue: 1 << 2)
    public static let stripInsertionError = GlucoseSensorStatus(rawValue: 1 << 3)
    public static let stripTypeIncorrect = GlucoseSensorStatus(rawValue: 1 << 4)
    public static let resultHigherThanDeviceCanProcess = GlucoseSensorStatus(rawValue: 1 << 5)
    public static let resultLowerThanDeviceCanProcess = GlucoseSensorStatus(rawValue: 1 << 6)
    public static let temperatureTooHigh = GlucoseSensorStatus(rawValue: 1 << 7)
    public static let temperatureTooLow = GlucoseSensorStatus(rawValue: 1 << 8)
    public static let readInterrupted = GlucoseSensorStatus(rawValue: 1 << 9)
    public static let generalDeviceFault = GlucoseSensorStatus(rawValue: 1 << 10)
    public static let timeFault = GlucoseSensorStatus(rawValue: 1 << 11)

    /// The defined bits in order with their JSON names.
    public static let named: [(GlucoseSensorStatus, String)] = [
        (.deviceBatteryLow, "device_battery_low"),
        (.sensorMalfunction, "sensor_malfunction"),
        (.sampleSizeInsufficient, "sample_size_insufficient"),
        (.stripInsertionError, "strip_insertion_error"),
        (.stripTypeIncorrect, "strip_type_incorrect"),
        (.resultHigherThanDeviceCanProcess, "result_higher_than_device_can_process"),
        (.resultLowerThanDeviceCanProcess, "result_lower_than_device_can_process"),
        (.temperatureTooHigh, "temperature_too_high"),
        (.temperatureTooLow, "temperature_too_low"),
        (.readInterrupted, "read_interrupted"),
        (.generalDeviceFault, "general_device_fault"),
        (.timeFault, "time_fault"),
    ]

    /// Bits 12–15, which the specification reserves; nonzero means a newer meter annunciated something.
    public var reservedBits: UInt16 { rawValue & 0xF000 }

    /// JSON: the raw word, the names of the set bits, and the reserved bits when any are set.
    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("value", .integer(rawValue)),
            ("set", .array(Self.named.filter { contains($0.0) }.map { .string($0.1) })),
        ]
        if reservedBits != 0 { members.append(("reserved_bits", .integer(reservedBits))) }
        return .members(members)
    }
}
