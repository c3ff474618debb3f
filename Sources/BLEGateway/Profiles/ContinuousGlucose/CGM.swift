import Provenance

// Continuous Glucose Monitoring Service characteristics, as the GATT Specification Supplement and CGMS lay them out:
// - CGM Measurement (0x2AA7, notified): one or more records, each: Size (uint8, the record's length including itself),
//   Flags (bit 0 Trend, 1 Quality present; 5 Warning-, 6 Cal/Temp-, 7 Status-octet present; 2-4 reserved), glucose
//   concentration (SFLOAT, mg/dL), Time Offset (uint16, minutes since the session started), the present annunciation
//   octets in the order Warning, Cal/Temp, Status, Trend (SFLOAT, mg/dL/min), Quality (SFLOAT, %), and the E2E-CRC
//   (uint16) when the sensor supports it — which the Size says.
// - CGM Feature (0x2AA8, read): features (24 bits; bit 12 E2E-CRC supported), type (low nibble) and sample location
//   (high nibble) in one octet, and the E2E-CRC (0xFFFF when not supported).
// - CGM Status (0x2AA9): Time Offset, the three annunciation octets (Status, Cal/Temp, Warning), E2E-CRC when supported.
// - CGM Session Start Time (0x2AAA): Date Time, Time Zone (sint8, 15 minutes), DST Offset (uint8), E2E-CRC.
// - CGM Session Run Time (0x2AAB): uint16 hours, E2E-CRC.
// - CGM Specific Ops Control Point (0x2AAC): op code, operand, E2E-CRC; responses op code 0x1C with the request's op
//   code and a response code, or an operand response (0x03 the communication interval).
// The E2E-CRC is CRC-16/MCRF4XX: CCITT polynomial, reflected, seed 0xFFFF, over every octet before it.

extension BluetoothUUID {
    public static let continuousGlucoseMonitoringService = BluetoothUUID(0x181F)
    public static let cgmMeasurement = BluetoothUUID(0x2AA7)
    public static let cgmFeature = BluetoothUUID(0x2AA8)
    public static let cgmStatus = BluetoothUUID(0x2AA9)
    public static let cgmSessionStartTime = BluetoothUUID(0x2AAA)
    public static let cgmSessionRunTime = BluetoothUUID(0x2AAB)
    public static let cgmSpecificOpsControlPoint = BluetoothUUID(0x2AAC)
}

/// The CGM E2E-CRC: CRC-16/MCRF4XX (polynomial 0x1021 reflected as 0x8408, seed 0xFFFF, no final XOR).
public enum CGMCRC {
    public static func compute(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes {
            crc ^= UInt16(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x8408 : crc >> 1 }
        }
        return crc
    }
}

extension PayloadReader {
    /// Reads the E2E-CRC at the reader's offset and checks it against the `count` octets before it.
    mutating func cgmCRC(over bytes: [UInt8], count: Int) throws(CharacteristicDecodeError) {
        let at = offset
        let sent = try uint16("e2e_crc")
        let computed = CGMCRC.compute(bytes.prefix(count))
        guard sent == computed else {
            throw error(
                "e2e_crc",
                .invalidValue(
                    "E2E-CRC 0x\(String(sent, radix: 16)) does not match the value (0x\(String(computed, radix: 16)))"),
                at: at)
        }
    }
}

/// The Sensor Status Annunciation: 24 bits — Status (bits 0-7), Cal/Temp (8-15), Warning (16-23). Reserved bits kept.
public struct CGMSensorStatus: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue & 0xFF_FFFF }

    public static let sessionStopped = CGMSensorStatus(rawValue: 1 << 0)
    public static let deviceBatteryLow = CGMSensorStatus(rawValue: 1 << 1)
    public static let sensorTypeIncorrect = CGMSensorStatus(rawValue: 1 << 2)
    public static let sensorMalfunction = CGMSensorStatus(rawValue: 1 << 3)
    public static let deviceSpecificAlert = CGMSensorStatus(rawValue: 1 << 4)
    public static let generalDeviceFault = CGMSensorStatus(rawValue: 1 << 5)
    public static let timeSynchronizationRequired = CGMSensorStatus(rawValue: 1 << 8)
    public static let calibrationNotAllowed = CGMSensorStatus(rawValue: 1 << 9)
    public static let calibrationRecommended = CGMSensorStatus(rawValue: 1 << 10)
    public static let calibrationRequired = CGMSensorStatus(rawValue: 1 << 11)
    public static let temperatureTooHigh = CGMSensorStatus(rawValue: 1 << 12)
    public static let temperatureTooLow = CGMSensorStatus(rawValue: 1 << 13)
    public static let belowPatientLow = CGMSensorStatus(rawValue: 1 << 16)
    public static let abovePatientHigh = CGMSensorStatus(rawValue: 1 << 17)
    public static let belowHypo = CGMSensorStatus(rawValue: 1 << 18)
    public static let aboveHyper = CGMSensorStatus(rawValue: 1 << 19)
    public static let rateOfDecreaseExceeded = CGMSensorStatus(rawValue: 1 << 20)
    public static let rateOfIncreaseExceeded = CGMSensorStatus(rawValue: 1 << 21)
    public static let lowerThanDeviceCanProcess = CGMSensorStatus(rawValue: 1 << 22)
    public static let higherThanDeviceCanProcess = CGMSensorStatus(rawValue: 1 << 23)

    static let reservedMask: UInt32 = 0b1100_0000 | 0b1100_0000 << 8

    public static let named: [(CGMSensorStatus, String)] = [
        (.sessionStopped, "session_stopped"), (.deviceBatteryLow, "device_battery_low"),
        (.sensorTypeIncorrect, "sensor_type_incorrect"), (.sensorMalfunction, "sensor_malfunction"),
        (.deviceSpecificAlert, "device_specific_alert"), (.generalDeviceFault, "general_device_fault"),
        (.timeSynchronizationRequired, "time_synchronization_required"),
        (.calibrationNotAllowed, "calibration_not_allowed"),
        (.calibrationRecommended, "calibration_recommended"), (.calibrationRequired, "calibration_required"),
        (.temperatureTooHigh, "sensor_temperature_too_high"), (.temperatureTooLow, "sensor_temperature_too_low"),
        (.belowPatientLow, "below_patient_low_level"), (.abovePatientHigh, "above_patient_high_level"),
        (.belowHypo, "below_hypo_level"), (.aboveHyper, "above_hyper_level"),
        (.rateOfDecreaseExceeded, "rate_of_decrease_exceeded"), (.rateOfIncreaseExceeded, "rate_of_increase_exceeded"),
        (.lowerThanDeviceCanProcess, "lower_than_device_can_process"),
        (.higherThanDeviceCanProcess, "higher_than_device_can_process"),
    ]

    public var names: [String] { Self.named.filter { contains($0.0) }.map(\.1) }
    public var reservedBits: UInt32 { rawValue & Self.reservedMask }
    var status: UInt8 { UInt8(rawValue & 0xFF) }
    var calTemp: UInt8 { UInt8(rawValue >> 8 & 0xFF) }
    var warning: UInt8 { UInt8(rawValue >> 16 & 0xFF) }

    var json: ExactJSON {
        var members: [(String, ExactJSON)] = [("set", .array(names.map(ExactJSON.string)))]
        if reservedBits != 0 { members.append(("reserved_bits", .integer(reservedBits))) }
        return .members(members)
    }
}

/// One CGM Measurement record.
public struct CGMRecord: Hashable, Sendable {
    /// mg/dL, exactly as sent.
    public var glucose: MedicalFloat
    /// Minutes since the session started.
    public var timeOffset: UInt16
    /// Which annunciation octets were sent (flags bits 5-7: Warning, Cal/Temp, Status), and their bits.
    public var annunciation: CGMSensorStatus
    public var warningOctetPresent = false
    public var calTempOctetPresent = false
    public var statusOctetPresent = false
    /// (mg/dL)/min.
    public var trend: MedicalFloat?
    /// %.
    public var quality: MedicalFloat?
    /// Sent with its E2E-CRC (checked on decoding).
    public var crcProtected: Bool
    public var reservedFlags: UInt8 = 0

    public init(
        glucose: MedicalFloat, timeOffset: UInt16, annunciation: CGMSensorStatus = [], trend: MedicalFloat? = nil,
        quality: MedicalFloat? = nil, crcProtected: Bool = false
    ) {
        (self.glucose, self.timeOffset, self.annunciation, self.trend, self.quality, self.crcProtected) =
            (glucose, timeOffset, annunciation, trend, quality, crcProtected)
        warningOctetPresent = annunciation.warning != 0
        calTempOctetPresent = annunciation.calTemp != 0
        statusOctetPresent = annunciation.status != 0
    }

    var flags: UInt8 {
        var flags = reservedFlags
        if trend != nil { flags |= 0x01 }
        if quality != nil { flags |= 0x02 }
        if warningOctetPresent { flags |= 0x20 }
        if calTempOctetPresent { flags |= 0x40 }
        if statusOctetPresent { flags |= 0x80 }
        return flags
    }

    func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        let size =
            6 + (warningOctetPresent ? 1 : 0) + (calTempOctetPresent ? 1 : 0) + (statusOctetPresent ? 1 : 0)
            + (trend != nil ? 2 : 0) + (quality != nil ? 2 : 0) + (crcProtected ? 2 : 0)
        writer.uint8(UInt8(size))
        writer.uint8(flags)
        writer.sfloat(glucose)
        writer.uint16(timeOffset)
        if warningOctetPresent { writer.uint8(annunciation.warning) }
        if calTempOctetPresent { writer.uint8(annunciation.calTemp) }
        if statusOctetPresent { writer.uint8(annunciation.status) }
        if let trend { writer.sfloat(trend) }
        if let quality { writer.sfloat(quality) }
        if crcProtected { writer.uint16(CGMCRC.compute(writer.bytes)) }
        return writer.bytes
    }

    var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("cgm_glucose_concentration", glucose.json), ("time_offset", .integer(timeOffset)),
        ]
        if warningOctetPresent || calTempOctetPresent || statusOctetPresent {
            members.append(("sensor_status_annunciation", annunciation.json))
        }
        if let trend { members.append(("cgm_trend_information", trend.json)) }
        if let quality { members.append(("cgm_quality", quality.json)) }
        members.append(("e2e_crc", .bool(crcProtected)))
        if reservedFlags != 0 { members.append(("reserved_flags", .integer(reservedFlags))) }
        return .members(members)
    }
}

/// CGM Measurement (0x2AA7): one notification, holding one or more records.
public struct CGMMeasurement: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.cgmMeasurement
    public static let name = "CGM Measurement"
    static let knownFlags: UInt8 = 0xE3

    public var records: [CGMRecord]

    public init(records: [CGMRecord]) { self.records = records }

    /// Each record's Size bounds it: its fields are read inside it, the E2E-CRC is present when two octets remain,
    /// and with a reserved flag bit set, octets the known fields do not explain are ignored (a newer field).
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        var records: [CGMRecord] = []
        repeat {
            let start = reader.offset
            let index = records.count
            let sizeOffset = reader.offset
            let size = Int(try reader.uint8("record[\(index)].size"))
            guard size >= 6 else {
                throw reader.error(
                    "record[\(index)].size", .invalidValue("a record is at least 6 octets, not \(size)"), at: sizeOffset
                )
            }
            guard bytes.count - start >= size else {
                throw reader.error(
                    "record[\(index)]", .truncated(needed: size, available: bytes.count - start), at: start)
            }
            // Read inside the record; an error's offset is then moved to the payload's.
            do throws(CharacteristicDecodeError) {
                records.append(try Self.record(Array(bytes[start..<(start + size)]), index: index))
            } catch {
                var moved = error
                moved.offset += start
                throw moved
            }
            _ = try reader.bytes(size - 1, "record[\(index)]")
        } while !reader.isAtEnd
        self.records = records
    }

    /// One record from its bytes (its Size first).
    static func record(_ recordBytes: [UInt8], index: Int) throws(CharacteristicDecodeError) -> CGMRecord {
        let size = recordBytes.count
        var inner = PayloadReader(recordBytes, characteristic: Self.name)
        _ = try inner.uint8("record[\(index)].size")
        let flags = try inner.uint8("record[\(index)].flags")
        var record = CGMRecord(
            glucose: try inner.sfloat("record[\(index)].cgm_glucose_concentration"),
            timeOffset: try inner.uint16("record[\(index)].time_offset"))
        record.reservedFlags = flags & ~Self.knownFlags
        var annunciation: UInt32 = 0
        if flags & 0x20 != 0 {
            record.warningOctetPresent = true
            annunciation |= UInt32(try inner.uint8("record[\(index)].warning_octet")) << 16
        }
        if flags & 0x40 != 0 {
            record.calTempOctetPresent = true
            annunciation |= UInt32(try inner.uint8("record[\(index)].cal_temp_octet")) << 8
        }
        if flags & 0x80 != 0 {
            record.statusOctetPresent = true
            annunciation |= UInt32(try inner.uint8("record[\(index)].status_octet"))
        }
        record.annunciation = CGMSensorStatus(rawValue: annunciation)
        record.trend = try flags & 0x01 != 0 ? inner.sfloat("record[\(index)].cgm_trend_information") : nil
        record.quality = try flags & 0x02 != 0 ? inner.sfloat("record[\(index)].cgm_quality") : nil
        if record.reservedFlags == 0, inner.remaining == 2 {
            try inner.cgmCRC(over: recordBytes, count: inner.offset)
            record.crcProtected = true
        } else if record.reservedFlags != 0, inner.remaining == 2,
            CGMCRC.compute(recordBytes.prefix(inner.offset)) == UInt16(recordBytes[size - 2]) | UInt16(
                recordBytes[size - 1]) << 8
        {
            record.crcProtected = true  // with a reserved bit set, two octets that check are still the CRC
        }
        if record.reservedFlags == 0, !inner.isAtEnd {
            throw inner.error("record[\(index)]", .trailingBytes(count: inner.remaining), at: inner.offset)
        }
        return record
    }

    public func encoded() -> [UInt8] { records.flatMap { $0.encoded() } }

    public var json: ExactJSON { .members([("records", .array(records.map(\.json)))]) }
}

/// CGM Feature (0x2AA8): what the sensor supports, its sample type and location.
public struct CGMFeature: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.cgmFeature
    public static let name = "CGM Feature"

    /// 24 feature bits (bit 12: E2E-CRC supported). Reserved bits 17-23 kept.
    public var features: UInt32
    /// Low nibble: type (1 capillary whole blood … 9 interstitial fluid, 10 control solution); high nibble: location.
    public var typeAndLocation: UInt8

    public init(features: UInt32, typeAndLocation: UInt8 = 0x59) {
        self.features = features & 0xFF_FFFF
        self.typeAndLocation = typeAndLocation
    }

    public static let e2eCRCSupported: UInt32 = 1 << 12
    public var supportsE2ECRC: Bool { features & Self.e2eCRCSupported != 0 }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        features = try reader.uint24("cgm_feature")
        typeAndLocation = try reader.uint8("type_sample_location")
        let crcOffset = reader.offset
        let crc = try reader.uint16("e2e_crc")
        if features & Self.e2eCRCSupported != 0 {
            let computed = CGMCRC.compute(bytes.prefix(4))
            guard crc == computed else {
                throw reader.error(
                    "e2e_crc",
                    .invalidValue(
                        "E2E-CRC 0x\(String(crc, radix: 16)) does not match the value (0x\(String(computed, radix: 16)))"
                    ), at: crcOffset)
            }
        }
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint24(features)
        writer.uint8(typeAndLocation)
        writer.uint16(supportsE2ECRC ? CGMCRC.compute(writer.bytes) : 0xFFFF)
        return writer.bytes
    }

    public var json: ExactJSON {
        .members([
            ("cgm_feature", .integer(features)), ("e2e_crc_supported", .bool(supportsE2ECRC)),
            ("type", .integer(typeAndLocation & 0x0F)), ("sample_location", .integer(typeAndLocation >> 4)),
        ])
    }
}

/// CGM Session Start Time (0x2AAA): when the session began on the sensor's clock, its zone and DST offset.
public struct CGMSessionStartTime: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.cgmSessionStartTime
    public static let name = "CGM Session Start Time"

    public var start: DateTime
    /// Quarter hours from UTC (-48…56); -128 unknown.
    public var timeZone: Int8
    /// 0 standard, 2 half an hour, 4 an hour, 8 two hours; 255 unknown.
    public var dstOffset: UInt8
    public var crcProtected: Bool

    public init(start: DateTime, timeZone: Int8, dstOffset: UInt8 = 0, crcProtected: Bool = false) {
        (self.start, self.timeZone, self.dstOffset, self.crcProtected) = (start, timeZone, dstOffset, crcProtected)
    }

    /// Minutes from UTC of the start time's wall clock, when both zone and DST are known.
    public var utcOffsetMinutes: Int? {
        guard timeZone != -128, dstOffset != 255 else { return nil }
        return Int(timeZone) * 15 + Int(dstOffset) * 15
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        start = try DateTime(reading: &reader, field: "session_start_time", reservedValues: .keep)
        timeZone = try reader.int8("time_zone")
        dstOffset = try reader.uint8("dst_offset")
        crcProtected = reader.remaining == 2
        if crcProtected { try reader.cgmCRC(over: bytes, count: 9) }
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        start.write(to: &writer)
        writer.int8(timeZone)
        writer.uint8(dstOffset)
        if crcProtected { writer.uint16(CGMCRC.compute(writer.bytes)) }
        return writer.bytes
    }

    public var json: ExactJSON {
        .members([
            ("session_start_time", start.json), ("time_zone", .integer(timeZone)), ("dst_offset", .integer(dstOffset)),
        ])
    }
}

/// CGM Specific Ops Control Point (0x2AAC): the few procedures the gateway uses — start and stop a session, set and
/// read the communication interval — and the sensor's answers.
public struct CGMSpecificOpsControlPoint: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.cgmSpecificOpsControlPoint
    public static let name = "CGM Specific Ops Control Point"

    public enum OpCode: UInt8, Sendable {
        case setCommunicationInterval = 0x01
        case getCommunicationInterval = 0x02
        case communicationIntervalResponse = 0x03
        case startSession = 0x1A
        case stopSession = 0x1B
        case responseCode = 0x1C
    }

    public var opCode: UInt8
    public var operand: [UInt8]
    public var crcProtected: Bool

    public init(_ opCode: OpCode, operand: [UInt8] = [], crcProtected: Bool = false) {
        (self.opCode, self.operand, self.crcProtected) = (opCode.rawValue, operand, crcProtected)
    }

    /// The answer to a request: (request op code, response code 1 success … 5 parameter out of range).
    public var response: (request: UInt8, code: UInt8)? {
        opCode == OpCode.responseCode.rawValue && operand.count >= 2 ? (operand[0], operand[1]) : nil
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        opCode = try reader.uint8("op_code")
        guard OpCode(rawValue: opCode) != nil || (0x04...0x19).contains(opCode) else {
            throw reader.error("op_code", .reservedValue(UInt64(opCode)), at: 0)
        }
        operand = try reader.bytes(reader.remaining, "operand")
        crcProtected = false
    }

    public func encoded() -> [UInt8] {
        var bytes = [opCode] + operand
        if crcProtected {
            let crc = CGMCRC.compute(bytes)
            bytes += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        }
        return bytes
    }

    /// The Response Code values (CGMS 3.6.2).
    public static func responseName(_ code: UInt8) -> String {
        switch code {
        case 1: "success"
        case 2: "op code not supported"
        case 3: "invalid operand"
        case 4: "procedure not completed"
        case 5: "parameter out of range"
        default: "reserved (\(code))"
        }
    }

    public var json: ExactJSON {
        if let response {
            return .members([
                ("op_code", .integer(opCode)), ("request_op_code", .integer(response.request)),
                ("response_code", .string(Self.responseName(response.code))),
            ])
        }
        if opCode == OpCode.communicationIntervalResponse.rawValue, let minutes = operand.first {
            return .members([("op_code", .integer(opCode)), ("communication_interval_minutes", .integer(minutes))])
        }
        return .members([("op_code", .integer(opCode)), ("operand", .string(HexBytes.text(operand)))])
    }

    /// A sensor's answer as sent, its E2E-CRC checked and removed when the sensor protects its values with one.
    public init(answer bytes: [UInt8], crcProtected: Bool) throws(CharacteristicDecodeError) {
        guard crcProtected else {
            try self.init(decoding: bytes)
            return
        }
        var reader = PayloadReader(bytes, characteristic: Self.name)
        guard bytes.count >= 3 else { throw reader.error("e2e_crc", .truncated(needed: 3, available: bytes.count)) }
        _ = try reader.bytes(bytes.count - 2, "op_code_and_operand")
        try reader.cgmCRC(over: bytes, count: bytes.count - 2)
        try self.init(decoding: Array(bytes.dropLast(2)))
        self.crcProtected = true
    }
}
