import Provenance

// Heart Rate Service characteristics: Heart Rate Measurement (0x2A37), Body Sensor Location (0x2A38) and Heart
// Rate Control Point (0x2A39), as the GATT Specification Supplement lays them out: measurement flags bit 0
// value format, bits 1-2 sensor contact, bit 3 energy expended (uint16 kJ), bit 4 RR intervals (uint16,
// 1/1024 s, as many as fit), bits 5-7 reserved; body sensor locations 0-6; control point opcode 1 only.

/// Heart Rate Measurement (0x2A37): one notified heart rate, with optional energy expended and the RR
/// intervals measured since the last notification.
public struct HeartRateMeasurement: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.heartRateMeasurement
    public static let name = "Heart Rate Measurement"
    /// Flag bits 0-4. Bits 5-7 are reserved: ignored and kept as sent (`reservedFlags`); with one set, a final odd
    /// octet after the RR intervals, or octets after the known fields, are ignored (a field a newer device may add).
    static let knownFlags: UInt8 = 0x1F

    /// The heart rate in the width the device chose (flags bit 0); kept so the value re-encodes as sent.
    public enum Value: Hashable, Sendable {
        case uint8(UInt8)
        case uint16(UInt16)

        /// Beats per minute.
        public var beatsPerMinute: Int {
            switch self {
            case .uint8(let value): Int(value)
            case .uint16(let value): Int(value)
            }
        }
    }

    /// Skin contact (flags bits 1-2). Values 0 and 1 both mean "not supported", so a device sending 1 reads
    /// back as `notSupported` and re-encodes as 0 — the only non-canonical bit pattern among these types.
    public enum SensorContact: Hashable, Sendable {
        case notSupported
        /// Supported, but the sensor is not touching skin: the heart rate is likely wrong.
        case notDetected
        case detected

        var displayName: String {
            switch self {
            case .notSupported: "not supported"
            case .notDetected: "not detected"
            case .detected: "detected"
            }
        }
    }

    /// One RR interval in the device's units of 1/1024 s, kept as the exact integer it sent.
    public struct RRInterval: Hashable, Sendable {
        public var ticks: UInt16

        public init(ticks: UInt16) { self.ticks = ticks }

        /// The exact duration in seconds: ticks / 1024 = ticks × 9765625 × 10^-10 ("1", "0.5", "0.0009765625").
        public var seconds: String {
            CharacteristicFormatting.text(mantissa: Int64(ticks) * 9_765_625, exponent: -10)
        }
    }

    public var heartRate: Value
    public var sensorContact: SensorContact
    /// Accumulated energy since the last reset, kJ. 0xFFFF means "at least 65535 kJ" (the field saturates).
    public var energyExpended: UInt16?
    /// RR intervals, oldest first; nil when the flag is clear. When present there is at least one.
    public var rrIntervals: [RRInterval]?
    /// Flag bits 5-7 as sent (reserved for future use).
    public var reservedFlags: UInt8 = 0

    public init(
        heartRate: Value, sensorContact: SensorContact = .notSupported, energyExpended: UInt16? = nil,
        rrIntervals: [RRInterval]? = nil
    ) {
        self.heartRate = heartRate
        self.sensorContact = sensorContact
        self.energyExpended = energyExpended
        self.rrIntervals = rrIntervals
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let flags = try reader.uint8("flags")
        reservedFlags = flags & ~Self.knownFlags
        let future = reservedFlags != 0
        heartRate =
            try flags & 0x01 == 0
            ? .uint8(reader.uint8("heart_rate_measurement_value"))
            : .uint16(reader.uint16("heart_rate_measurement_value"))
        switch (flags >> 1) & 0x03 {
        case 2: sensorContact = .notDetected
        case 3: sensorContact = .detected
        default: sensorContact = .notSupported
        }
        energyExpended = try flags & 0x08 != 0 ? reader.uint16("energy_expended") : nil
        if flags & 0x10 != 0 {
            // The intervals run to the end of the payload; the flag promises at least one, so an empty list is a
            // truncated payload and an odd final byte is a truncated interval.
            var intervals: [RRInterval] = []
            repeat {
                intervals.append(RRInterval(ticks: try reader.uint16("rr_interval[\(intervals.count)]")))
            } while reader.remaining >= 2 || (!future && !reader.isAtEnd)
            rrIntervals = intervals
        } else {
            rrIntervals = nil
        }
        if !future { try reader.finish() }
    }

    /// The flags byte the fields imply.
    public var flags: UInt8 {
        var flags: UInt8 = reservedFlags & ~Self.knownFlags
        if case .uint16 = heartRate { flags |= 0x01 }
        switch sensorContact {
        case .notSupported: break
        case .notDetected: flags |= 0x04
        case .detected: flags |= 0x06
        }
        if energyExpended != nil { flags |= 0x08 }
        if rrIntervals != nil { flags |= 0x10 }
        return flags
    }

    /// The bytes; an empty `rrIntervals` array encodes the flag with no intervals, which the decoder refuses.
    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(flags)
        switch heartRate {
        case .uint8(let value): writer.uint8(value)
        case .uint16(let value): writer.uint16(value)
        }
        if let energyExpended { writer.uint16(energyExpended) }
        for interval in rrIntervals ?? [] { writer.uint16(interval.ticks) }
        return writer.bytes
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("heart_rate_measurement_value", .integer(heartRate.beatsPerMinute)),
            ("heart_rate_value_format", .string(heartRate.formatName)),
            ("sensor_contact_status", .string(sensorContact.displayName)),
        ]
        if let energyExpended { members.append(("energy_expended", .integer(energyExpended))) }
        if let rrIntervals {
            let intervals = rrIntervals.map {
                ExactJSON.members([("ticks", .integer($0.ticks)), ("seconds", .number($0.seconds))])
            }
            members.append(("rr_intervals", .array(intervals)))
        }
        if reservedFlags != 0 { members.append(("reserved_flags", .integer(reservedFlags))) }
        return .members(members)
    }
}

extension HeartRateMeasurement.Value {
    var formatName: String {
        switch self {
        case .uint8: "uint8"
        case .uint16: "uint16"
        }
    }
}

/// Body Sensor Location (0x2A38): where the heart-rate sensor sits, which is part of how a reading was taken.
public enum BodySensorLocation: UInt8, CharacteristicValue, Hashable, CaseIterable {
    case other = 0
    case chest = 1
    case wrist = 2
    case finger = 3
    case hand = 4
    case earLobe = 5
    case foot = 6

    public static let uuid = BluetoothUUID.bodySensorLocation
    public static let name = "Body Sensor Location"

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let raw = try reader.uint8("body_sensor_location")
        guard let location = BodySensorLocation(rawValue: raw) else {
            throw reader.error("body_sensor_location", .reservedValue(UInt64(raw)), at: 0)
        }
        try reader.finish()
        self = location
    }

    public func encoded() -> [UInt8] { [rawValue] }

    public var displayName: String {
        switch self {
        case .other: "Other"
        case .chest: "Chest"
        case .wrist: "Wrist"
        case .finger: "Finger"
        case .hand: "Hand"
        case .earLobe: "Ear Lobe"
        case .foot: "Foot"
        }
    }

    public var json: ExactJSON { .members([("body_sensor_location", .string(displayName))]) }
}

/// Heart Rate Control Point (0x2A39): the one command a heart-rate sensor accepts, written by the gateway.
public struct HeartRateControlPoint: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.heartRateControlPoint
    public static let name = "Heart Rate Control Point"

    public enum OpCode: UInt8, Hashable, Sendable {
        /// Restart the energy-expended accumulation from zero.
        case resetEnergyExpended = 1
    }

    public var opCode: OpCode

    public init(opCode: OpCode = .resetEnergyExpended) { self.opCode = opCode }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let raw = try reader.uint8("heart_rate_control_point")
        guard let opCode = OpCode(rawValue: raw) else {
            throw reader.error("heart_rate_control_point", .reservedValue(UInt64(raw)), at: 0)
        }
        try reader.finish()
        self.opCode = opCode
    }

    public func encoded() -> [UInt8] { [opCode.rawValue] }

    public var json: ExactJSON {
        switch opCode {
        case .resetEnergyExpended: .members([("heart_rate_control_point", .string("Reset Energy Expended"))])
        }
    }
}
