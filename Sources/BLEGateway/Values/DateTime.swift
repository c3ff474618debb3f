import Provenance

/// The Date Time characteristic (0x2A08) and the 7-byte field of that shape inside BP, glucose and CTS.
///
/// It carries no time zone: it is the device's wall clock, so it is Provenance's `DeviceWallClock` — the one
/// wall-clock type, which a reading's time provenance records as it was sent. Year, month and day may each be
/// "not known" (0), and that stays `nil`: a device that never had its clock set does not claim to measure in year 0.
public typealias DateTime = DeviceWallClock

extension DeviceWallClock: CharacteristicValue {
    public static let uuid = BluetoothUUID.dateTime
    public static let name = "Date Time"

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        self = try DeviceWallClock(reading: &reader, field: "date_time")
        try reader.finish()
    }

    /// Reads the 7-byte field at the reader's offset; errors name `field`'s sub-fields ("time_stamp.month").
    ///
    /// `reservedValues: .refuse` (a request's operand, the Date Time characteristic) refuses a component outside its
    /// range. `.keep` (a measurement's time stamp) keeps the values as sent — month 13 stays 13, re-encoded exactly —
    /// because the Bluetooth rule is that a reserved value does not discard the structure: the measurement is kept,
    /// and the time rules refuse the stamp (`isValid` is false) so the reading takes its receive time, flagged.
    public init(
        reading reader: inout PayloadReader, field: String, reservedValues: ReservedValues = .refuse
    ) throws(CharacteristicDecodeError) {
        let strict = reservedValues == .refuse
        let yearOffset = reader.offset
        let rawYear = Int(try reader.uint16(field + ".year"))
        guard !strict || rawYear == 0 || (1582...9999).contains(rawYear) else {
            throw reader.error(field + ".year", .reservedValue(UInt64(rawYear)), at: yearOffset)
        }
        let rawMonth = try Self.component(&reader, field + ".month", range: 0...12, strict: strict)
        let rawDay = try Self.component(&reader, field + ".day", range: 0...31, strict: strict)
        let hour = try Self.component(&reader, field + ".hours", range: 0...23, strict: strict)
        let minute = try Self.component(&reader, field + ".minutes", range: 0...59, strict: strict)
        let second = try Self.component(&reader, field + ".seconds", range: 0...59, strict: strict)
        self.init(
            year: rawYear == 0 ? nil : rawYear, month: rawMonth == 0 ? nil : rawMonth, day: rawDay == 0 ? nil : rawDay,
            hour: hour, minute: minute, second: second)
    }

    /// What a decoder does with a component outside its range.
    public enum ReservedValues: Sendable { case refuse, keep }

    /// Every component within the range the specification gives it (a kept stamp may hold reserved values).
    public var isValid: Bool {
        (year.map { (1582...9999).contains($0) } ?? true) && (month.map { (1...12).contains($0) } ?? true)
            && (day.map { (1...31).contains($0) } ?? true) && (0...23).contains(hour) && (0...59).contains(minute)
            && (0...59).contains(second)
    }

    private static func component(
        _ reader: inout PayloadReader, _ field: String, range: ClosedRange<Int>, strict: Bool
    ) throws(CharacteristicDecodeError) -> Int {
        let offset = reader.offset
        let value = Int(try reader.uint8(field))
        guard !strict || range.contains(value) else {
            throw reader.error(field, .reservedValue(UInt64(value)), at: offset)
        }
        return value
    }

    public func write(to writer: inout PayloadWriter) {
        writer.uint16(UInt16(year ?? 0))
        writer.uint8(UInt8(month ?? 0))
        writer.uint8(UInt8(day ?? 0))
        writer.uint8(UInt8(hour))
        writer.uint8(UInt8(minute))
        writer.uint8(UInt8(second))
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        write(to: &writer)
        return writer.bytes
    }

    public var json: ExactJSON {
        .members([
            ("year", year.map { .integer($0) } ?? .string("not known")),
            ("month", month.map { .integer($0) } ?? .string("not known")),
            ("day", day.map { .integer($0) } ?? .string("not known")),
            ("hours", .integer(hour)),
            ("minutes", .integer(minute)),
            ("seconds", .integer(second)),
        ])
    }
}
