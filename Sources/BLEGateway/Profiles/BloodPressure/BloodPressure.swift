import Provenance

// Blood Pressure Service characteristics: Blood Pressure Measurement (0x2A35), Intermediate Cuff Pressure
// (0x2A36) and Blood Pressure Feature (0x2A49).
//
// Layout facts checked against the GATT Specification Supplement (GSS) and the Blood Pressure Service 1.1.1
// text as quoted by third-party implementations (Nordic nRF5 SDK ble_bps, Stanford Spezi
// BloodPressureFeature.swift, Nordic Android BLE Common BPMStatus):
// - Measurement/ICP flags: bit 0 units (0 mmHg, 1 kPa), bit 1 time stamp, bit 2 pulse rate, bit 3 user ID,
//   bit 4 measurement status; bits 5-7 reserved. BLS 1.1's new flags (UTC time stamp, user facing time,
//   epoch) belong to the separate Enhanced characteristics 0x2B34/0x2B35, not to these two.
// - Measurement status: bit 0 body movement, bit 1 cuff too loose, bit 2 irregular pulse, bits 3-4 pulse rate
//   range (0 within, 1 above upper limit, 2 below lower limit, 3 reserved), bit 5 improper position,
//   bits 6-15 reserved.
// - Feature: bits 0-5 as the status bits plus multiple bond; bit 6 E2E-CRC, bit 7 User Data Service, bit 8
//   User Facing Time (added by BLS 1.1); bits 9-15 reserved.

/// The unit of every pressure in a blood pressure record (flags bit 0); the pulse rate is always per minute.
public enum BloodPressureUnit: Hashable, Sendable {
    case millimetresOfMercury
    case kilopascals

    /// The UCUM code FHIR wants ("mm[Hg]", "kPa").
    public var ucum: String {
        switch self {
        case .millimetresOfMercury: "mm[Hg]"
        case .kilopascals: "kPa"
        }
    }

    /// The name `gatewayd decode` prints.
    public var displayName: String {
        switch self {
        case .millimetresOfMercury: "mmHg"
        case .kilopascals: "kPa"
        }
    }
}

/// Which of a multi-user monitor's users took the reading. 0xFF ("unknown user") is its own case, never a user
/// index, so a reading the cuff could not attribute is held rather than filed under user 255 (DESIGN.md rule 6).
public enum BloodPressureUser: Hashable, Sendable, CustomStringConvertible {
    /// A user index, 0...254. (`.user(255)` encodes as 0xFF and therefore reads back as `.unknown`.)
    case user(UInt8)
    case unknown

    public init(raw: UInt8) {
        self = raw == 0xFF ? .unknown : .user(raw)
    }

    public var raw: UInt8 {
        switch self {
        case .user(let index): index
        case .unknown: 0xFF
        }
    }

    public var description: String {
        switch self {
        case .user(let index): "user \(index)"
        case .unknown: "unknown user"
        }
    }

    var json: ExactJSON {
        switch self {
        case .user(let index): .integer(index)
        case .unknown: .string("unknown user")
        }
    }
}

/// The measurement status word: what the monitor itself doubts about this reading. It travels with the reading
/// so summaries can exclude it (DESIGN.md rule 5); reserved bits are kept raw, because a status word never
/// changes the payload layout and an unknown bit may still be a warning.
public struct BloodPressureMeasurementStatus: Hashable, Sendable {
    /// Bits 3-4.
    public enum PulseRateRange: UInt8, Hashable, Sendable {
        case withinRange = 0
        case exceedsUpperLimit = 1
        case lessThanLowerLimit = 2
        /// Value 3 is reserved: the reading is kept, its pulse-rate range unknown (and the reading doubtful).
        case reserved = 3

        var displayName: String {
            switch self {
            case .withinRange: "within range"
            case .exceedsUpperLimit: "exceeds upper limit"
            case .lessThanLowerLimit: "less than lower limit"
            case .reserved: "unknown (reserved value 3)"
            }
        }
    }

    /// Bits 6-15 of the status word, the specification's reserved bits.
    public static let reservedMask: UInt16 = 0xFFC0

    public var bodyMovementDetected: Bool
    public var cuffTooLoose: Bool
    public var irregularPulseDetected: Bool
    public var pulseRateRange: PulseRateRange
    public var improperMeasurementPosition: Bool
    /// The reserved bits exactly as sent (only bits in `reservedMask` are kept; others are ignored on encode).
    public var reservedBits: UInt16

    public init(
        bodyMovementDetected: Bool = false, cuffTooLoose: Bool = false, irregularPulseDetected: Bool = false,
        pulseRateRange: PulseRateRange = .withinRange, improperMeasurementPosition: Bool = false,
        reservedBits: UInt16 = 0
    ) {
        self.bodyMovementDetected = bodyMovementDetected
        self.cuffTooLoose = cuffTooLoose
        self.irregularPulseDetected = irregularPulseDetected
        self.pulseRateRange = pulseRateRange
        self.improperMeasurementPosition = improperMeasurementPosition
        self.reservedBits = reservedBits & Self.reservedMask
    }

    /// Reads the 16-bit status at the reader's offset; pulse-rate range 3 (reserved) is kept as `.reserved`.
    init(reading reader: inout PayloadReader, field: String) throws(CharacteristicDecodeError) {
        let raw = try reader.uint16(field)
        self.init(
            bodyMovementDetected: raw & 0x0001 != 0, cuffTooLoose: raw & 0x0002 != 0,
            irregularPulseDetected: raw & 0x0004 != 0,
            pulseRateRange: PulseRateRange(rawValue: UInt8((raw >> 3) & 0x3)) ?? .reserved,
            improperMeasurementPosition: raw & 0x0020 != 0, reservedBits: raw & Self.reservedMask)
    }

    /// The status word as sent.
    public var rawValue: UInt16 {
        var raw = reservedBits & Self.reservedMask
        if bodyMovementDetected { raw |= 0x0001 }
        if cuffTooLoose { raw |= 0x0002 }
        if irregularPulseDetected { raw |= 0x0004 }
        raw |= UInt16(pulseRateRange.rawValue) << 3
        if improperMeasurementPosition { raw |= 0x0020 }
        return raw
    }

    /// What is doubtful about the reading, in the specification's words; empty for a clean reading. A set
    /// reserved bit counts: the monitor is saying something we cannot read, which is not "clean".
    public var concerns: [String] {
        var list: [String] = []
        if bodyMovementDetected { list.append("body movement detected") }
        if cuffTooLoose { list.append("cuff fit too loose") }
        if irregularPulseDetected { list.append("irregular pulse detected") }
        if pulseRateRange != .withinRange { list.append("pulse rate " + pulseRateRange.displayName) }
        if improperMeasurementPosition { list.append("improper measurement position") }
        if reservedBits & Self.reservedMask != 0 { list.append("reserved status bits set") }
        return list
    }

    /// True when the monitor flagged anything about this reading.
    public var hasConcern: Bool { !concerns.isEmpty }

    public var json: ExactJSON {
        .members([
            ("body_movement_detected", .bool(bodyMovementDetected)),
            ("cuff_too_loose", .bool(cuffTooLoose)),
            ("irregular_pulse_detected", .bool(irregularPulseDetected)),
            ("pulse_rate_range", .string(pulseRateRange.displayName)),
            ("improper_measurement_position", .bool(improperMeasurementPosition)),
            ("reserved_bits", .integer(reservedBits & Self.reservedMask)),
        ])
    }
}

/// The layout Blood Pressure Measurement and Intermediate Cuff Pressure share, written once: flags, three
/// SFLOAT pressures, then the optional time stamp, pulse rate, user ID and measurement status.
public struct BloodPressureRecord: Hashable, Sendable {
    /// Flag bits 0-4. Bits 5-7 are reserved: ignored for the layout and kept as sent (`reservedFlags`); with one set,
    /// octets after the known fields (a field a newer specification added) are ignored too, not a reason to refuse.
    static let knownFlags: UInt8 = 0x1F

    public var unit: BloodPressureUnit
    /// Systolic pressure; in Intermediate Cuff Pressure this slot carries the current cuff pressure.
    public var systolic: MedicalFloat
    /// Diastolic pressure (Intermediate Cuff Pressure: unused, normally NaN — kept as sent).
    public var diastolic: MedicalFloat
    /// Mean arterial pressure (Intermediate Cuff Pressure: unused, normally NaN — kept as sent).
    public var meanArterialPressure: MedicalFloat
    /// The device's wall-clock time of the measurement, when it sent one.
    public var timeStamp: DateTime?
    /// Pulse rate in beats per minute, when sent.
    public var pulseRate: MedicalFloat?
    public var userID: BloodPressureUser?
    public var measurementStatus: BloodPressureMeasurementStatus?
    /// Flag bits 5-7 as sent (reserved for future use).
    public var reservedFlags: UInt8 = 0

    public init(
        unit: BloodPressureUnit, systolic: MedicalFloat, diastolic: MedicalFloat, meanArterialPressure: MedicalFloat,
        timeStamp: DateTime? = nil, pulseRate: MedicalFloat? = nil, userID: BloodPressureUser? = nil,
        measurementStatus: BloodPressureMeasurementStatus? = nil, reservedFlags: UInt8 = 0
    ) {
        self.reservedFlags = reservedFlags & ~Self.knownFlags
        self.unit = unit
        self.systolic = systolic
        self.diastolic = diastolic
        self.meanArterialPressure = meanArterialPressure
        self.timeStamp = timeStamp
        self.pulseRate = pulseRate
        self.userID = userID
        self.measurementStatus = measurementStatus
    }

    /// Reads a whole record; `firstField` names the first pressure ("systolic" or "current_cuff_pressure").
    init(reading reader: inout PayloadReader, firstField: String) throws(CharacteristicDecodeError) {
        let flags = try reader.uint8("flags")
        reservedFlags = flags & ~Self.knownFlags
        unit = flags & 0x01 == 0 ? .millimetresOfMercury : .kilopascals
        systolic = try reader.sfloat(firstField)
        diastolic = try reader.sfloat("diastolic")
        meanArterialPressure = try reader.sfloat("mean_arterial_pressure")
        timeStamp = try flags & 0x02 != 0 ? DateTime(reading: &reader, field: "time_stamp", reservedValues: .keep) : nil
        pulseRate = try flags & 0x04 != 0 ? reader.sfloat("pulse_rate") : nil
        userID = try flags & 0x08 != 0 ? BloodPressureUser(raw: reader.uint8("user_id")) : nil
        measurementStatus =
            try flags & 0x10 != 0 ? BloodPressureMeasurementStatus(reading: &reader, field: "measurement_status") : nil
    }

    /// The flags byte the present fields imply.
    public var flags: UInt8 {
        var flags: UInt8 = (unit == .kilopascals ? 0x01 : 0) | reservedFlags
        if timeStamp != nil { flags |= 0x02 }
        if pulseRate != nil { flags |= 0x04 }
        if userID != nil { flags |= 0x08 }
        if measurementStatus != nil { flags |= 0x10 }
        return flags
    }

    func write(to writer: inout PayloadWriter) {
        writer.uint8(flags)
        writer.sfloat(systolic)
        writer.sfloat(diastolic)
        writer.sfloat(meanArterialPressure)
        timeStamp?.write(to: &writer)
        if let pulseRate { writer.sfloat(pulseRate) }
        if let userID { writer.uint8(userID.raw) }
        if let measurementStatus { writer.uint16(measurementStatus.rawValue) }
    }

    func json(firstField: String) -> ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("units", .string(unit.displayName)),
            (firstField, systolic.json),
            ("diastolic", diastolic.json),
            ("mean_arterial_pressure", meanArterialPressure.json),
        ]
        if let timeStamp { members.append(("time_stamp", timeStamp.json)) }
        if let pulseRate { members.append(("pulse_rate", pulseRate.json)) }
        if let userID { members.append(("user_id", userID.json)) }
        if let measurementStatus { members.append(("measurement_status", measurementStatus.json)) }
        if reservedFlags != 0 { members.append(("reserved_flags", .integer(reservedFlags))) }
        return .members(members)
    }
}

/// A characteristic whose value is one `BloodPressureRecord`; the default implementations are the decoder,
/// encoder and JSON for both Blood Pressure Measurement and Intermediate Cuff Pressure.
public protocol BloodPressureRecordCharacteristic: CharacteristicValue, Hashable {
    /// The snake_case name of the first pressure field.
    static var firstPressureField: String { get }
    var record: BloodPressureRecord { get }
    init(record: BloodPressureRecord)
}

extension BloodPressureRecordCharacteristic {
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let record = try BloodPressureRecord(reading: &reader, firstField: Self.firstPressureField)
        if record.reservedFlags == 0 { try reader.finish() }
        self.init(record: record)
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        record.write(to: &writer)
        return writer.bytes
    }

    public var json: ExactJSON { record.json(firstField: Self.firstPressureField) }
}

/// Blood Pressure Measurement (0x2A35): the final, indicated result of one cuff measurement.
@dynamicMemberLookup
public struct BloodPressureMeasurement: BloodPressureRecordCharacteristic {
    public static let uuid = BluetoothUUID.bloodPressureMeasurement
    public static let name = "Blood Pressure Measurement"
    public static let firstPressureField = "systolic"

    public var record: BloodPressureRecord

    public init(record: BloodPressureRecord) { self.record = record }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<BloodPressureRecord, T>) -> T {
        get { record[keyPath: keyPath] }
        set { record[keyPath: keyPath] = newValue }
    }
}

/// Intermediate Cuff Pressure (0x2A36): the cuff pressure notified while a measurement is in progress. Same
/// layout as the measurement, the systolic slot carrying the current cuff pressure; it is progress, not a
/// reading to store.
@dynamicMemberLookup
public struct IntermediateCuffPressure: BloodPressureRecordCharacteristic {
    public static let uuid = BluetoothUUID.intermediateCuffPressure
    public static let name = "Intermediate Cuff Pressure"
    public static let firstPressureField = "current_cuff_pressure"

    public var record: BloodPressureRecord

    public init(record: BloodPressureRecord) { self.record = record }

    /// The cuff pressure right now (the record's systolic slot).
    public var currentCuffPressure: MedicalFloat {
        get { record.systolic }
        set { record.systolic = newValue }
    }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<BloodPressureRecord, T>) -> T {
        get { record[keyPath: keyPath] }
        set { record[keyPath: keyPath] = newValue }
    }
}

/// Blood Pressure Feature (0x2A49): which status bits the monitor can ever set, so a clear bit in a measurement
/// status can be read as "checked and fine" only when the feature is supported.
public struct BloodPressureFeature: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.bloodPressureFeature
    public static let name = "Blood Pressure Feature"
    /// Bits 0-8 are assigned; 9-15 are reserved and refused.
    static let knownBits: UInt64 = 0x01FF

    public var bodyMovementDetection: Bool
    public var cuffFitDetection: Bool
    public var irregularPulseDetection: Bool
    public var pulseRateRangeDetection: Bool
    public var measurementPositionDetection: Bool
    /// The monitor supports bonds with more than one client.
    public var multipleBond: Bool
    public var e2eCRC: Bool
    public var userDataService: Bool
    public var userFacingTime: Bool

    public init(
        bodyMovementDetection: Bool = false, cuffFitDetection: Bool = false, irregularPulseDetection: Bool = false,
        pulseRateRangeDetection: Bool = false, measurementPositionDetection: Bool = false, multipleBond: Bool = false,
        e2eCRC: Bool = false, userDataService: Bool = false, userFacingTime: Bool = false
    ) {
        self.bodyMovementDetection = bodyMovementDetection
        self.cuffFitDetection = cuffFitDetection
        self.irregularPulseDetection = irregularPulseDetection
        self.pulseRateRangeDetection = pulseRateRangeDetection
        self.measurementPositionDetection = measurementPositionDetection
        self.multipleBond = multipleBond
        self.e2eCRC = e2eCRC
        self.userDataService = userDataService
        self.userFacingTime = userFacingTime
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let raw = try reader.uint16("blood_pressure_feature")
        try reader.checkReservedBits(UInt64(raw), allowed: Self.knownBits, field: "blood_pressure_feature", at: 0)
        try reader.finish()
        self.init(
            bodyMovementDetection: raw & 0x0001 != 0, cuffFitDetection: raw & 0x0002 != 0,
            irregularPulseDetection: raw & 0x0004 != 0, pulseRateRangeDetection: raw & 0x0008 != 0,
            measurementPositionDetection: raw & 0x0010 != 0, multipleBond: raw & 0x0020 != 0,
            e2eCRC: raw & 0x0040 != 0, userDataService: raw & 0x0080 != 0, userFacingTime: raw & 0x0100 != 0)
    }

    private var bits: [(String, Bool)] {
        [
            ("body_movement_detection_support", bodyMovementDetection),
            ("cuff_fit_detection_support", cuffFitDetection),
            ("irregular_pulse_detection_support", irregularPulseDetection),
            ("pulse_rate_range_detection_support", pulseRateRangeDetection),
            ("measurement_position_detection_support", measurementPositionDetection),
            ("multiple_bond_support", multipleBond),
            ("e2e_crc_support", e2eCRC),
            ("user_data_service_support", userDataService),
            ("user_facing_time_support", userFacingTime),
        ]
    }

    /// The feature word as sent.
    public var rawValue: UInt16 {
        var raw: UInt16 = 0
        for (index, (_, set)) in bits.enumerated() where set { raw |= 1 << UInt16(index) }
        return raw
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint16(rawValue)
        return writer.bytes
    }

    public var json: ExactJSON { .members(bits.map { ($0.0, .bool($0.1)) }) }
}
