import Provenance

// Current Time Service and Battery Service characteristics, as laid out in the GATT Specification Supplement:
// Current Time = Exact Time 256 (Day Date Time: Date Time + Day of Week; Fractions256) + Adjust Reason; Local
// Time Information = Time Zone (sint8, 15-minute steps, -48...56, -128 unknown) + DST Offset (0, 2, 4, 8, 255
// unknown); Battery Level = uint8 percent, 0...100.

/// Current Time (0x2A2B): the device's own clock as it reports it. Read next to the gateway's receive time, it
/// is the evidence for how far the device clock is off (DESIGN.md rule 2); it carries no time zone.
public struct CurrentTime: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.currentTime
    public static let name = "Current Time"

    /// Day of Week: 1 Monday … 7 Sunday; 0 ("not known") is nil, 8-255 are reserved and refused.
    public enum DayOfWeek: UInt8, Hashable, Sendable, CaseIterable {
        case monday = 1
        case tuesday = 2
        case wednesday = 3
        case thursday = 4
        case friday = 5
        case saturday = 6
        case sunday = 7

        var displayName: String {
            switch self {
            case .monday: "Monday"
            case .tuesday: "Tuesday"
            case .wednesday: "Wednesday"
            case .thursday: "Thursday"
            case .friday: "Friday"
            case .saturday: "Saturday"
            case .sunday: "Sunday"
            }
        }
    }

    /// Why the clock last changed. Bits 4-7 are reserved and refused: this is a flags field whose future bits
    /// we could not interpret, and a misread adjustment would misstate the clock's history.
    public struct AdjustReason: Hashable, Sendable {
        static let knownBits: UInt64 = 0x0F

        public var manualTimeUpdate: Bool
        public var externalReferenceTimeUpdate: Bool
        public var changeOfTimeZone: Bool
        public var changeOfDST: Bool

        public init(
            manualTimeUpdate: Bool = false, externalReferenceTimeUpdate: Bool = false, changeOfTimeZone: Bool = false,
            changeOfDST: Bool = false
        ) {
            self.manualTimeUpdate = manualTimeUpdate
            self.externalReferenceTimeUpdate = externalReferenceTimeUpdate
            self.changeOfTimeZone = changeOfTimeZone
            self.changeOfDST = changeOfDST
        }

        public var rawValue: UInt8 {
            (manualTimeUpdate ? 0x01 : 0) | (externalReferenceTimeUpdate ? 0x02 : 0) | (changeOfTimeZone ? 0x04 : 0)
                | (changeOfDST ? 0x08 : 0)
        }

        var json: ExactJSON {
            .members([
                ("manual_time_update", .bool(manualTimeUpdate)),
                ("external_reference_time_update", .bool(externalReferenceTimeUpdate)),
                ("change_of_time_zone", .bool(changeOfTimeZone)),
                ("change_of_dst", .bool(changeOfDST)),
            ])
        }
    }

    public var dateTime: DateTime
    /// nil when the device says the day of week is not known.
    public var dayOfWeek: DayOfWeek?
    /// 1/256 s since the start of the second.
    public var fractions256: UInt8
    public var adjustReason: AdjustReason

    public init(
        dateTime: DateTime, dayOfWeek: DayOfWeek?, fractions256: UInt8 = 0, adjustReason: AdjustReason = .init()
    ) {
        self.dateTime = dateTime
        self.dayOfWeek = dayOfWeek
        self.fractions256 = fractions256
        self.adjustReason = adjustReason
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        dateTime = try DateTime(reading: &reader, field: "date_time")
        let dayOffset = reader.offset
        let day = try reader.uint8("day_of_week")
        if day == 0 {
            dayOfWeek = nil
        } else if let known = DayOfWeek(rawValue: day) {
            dayOfWeek = known
        } else {
            throw reader.error("day_of_week", .reservedValue(UInt64(day)), at: dayOffset)
        }
        fractions256 = try reader.uint8("fractions256")
        let reasonOffset = reader.offset
        let reason = try reader.uint8("adjust_reason")
        try reader.checkReservedBits(
            UInt64(reason), allowed: AdjustReason.knownBits, field: "adjust_reason", at: reasonOffset)
        adjustReason = AdjustReason(
            manualTimeUpdate: reason & 0x01 != 0, externalReferenceTimeUpdate: reason & 0x02 != 0,
            changeOfTimeZone: reason & 0x04 != 0, changeOfDST: reason & 0x08 != 0)
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        dateTime.write(to: &writer)
        writer.uint8(dayOfWeek?.rawValue ?? 0)
        writer.uint8(fractions256)
        writer.uint8(adjustReason.rawValue)
        return writer.bytes
    }

    /// The fraction of the second as an exact decimal (fractions256 / 256), e.g. "0.5" for 128.
    public var fractionSeconds: String {
        CharacteristicFormatting.text(mantissa: Int64(fractions256) * 390_625, exponent: -8)
    }

    public var json: ExactJSON {
        .members([
            ("date_time", dateTime.json),
            ("day_of_week", .string(dayOfWeek?.displayName ?? "not known")),
            ("fractions256", .integer(fractions256)),
            ("fraction_seconds", .number(fractionSeconds)),
            ("adjust_reason", adjustReason.json),
        ])
    }
}

/// Local Time Information (0x2A0F): the device's idea of its time zone and daylight-saving offset, which turns
/// its zone-less wall clock into an instant — when it is known.
public struct LocalTimeInformation: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.localTimeInformation
    public static let name = "Local Time Information"
    /// The valid time zones in 15-minute steps (UTC-12:00 … UTC+14:00); -128 means "not known".
    public static let timeZoneRange: ClosedRange<Int8> = -48...56

    /// The DST offset; 255 ("not known") is nil, values other than these are reserved and refused.
    public enum DSTOffset: UInt8, Hashable, Sendable, CaseIterable {
        case standardTime = 0
        case halfAnHourDaylightTime = 2
        case daylightTime = 4
        case doubleDaylightTime = 8

        /// The offset added to standard time, in minutes.
        public var minutes: Int { Int(rawValue) * 15 }

        var displayName: String {
            switch self {
            case .standardTime: "standard time"
            case .halfAnHourDaylightTime: "half an hour daylight time (+0.5h)"
            case .daylightTime: "daylight time (+1h)"
            case .doubleDaylightTime: "double daylight time (+2h)"
            }
        }
    }

    /// The standard-time offset from UTC in 15-minute steps (−48…56), or nil when the device does not know it.
    public var timeZone: Int8?
    /// nil when the device does not know its DST offset.
    public var dstOffset: DSTOffset?

    public init(timeZone: Int8?, dstOffset: DSTOffset?) {
        self.timeZone = timeZone
        self.dstOffset = dstOffset
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let zone = try reader.int8("time_zone")
        if zone == -128 {
            timeZone = nil
        } else if Self.timeZoneRange.contains(zone) {
            timeZone = zone
        } else {
            throw reader.error("time_zone", .reservedValue(UInt64(UInt8(bitPattern: zone))), at: 0)
        }
        let dst = try reader.uint8("dst_offset")
        if dst == 255 {
            dstOffset = nil
        } else if let known = DSTOffset(rawValue: dst) {
            dstOffset = known
        } else {
            throw reader.error("dst_offset", .reservedValue(UInt64(dst)), at: 1)
        }
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.int8(timeZone ?? -128)
        writer.uint8(dstOffset?.rawValue ?? 255)
        return writer.bytes
    }

    /// The standard-time offset from UTC in minutes, when known.
    public var standardOffsetMinutes: Int? { timeZone.map { Int($0) * 15 } }

    /// Standard offset plus DST offset in minutes: the local time's offset from UTC, when both are known.
    public var utcOffsetMinutes: Int? {
        guard let standard = standardOffsetMinutes, let dstOffset else { return nil }
        return standard + dstOffset.minutes
    }

    static func offsetText(minutes: Int) -> String {
        let sign = minutes < 0 ? "-" : "+"
        let hours = abs(minutes) / 60
        let rest = abs(minutes) % 60
        return sign + (hours < 10 ? "0" : "") + String(hours) + ":" + (rest < 10 ? "0" : "") + String(rest)
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("time_zone", timeZone.map { .integer($0) } ?? .string("not known")),
            ("dst_offset", .string(dstOffset?.displayName ?? "not known")),
        ]
        if let standardOffsetMinutes {
            members.append(("standard_utc_offset", .string(Self.offsetText(minutes: standardOffsetMinutes))))
        }
        if let utcOffsetMinutes { members.append(("utc_offset", .string(Self.offsetText(minutes: utcOffsetMinutes)))) }
        return .members(members)
    }
}

/// Battery Level (0x2A19): charge in percent — a device about to die may stop keeping its stored readings.
public struct BatteryLevel: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.batteryLevel
    public static let name = "Battery Level"

    /// 0...100.
    public let percent: UInt8

    /// nil outside 0...100.
    public init?(percent: Int) {
        guard (0...100).contains(percent) else { return nil }
        self.percent = UInt8(percent)
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let raw = try reader.uint8("battery_level")
        guard raw <= 100 else { throw reader.error("battery_level", .reservedValue(UInt64(raw)), at: 0) }
        try reader.finish()
        percent = raw
    }

    public func encoded() -> [UInt8] { [percent] }

    public var json: ExactJSON { .members([("battery_level", .integer(percent))]) }
}
