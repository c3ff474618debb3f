import Provenance

/// The Date Time characteristic (0x2A08) and the 7-byte field of that shape inside BP, glucose and CTS.
///
/// It carries no time zone: it is the device's wall clock. Year, month and day may each be "not known" (0),
/// and that stays `nil` — a device that never had its clock set does not claim to measure in year 0.
public struct DateTime: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.dateTime
    public static let name = "Date Time"

    /// 1582...9999, or nil when the device says "year is not known".
    public var year: Int?
    /// 1...12, or nil when not known.
    public var month: Int?
    /// 1...31, or nil when not known.
    public var day: Int?
    public var hours: Int
    public var minutes: Int
    public var seconds: Int

    public init(year: Int?, month: Int?, day: Int?, hours: Int, minutes: Int, seconds: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.hours = hours
        self.minutes = minutes
        self.seconds = seconds
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        self = try DateTime(reading: &reader, field: "date_time")
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
        hours = try Self.component(&reader, field + ".hours", range: 0...23, strict: strict)
        minutes = try Self.component(&reader, field + ".minutes", range: 0...59, strict: strict)
        seconds = try Self.component(&reader, field + ".seconds", range: 0...59, strict: strict)
        year = rawYear == 0 ? nil : rawYear
        month = rawMonth == 0 ? nil : rawMonth
        day = rawDay == 0 ? nil : rawDay
    }

    /// What a decoder does with a component outside its range.
    public enum ReservedValues: Sendable { case refuse, keep }

    /// Every component within the range the specification gives it (a kept stamp may hold reserved values).
    public var isValid: Bool {
        (year.map { (1582...9999).contains($0) } ?? true) && (month.map { (1...12).contains($0) } ?? true)
            && (day.map { (1...31).contains($0) } ?? true) && (0...23).contains(hours) && (0...59).contains(minutes)
            && (0...59).contains(seconds)
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
        writer.uint8(UInt8(hours))
        writer.uint8(UInt8(minutes))
        writer.uint8(UInt8(seconds))
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        write(to: &writer)
        return writer.bytes
    }

    /// True when year, month and day are all known — only then can the value name an instant.
    public var isComplete: Bool { year != nil && month != nil && day != nil }

    /// "2026-11-21T08:30:05" (no zone: it is the device's wall clock); unknown parts print as "????"/"??".
    public var isoText: String {
        func two(_ value: Int?) -> String {
            guard let value else { return "??" }
            return value < 10 ? "0\(value)" : "\(value)"
        }
        let yearText = year.map { String(repeating: "0", count: max(0, 4 - String($0).count)) + String($0) } ?? "????"
        return "\(yearText)-\(two(month))-\(two(day))T\(two(hours)):\(two(minutes)):\(two(seconds))"
    }

    public var json: ExactJSON {
        .members([
            ("year", year.map { .integer($0) } ?? .string("not known")),
            ("month", month.map { .integer($0) } ?? .string("not known")),
            ("day", day.map { .integer($0) } ?? .string("not known")),
            ("hours", .integer(hours)),
            ("minutes", .integer(minutes)),
            ("seconds", .integer(seconds)),
        ])
    }
}
