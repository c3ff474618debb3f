import Provenance

/// CGM Status (0x2AA9, read): the sensor's state now — the Time Offset it has reached in the session and its Sensor
/// Status Annunciation (Status, Cal/Temp and Warning octets, as a record carries them) — with the E2E-CRC when the
/// sensor supports it. Read once per connection: a stopped session or a failing sensor is said before any record.
public struct CGMStatus: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.cgmStatus
    public static let name = "CGM Status"

    /// Minutes since the session started.
    public var timeOffset: UInt16
    public var status: CGMSensorStatus
    public var crcProtected: Bool

    public init(timeOffset: UInt16, status: CGMSensorStatus = [], crcProtected: Bool = false) {
        (self.timeOffset, self.status, self.crcProtected) = (timeOffset, status, crcProtected)
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        timeOffset = try reader.uint16("time_offset")
        // Status (bits 0-7), Cal/Temp (8-15), Warning (16-23): the 24 bits little-endian, reserved bits kept.
        status = CGMSensorStatus(rawValue: try reader.uint24("cgm_status"))
        crcProtected = reader.remaining == 2
        if crcProtected { try reader.cgmCRC(over: bytes, count: 5) }
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint16(timeOffset)
        writer.uint24(status.rawValue)
        if crcProtected { writer.uint16(CGMCRC.compute(writer.bytes)) }
        return writer.bytes
    }

    public var json: ExactJSON {
        .members([("time_offset_minutes", .integer(timeOffset)), ("cgm_status", status.json)])
    }
}

/// CGM Session Run Time (0x2AAB, read): how many hours the sensor's session is expected to run (its wear time), with
/// the E2E-CRC when supported. With the Session Start Time it says when the sensor is due to be replaced.
public struct CGMSessionRunTime: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.cgmSessionRunTime
    public static let name = "CGM Session Run Time"

    public var hours: UInt16
    public var crcProtected: Bool

    public init(hours: UInt16, crcProtected: Bool = false) {
        (self.hours, self.crcProtected) = (hours, crcProtected)
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        hours = try reader.uint16("cgm_session_run_time")
        crcProtected = reader.remaining == 2
        if crcProtected { try reader.cgmCRC(over: bytes, count: 2) }
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint16(hours)
        if crcProtected { writer.uint16(CGMCRC.compute(writer.bytes)) }
        return writer.bytes
    }

    public var json: ExactJSON { .members([("session_run_time_hours", .integer(hours))]) }
}
