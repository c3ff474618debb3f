import Foundation
import Synchronization

/// Why a summary could not be set up. Each case names what was wrong (DESIGN.md rule 8).
public enum SummaryError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownTimeZone(String)
    case invalidTimeOfDay(String)
    case invalidWindow(String)

    public var description: String {
        switch self {
        case .unknownTimeZone(let id): "unknown IANA time zone \"\(id)\""
        case .invalidTimeOfDay(let text): "invalid time of day \"\(text)\" (expected HH:MM, 00:00–23:59)"
        case .invalidWindow(let why): "invalid summary window: \(why)"
        }
    }
}

/// A calendar date on a wall clock (no zone, no time): days since 1970-01-01, proleptic Gregorian.
///
/// Pure integer arithmetic (H. Hinnant's civil-date algorithms) so a date never depends on `Calendar`'s locale
/// or on floating point.
public struct LocalDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let daysSince1970: Int

    public init(daysSince1970: Int) { self.daysSince1970 = daysSince1970 }

    /// nil unless year-month-day names a real date (2026-02-30 is refused, not rolled over).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let candidate = LocalDate(daysSince1970: era * 146_097 + doe - 719_468)
        guard candidate.year == year, candidate.month == month, candidate.day == day else { return nil }
        self = candidate
    }

    /// Parses "YYYY-MM-DD".
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2])
        else { return nil }
        self.init(year: y, month: m, day: d)
    }

    private var civil: (year: Int, month: Int, day: Int) {
        let z = daysSince1970 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public var year: Int { civil.year }
    public var month: Int { civil.month }
    public var day: Int { civil.day }

    public func adding(days: Int) -> LocalDate { LocalDate(daysSince1970: daysSince1970 + days) }

    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool { lhs.daysSince1970 < rhs.daysSince1970 }

    /// "2026-10-25".
    public var description: String {
        let c = civil
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n.magnitude)
            return (n < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))"
    }
}

/// A window of physical time that starts on a local wall-clock boundary.
public struct SummaryWindow: Hashable, Sendable {
    /// UTC µs, half-open [start, end).
    public var startMicros: Int64
    public var endMicros: Int64
    /// The wall-clock reading at the start, in local µs since 1970-01-01 00:00 (the window's label).
    public var localStartMicros: Int64
    /// The local date the window starts on.
    public var day: LocalDate
}

/// The wall clock of one IANA time zone, read at UTC instants.
///
/// Summaries are about a person's day, so they use what the clock on that person's wall showed: a reading
/// belongs to the date and time of day the zone's wall clock read at that instant. A local day is therefore every
/// instant whose wall clock shows that date — 23 hours on a spring-forward day, 25 on a fall-back day — and a
/// wall time repeated by fall-back is the same time of day both times. (This agrees with TimeSeries'
/// `WindowCalendar` daily windows except where a zone turns its clocks back across midnight: there the wall
/// clock shows the earlier date again and so do we, so a reading taken "at 23:30" belongs to that evening.)
public struct LocalClock: Sendable, Hashable {
    public static let microsPerDay: Int64 = 86_400_000_000
    public static let microsPerMinute: Int64 = 60_000_000

    public let timeZone: TimeZone
    /// The offset last looked up and the span of instants it holds for: summaries read the clock once per sample
    /// (a day of a strap is ~200,000 readings), and asking the zone each time was most of a day summary's cost.
    private let lastSpan = OffsetSpanCache()

    public init(_ timeZone: TimeZone) { self.timeZone = timeZone }

    /// A zone by IANA identifier ("Europe/Berlin", "Asia/Tokyo"); an unknown identifier is an error, never UTC.
    public init(identifier: String) throws(SummaryError) {
        guard let zone = TimeZone(identifier: identifier) else { throw .unknownTimeZone(identifier) }
        timeZone = zone
    }

    public static func == (lhs: LocalClock, rhs: LocalClock) -> Bool { lhs.timeZone == rhs.timeZone }
    public func hash(into hasher: inout Hasher) { hasher.combine(timeZone) }

    /// The zone's offset from UTC at a UTC instant, in µs. Offsets change on whole seconds, so the instant is
    /// taken to its second (integer division; the Double below holds whole seconds exactly).
    public func offsetMicros(at utcMicros: Int64) -> Int64 {
        let seconds = SummaryMath.floorDiv(utcMicros, 1_000_000)
        if let cached = lastSpan.offset(at: seconds) { return cached }
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        let offset = Int64(timeZone.secondsFromGMT(for: date)) * 1_000_000
        // Valid until the zone's next transition, and at most an hour: a change of a zone's standard offset is not a
        // daylight-saving transition, so it is caught within the hour.
        let next = timeZone.nextDaylightSavingTimeTransition(after: date).map {
            Int64($0.timeIntervalSince1970.rounded(.down))
        }
        lastSpan.remember(seconds..<min(next ?? .max, seconds + 3_600), offset: offset)
        return offset
    }

    /// The wall-clock reading at a UTC instant, as local µs since 1970-01-01 00:00.
    public func wallMicros(at utcMicros: Int64) -> Int64 { utcMicros &+ offsetMicros(at: utcMicros) }

    /// The local date at a UTC instant.
    public func date(at utcMicros: Int64) -> LocalDate {
        LocalDate(daysSince1970: Int(SummaryMath.floorDiv(wallMicros(at: utcMicros), Self.microsPerDay)))
    }

    /// The UTC instant the wall clock shows midnight starting `day` (the offset read where that instant is, so a
    /// change of offset the evening before is taken into account).
    public func start(of day: LocalDate) -> Int64 {
        let wall = Int64(day.daysSince1970) * Self.microsPerDay
        return wall - offsetMicros(at: wall - offsetMicros(at: wall))
    }

    /// The local date and the µs since local midnight on the wall clock at a UTC instant.
    public func dateAndTime(at utcMicros: Int64) -> (date: LocalDate, microsOfDay: Int64) {
        let wall = wallMicros(at: utcMicros)
        let day = SummaryMath.floorDiv(wall, Self.microsPerDay)
        return (LocalDate(daysSince1970: Int(day)), wall - day * Self.microsPerDay)
    }

    /// The window of `widthMicros` containing a UTC instant, aligned to the local wall clock (a 5-minute window
    /// starts at hh:00, hh:05, … local). It is `widthMicros` of physical time, so the hour repeated by fall-back
    /// holds two distinct windows labelled 02:00–02:05, never one 10-minute window. Windows stay a partition of
    /// time as long as the width divides every offset change of the zone (15 minutes divides all current ones).
    public func window(containing utcMicros: Int64, widthMicros: Int64) -> SummaryWindow {
        let wall = wallMicros(at: utcMicros)
        let intoWindow = wall - SummaryMath.floorDiv(wall, widthMicros) * widthMicros
        let localStart = wall - intoWindow
        return SummaryWindow(
            startMicros: utcMicros - intoWindow, endMicros: utcMicros - intoWindow + widthMicros,
            localStartMicros: localStart,
            day: LocalDate(daysSince1970: Int(SummaryMath.floorDiv(localStart, Self.microsPerDay))))
    }
}

/// The one span of constant UTC offset a `LocalClock` saw last (shared by its copies; a lock, since summaries run on
/// any thread).
final class OffsetSpanCache: Sendable {
    private let span = Mutex<(seconds: Range<Int64>, offset: Int64)?>(nil)

    func offset(at seconds: Int64) -> Int64? {
        span.withLock { span in span.flatMap { $0.seconds.contains(seconds) ? $0.offset : nil } }
    }

    func remember(_ seconds: Range<Int64>, offset: Int64) { span.withLock { $0 = (seconds, offset) } }
}
