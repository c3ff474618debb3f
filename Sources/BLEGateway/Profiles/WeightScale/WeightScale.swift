import Provenance

// Weight Scale and Body Composition Service characteristics, as the GATT Specification Supplement lays them out:
// - Weight Measurement (0x2A9D, indicated): flags (bit 0 imperial units, 1 Time Stamp, 2 User ID, 3 BMI and Height
//   present; 4-7 reserved), weight (uint16: 0.005 kg or 0.01 lb; 0xFFFF = measurement unsuccessful), then the
//   Date Time, the user ID (255 = unknown user), BMI (uint16, 0.1) and height (uint16: 0.001 m or 0.1 in).
// - Weight Scale Feature (0x2A9E, read): uint32 — bit 0 time stamp, 1 multiple users, 2 BMI supported, bits 3-6 weight
//   resolution, 7-9 height resolution, 10-31 reserved.
// - Body Composition Measurement (0x2A9C, indicated): flags (uint16: bit 0 imperial, 1 Time Stamp, 2 User ID, 3 Basal
//   Metabolism, 4 Muscle Percentage, 5 Muscle Mass, 6 Fat Free Mass, 7 Soft Lean Mass, 8 Body Water Mass, 9 Impedance,
//   10 Weight, 11 Height, 12 Multiple Packet Measurement; 13-15 reserved), body fat percentage (uint16, 0.1 %; 0xFFFF =
//   measurement unsuccessful), then the flagged fields in that order (masses as weights, basal metabolism in kJ,
//   impedance 0.1 Ω). A value longer than the ATT MTU allows is sent as two indications, both with bit 12 set.
// - Body Composition Feature (0x2A9B, read): uint32 — bits 0-10 which fields are supported, 11-14 mass resolution,
//   15-17 height resolution, 18-31 reserved.

extension BluetoothUUID {
    public static let weightScaleService = BluetoothUUID(0x181D)
    public static let bodyCompositionService = BluetoothUUID(0x181B)
    public static let weightMeasurement = BluetoothUUID(0x2A9D)
    public static let weightScaleFeature = BluetoothUUID(0x2A9E)
    public static let bodyCompositionMeasurement = BluetoothUUID(0x2A9C)
    public static let bodyCompositionFeature = BluetoothUUID(0x2A9B)
}

/// SI (kilograms, metres) or imperial (pounds, inches): flags bit 0 of both measurements.
public enum MassUnits: Hashable, Sendable {
    case si
    case imperial

    /// UCUM of a mass: "kg" or "[lb_av]".
    public var massUCUM: String { self == .si ? "kg" : "[lb_av]" }
    /// UCUM of a length: "m" or "[in_i]".
    public var lengthUCUM: String { self == .si ? "m" : "[in_i]" }
    var massName: String { self == .si ? "kg" : "lb" }
    var lengthName: String { self == .si ? "m" : "in" }
}

/// A uint16 scale field kept exactly as sent (raw units of its resolution); 0xFFFF where the field says
/// "measurement unsuccessful".
public struct ScaleValue: Hashable, Sendable {
    public var raw: UInt16

    public init(raw: UInt16) { self.raw = raw }

    public static let unsuccessful = ScaleValue(raw: 0xFFFF)
    public var isUnsuccessful: Bool { raw == 0xFFFF }

    /// A mass: 0.005 kg or 0.01 lb a step, exactly.
    func mass(_ units: MassUnits) -> ScaleDecimal {
        units == .si ? ScaleDecimal(Int64(raw) * 5, -3) : ScaleDecimal(Int64(raw), -2)
    }
    /// A length: 0.001 m or 0.1 in a step.
    func length(_ units: MassUnits) -> ScaleDecimal {
        units == .si ? ScaleDecimal(Int64(raw), -3) : ScaleDecimal(Int64(raw), -1)
    }
    /// A tenth: BMI, percentages, ohms.
    var tenths: ScaleDecimal { ScaleDecimal(Int64(raw), -1) }
    /// Whole units: basal metabolism in kJ.
    var whole: ScaleDecimal { ScaleDecimal(Int64(raw), 0) }
}

/// An exact decimal of a scale field: mantissa × 10^exponent.
public struct ScaleDecimal: Hashable, Sendable, CustomStringConvertible {
    public var mantissa: Int64
    public var exponent: Int8

    init(_ mantissa: Int64, _ exponent: Int8) {
        self.mantissa = mantissa
        self.exponent = exponent
    }

    public var description: String { DecimalText.render(mantissa: mantissa, exponent: Int(exponent)) }
    var json: ExactJSON { .number(description) }
}

/// Weight Measurement (0x2A9D): one weighing, indicated; the scale keeps it until confirmed.
public struct WeightMeasurement: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.weightMeasurement
    public static let name = "Weight Measurement"
    static let knownFlags: UInt8 = 0x0F

    public var units: MassUnits
    public var weight: ScaleValue
    public var timeStamp: DateTime?
    /// The scale's user slot; 255 is "unknown user".
    public var userID: UInt8?
    /// BMI (0.1 a step) and height, present together.
    public var bmiAndHeight: (bmi: ScaleValue, height: ScaleValue)? {
        get { bmi.flatMap { bmi in height.map { (bmi, $0) } } }
        set { (bmi, height) = (newValue?.bmi, newValue?.height) }
    }
    public private(set) var bmi: ScaleValue?
    public private(set) var height: ScaleValue?
    public var reservedFlags: UInt8 = 0

    public init(
        units: MassUnits = .si, weight: ScaleValue, timeStamp: DateTime? = nil, userID: UInt8? = nil,
        bmiAndHeight: (bmi: ScaleValue, height: ScaleValue)? = nil
    ) {
        (self.units, self.weight, self.timeStamp, self.userID) = (units, weight, timeStamp, userID)
        (bmi, height) = (bmiAndHeight?.bmi, bmiAndHeight?.height)
    }

    /// Reserved flag bits are kept; with one set, octets after the known fields (a newer device's field) are ignored.
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let flags = try reader.uint8("flags")
        reservedFlags = flags & ~Self.knownFlags
        units = flags & 0x01 == 0 ? .si : .imperial
        weight = ScaleValue(raw: try reader.uint16("weight"))
        timeStamp = try flags & 0x02 != 0 ? DateTime(reading: &reader, field: "time_stamp", reservedValues: .keep) : nil
        userID = try flags & 0x04 != 0 ? reader.uint8("user_id") : nil
        if flags & 0x08 != 0 {
            bmi = ScaleValue(raw: try reader.uint16("bmi"))
            height = ScaleValue(raw: try reader.uint16("height"))
        }
        if reservedFlags == 0 { try reader.finish() }
    }

    public var flags: UInt8 {
        var flags = reservedFlags | (units == .imperial ? 0x01 : 0)
        if timeStamp != nil { flags |= 0x02 }
        if userID != nil { flags |= 0x04 }
        if bmi != nil { flags |= 0x08 }
        return flags
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(flags)
        writer.uint16(weight.raw)
        timeStamp?.write(to: &writer)
        if let userID { writer.uint8(userID) }
        if let bmi, let height {
            writer.uint16(bmi.raw)
            writer.uint16(height.raw)
        }
        return writer.bytes
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("units", .string(units == .si ? "kg, m" : "lb, in")),
            ("weight", weight.isUnsuccessful ? .string("measurement unsuccessful") : weight.mass(units).json),
        ]
        if let timeStamp { members.append(("time_stamp", timeStamp.json)) }
        if let userID { members.append(("user_id", userID == 0xFF ? .string("unknown user") : .integer(userID))) }
        if let bmi, let height {
            members.append(("bmi", bmi.tenths.json))
            members.append(("height", height.length(units).json))
        }
        if reservedFlags != 0 { members.append(("reserved_flags", .integer(reservedFlags))) }
        return .members(members)
    }

    public static func == (lhs: WeightMeasurement, rhs: WeightMeasurement) -> Bool { lhs.encoded() == rhs.encoded() }
    public func hash(into hasher: inout Hasher) { hasher.combine(encoded()) }
}

/// Weight Scale Feature (0x2A9E): what the scale reports, and the resolution it weighs at. Reserved bits are kept.
public struct WeightScaleFeature: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.weightScaleFeature
    public static let name = "Weight Scale Feature"

    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(
        timeStamp: Bool, multipleUsers: Bool, bmi: Bool, weightResolution: UInt32 = 0, heightResolution: UInt32 = 0
    ) {
        rawValue =
            (timeStamp ? 1 : 0) | (multipleUsers ? 2 : 0) | (bmi ? 4 : 0) | (weightResolution & 0xF) << 3
            | (heightResolution & 0x7) << 7
    }

    public var timeStampSupported: Bool { rawValue & 1 != 0 }
    public var multipleUsersSupported: Bool { rawValue & 2 != 0 }
    public var bmiSupported: Bool { rawValue & 4 != 0 }
    /// 0 not specified, 1 = 0.5 kg/1 lb … 7 = 0.005 kg/0.01 lb; 8-15 reserved.
    public var weightResolution: UInt32 { (rawValue >> 3) & 0xF }
    /// 0 not specified, 1 = 0.01 m/1 in … 3 = 0.001 m/0.1 in; 4-7 reserved.
    public var heightResolution: UInt32 { (rawValue >> 7) & 0x7 }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        rawValue = try reader.uint32("weight_scale_feature")
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint32(rawValue)
        return writer.bytes
    }

    static let weightResolutions = [
        "not specified", "0.5 kg or 1 lb", "0.2 kg or 0.5 lb", "0.1 kg or 0.2 lb", "0.05 kg or 0.1 lb",
        "0.02 kg or 0.05 lb",
        "0.01 kg or 0.02 lb", "0.005 kg or 0.01 lb",
    ]
    static let heightResolutions = ["not specified", "0.01 m or 1 in", "0.005 m or 0.5 in", "0.001 m or 0.1 in"]

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("time_stamp_supported", .bool(timeStampSupported)),
            ("multiple_users_supported", .bool(multipleUsersSupported)),
            ("bmi_supported", .bool(bmiSupported)),
            (
                "weight_resolution",
                .string(
                    Self.weightResolutions.indices.contains(Int(weightResolution))
                        ? Self.weightResolutions[Int(weightResolution)] : "reserved (\(weightResolution))")
            ),
            (
                "height_resolution",
                .string(
                    Self.heightResolutions.indices.contains(Int(heightResolution))
                        ? Self.heightResolutions[Int(heightResolution)] : "reserved (\(heightResolution))")
            ),
        ]
        if rawValue >> 10 != 0 { members.append(("reserved_bits", .integer(rawValue & ~0x3FF))) }
        return .members(members)
    }
}

/// Body Composition Measurement (0x2A9C): one packet of a body-composition analysis. A measurement too long for the
/// link comes as two packets with `multiplePacket` set; `BodyCompositionRecord` joins them.
public struct BodyCompositionMeasurement: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.bodyCompositionMeasurement
    public static let name = "Body Composition Measurement"
    static let knownFlags: UInt16 = 0x1FFF

    public var units: MassUnits
    /// Percent, 0.1 a step; 0xFFFF when the measurement was unsuccessful.
    public var bodyFatPercentage: ScaleValue
    public var timeStamp: DateTime?
    public var userID: UInt8?
    /// kJ.
    public var basalMetabolism: ScaleValue?
    public var musclePercentage: ScaleValue?
    public var muscleMass: ScaleValue?
    public var fatFreeMass: ScaleValue?
    public var softLeanMass: ScaleValue?
    public var bodyWaterMass: ScaleValue?
    /// Ω, 0.1 a step.
    public var impedance: ScaleValue?
    public var weight: ScaleValue?
    public var height: ScaleValue?
    public var multiplePacket: Bool
    public var reservedFlags: UInt16 = 0

    public init(
        units: MassUnits = .si, bodyFatPercentage: ScaleValue, timeStamp: DateTime? = nil, userID: UInt8? = nil,
        basalMetabolism: ScaleValue? = nil, musclePercentage: ScaleValue? = nil, muscleMass: ScaleValue? = nil,
        fatFreeMass: ScaleValue? = nil, softLeanMass: ScaleValue? = nil, bodyWaterMass: ScaleValue? = nil,
        impedance: ScaleValue? = nil, weight: ScaleValue? = nil, height: ScaleValue? = nil, multiplePacket: Bool = false
    ) {
        (self.units, self.bodyFatPercentage, self.timeStamp, self.userID) = (
            units, bodyFatPercentage, timeStamp, userID
        )
        (self.basalMetabolism, self.musclePercentage, self.muscleMass) = (basalMetabolism, musclePercentage, muscleMass)
        (self.fatFreeMass, self.softLeanMass, self.bodyWaterMass) = (fatFreeMass, softLeanMass, bodyWaterMass)
        (self.impedance, self.weight, self.height, self.multiplePacket) = (impedance, weight, height, multiplePacket)
    }

    /// The optional uint16 fields in wire order; each is announced by flag bit 3 + its position.
    public enum Field: Int, CaseIterable, Sendable {
        case basalMetabolism, musclePercentage, muscleMass, fatFreeMass, softLeanMass, bodyWaterMass, impedance, weight,
            height

        var bit: UInt16 { 1 << UInt16(rawValue + 3) }

        /// The specification's name in snake_case.
        public var name: String {
            [
                "basal_metabolism", "muscle_percentage", "muscle_mass", "fat_free_mass", "soft_lean_mass",
                "body_water_mass",
                "impedance", "weight", "height",
            ][rawValue]
        }
    }

    public subscript(field: Field) -> ScaleValue? {
        get {
            switch field {
            case .basalMetabolism: basalMetabolism
            case .musclePercentage: musclePercentage
            case .muscleMass: muscleMass
            case .fatFreeMass: fatFreeMass
            case .softLeanMass: softLeanMass
            case .bodyWaterMass: bodyWaterMass
            case .impedance: impedance
            case .weight: weight
            case .height: height
            }
        }
        set {
            switch field {
            case .basalMetabolism: basalMetabolism = newValue
            case .musclePercentage: musclePercentage = newValue
            case .muscleMass: muscleMass = newValue
            case .fatFreeMass: fatFreeMass = newValue
            case .softLeanMass: softLeanMass = newValue
            case .bodyWaterMass: bodyWaterMass = newValue
            case .impedance: impedance = newValue
            case .weight: weight = newValue
            case .height: height = newValue
            }
        }
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let flags = try reader.uint16("flags")
        self.init(
            units: flags & 0x01 == 0 ? .si : .imperial,
            bodyFatPercentage: ScaleValue(raw: try reader.uint16("body_fat_percentage")),
            multiplePacket: flags & 0x1000 != 0)
        reservedFlags = flags & ~Self.knownFlags
        timeStamp = try flags & 0x02 != 0 ? DateTime(reading: &reader, field: "time_stamp", reservedValues: .keep) : nil
        userID = try flags & 0x04 != 0 ? reader.uint8("user_id") : nil
        for field in Field.allCases where flags & field.bit != 0 {
            self[field] = ScaleValue(raw: try reader.uint16(field.name))
        }
        if reservedFlags == 0 { try reader.finish() }
    }

    public var flags: UInt16 {
        var flags = reservedFlags | (units == .imperial ? 0x01 : 0) | (multiplePacket ? 0x1000 : 0)
        if timeStamp != nil { flags |= 0x02 }
        if userID != nil { flags |= 0x04 }
        for field in Field.allCases where self[field] != nil { flags |= field.bit }
        return flags
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint16(flags)
        writer.uint16(bodyFatPercentage.raw)
        timeStamp?.write(to: &writer)
        if let userID { writer.uint8(userID) }
        for field in Field.allCases { if let value = self[field] { writer.uint16(value.raw) } }
        return writer.bytes
    }

    /// The field's exact value in its unit (masses and height follow `units`).
    func text(_ field: Field, _ value: ScaleValue) -> ScaleDecimal {
        switch field {
        case .basalMetabolism: value.whole
        case .muscleMass, .fatFreeMass, .softLeanMass, .bodyWaterMass, .weight: value.mass(units)
        case .height: value.length(units)
        case .musclePercentage, .impedance: value.tenths
        }
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("units", .string(units == .si ? "kg, m" : "lb, in")),
            (
                "body_fat_percentage",
                bodyFatPercentage.isUnsuccessful ? .string("measurement unsuccessful") : bodyFatPercentage.tenths.json
            ),
        ]
        if let timeStamp { members.append(("time_stamp", timeStamp.json)) }
        if let userID { members.append(("user_id", userID == 0xFF ? .string("unknown user") : .integer(userID))) }
        for field in Field.allCases {
            if let value = self[field] { members.append((field.name, text(field, value).json)) }
        }
        if multiplePacket { members.append(("multiple_packet_measurement", .bool(true))) }
        if reservedFlags != 0 { members.append(("reserved_flags", .integer(reservedFlags))) }
        return .members(members)
    }
}

/// Body Composition Feature (0x2A9B): which fields the analyser reports, and its resolutions. Reserved bits are kept.
public struct BodyCompositionFeature: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.bodyCompositionFeature
    public static let name = "Body Composition Feature"

    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    static let named = [
        "time_stamp", "multiple_users", "basal_metabolism", "muscle_percentage", "muscle_mass", "fat_free_mass",
        "soft_lean_mass", "body_water_mass", "impedance", "weight", "height",
    ]

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        rawValue = try reader.uint32("body_composition_feature")
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint32(rawValue)
        return writer.bytes
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            (
                "supported",
                .array(
                    Self.named.enumerated().filter { rawValue & (1 << UInt32($0.offset)) != 0 }.map {
                        .string($0.element)
                    })
            ),
            ("mass_resolution", .integer((rawValue >> 11) & 0xF)),
            ("height_resolution", .integer((rawValue >> 15) & 0x7)),
        ]
        if rawValue >> 18 != 0 { members.append(("reserved_bits", .integer(rawValue & ~0x3FFFF))) }
        return .members(members)
    }
}
