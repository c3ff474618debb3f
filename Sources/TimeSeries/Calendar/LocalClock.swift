/// The store's calendar speaks in `LocalDate` (a window's local day): whoever imports the store has it.
@_exported import CivilDate
import Foundation

/// The wall clock of one IANA time zone, read at UTC instants, and the windows of time it labels.
///
/// This is the gateway's one calendar: the store's windows (`WindowCalendar`), the summaries' hours and days, and
/// `$stats` intervals all come from here, so a day or an hour means the same instants everywhere.
///
/// One rule for calendar windows: a window of width W is labelled by the wall time it starts at — a multiple of W
/// counted from 1970-01-01 00:00 local — and begins at the first instant the zone's wall clock reads that label or
/// later. So a "day" in Asia/Tokyo starts at 00:00 JST, a day in Europe/Berlin lasts 23 or 25 hours across DST, a
/// wall time skipped by spring-forward opens no window, and the hour repeated by fall-back stays in the window
/// already open: the label never goes backwards, so every window has one label (the identity summaries are kept
/// and published under) and windows are contiguous (whole chunks are answered from their statistics when their
/// first and last samples share a window).
///
/// Measurement windows (`measurementWindow`) are different on purpose: a 5-minute window for resting heart rate or
/// HRV is five minutes of physical time, aligned to the wall clock.
public struct LocalClock: Sendable, Hashable {
    public static let microsPerDay: Int64 = 86_400_000_000
    public static let microsPerMinute: Int64 = 60_000_000

    public let timeZone: TimeZone
    let offsets: ZoneOffsets
    /// The zone's table as it was when the clock was made; instants outside it go to the shared, growing one.
    private let known: ZoneOffsets.Table

    public init(_ timeZone: TimeZone) {
        self.timeZone = timeZone
        offsets = ZoneOffsets.of(timeZone)
        known = offsets.snapshot()
    }

    /// Runs `body` over a table that covers `range`: the clock's own without a lock, else the shared one.
    private func withTable<R>(covering range: ClosedRange<Int64>, _ body: (borrowing ZoneOffsets.Table) -> R) -> R {
        known.covers(range) ? body(known) : offsets.withTable(covering: range, body)
    }

    public static func == (lhs: LocalClock, rhs: LocalClock) -> Bool { lhs.timeZone == rhs.timeZone }
    public func hash(into hasher: inout Hasher) { hasher.combine(timeZone) }

    /// The zone's offset from UTC at a UTC instant, in µs.
    public func offsetMicros(at utcMicros: Int64) -> Int64 {
        withTable(covering: utcMicros...utcMicros) { $0.offsets[$0.segment(containing: utcMicros)] }
    }

    /// The wall-clock reading at a UTC instant, as local µs since 1970-01-01 00:00.
    public func wallMicros(at utcMicros: Int64) -> Int64 { utcMicros &+ offsetMicros(at: utcMicros) }

    // MARK: Calendar windows

    /// The label (wall-clock start, local µs since 1970) of the window of `widthMicros` containing `t`.
    public func label(for t: Int64, widthMicros: Int64) -> Int64 {
        withTable(covering: t...t) { $0.maxLocal(t).dividedRoundingDown(by: widthMicros) * widthMicros }
    }

    /// The UTC instant the window labelled `label` starts: the first instant whose wall clock reads `label` or later.
    public func start(ofLabel label: Int64) -> Int64 {
        let margin = 2 * Self.microsPerDay
        return withTable(covering: (label &- margin)...(label &+ margin)) { $0.start(ofLabel: label) }
    }

    /// The window of `widthMicros` containing `t`: its label and its UTC half-open interval.
    public func window(containing t: Int64, widthMicros: Int64) -> (label: Int64, start: Int64, end: Int64) {
        let label = label(for: t, widthMicros: widthMicros)
        return (label, start(ofLabel: label), start(ofLabel: label &+ widthMicros))
    }

    // MARK: Days

    /// The local date of the day window containing a UTC instant.
    public func date(at utcMicros: Int64) -> LocalDate {
        LocalDate(daysSince1970: Int(label(for: utcMicros, widthMicros: Self.microsPerDay) / Self.microsPerDay))
    }

    /// The UTC instant `day` starts: the first instant the wall clock reads its midnight or later.
    public func start(of day: LocalDate) -> Int64 { start(ofLabel: Int64(day.daysSince1970) * Self.microsPerDay) }

    /// What the wall clock shows at a UTC instant: its date and the µs since that date's midnight (the time of day
    /// rules such as "morning" read; the repeated hour of a fall-back reads the same time of day twice).
    public func dateAndTime(at utcMicros: Int64) -> (date: LocalDate, microsOfDay: Int64) {
        let wall = wallMicros(at: utcMicros)
        let day = wall.dividedRoundingDown(by: Self.microsPerDay)
        return (LocalDate(daysSince1970: Int(day)), wall - day * Self.microsPerDay)
    }

    // MARK: Measurement windows

    /// The window of `widthMicros` of physical time containing a UTC instant, aligned to the local wall clock (a
    /// 5-minute window starts at hh:00, hh:05, … local). The hour repeated by fall-back holds two distinct windows
    /// labelled 02:00–02:05, never one 65-minute window. Windows stay a partition of time as long as the width
    /// divides every offset change of the zone (15 minutes divides all current ones).
    public func measurementWindow(containing utcMicros: Int64, widthMicros: Int64) -> MeasurementWindow {
        let wall = wallMicros(at: utcMicros)
        let intoWindow = wall - wall.dividedRoundingDown(by: widthMicros) * widthMicros
        let localStart = wall - intoWindow
        return MeasurementWindow(
            startMicros: utcMicros - intoWindow, endMicros: utcMicros - intoWindow + widthMicros,
            localStartMicros: localStart,
            day: LocalDate(daysSince1970: Int(localStart.dividedRoundingDown(by: Self.microsPerDay))))
    }
}

/// A window of physical time that starts on a local wall-clock boundary.
public struct MeasurementWindow: Hashable, Sendable {
    /// UTC µs, half-open [start, end).
    public var startMicros: Int64
    public var endMicros: Int64
    /// The wall-clock reading at the start, in local µs since 1970-01-01 00:00 (the window's label).
    public var localStartMicros: Int64
    /// The local date the window starts on.
    public var day: LocalDate
}

extension ZoneOffsets.Table {
    /// The highest wall-clock reading seen up to `t` (wall time never goes backwards for windowing).
    func maxLocal(_ t: Int64) -> Int64 { maxLocal(t, segment: segment(containing: t)) }

    private func maxLocal(_ t: Int64, segment i: Int) -> Int64 {
        var local = t &+ offsets[i]
        if i > 0 && offsets[i - 1] > offsets[i] {
            local = max(local, starts[i] - 1 + offsets[i - 1])
        }
        return local
    }

    /// The first instant whose highest wall-clock reading is `label` or later. Offsets lie within ±26 hours, so the
    /// search starts at the segment two days before.
    func start(ofLabel label: Int64) -> Int64 {
        for i in segment(containing: label &- 2 * ZoneOffsets.microsPerDay)..<starts.count {
            let segmentEnd = i + 1 < starts.count ? starts[i + 1] : Int64.max
            let candidate = max(starts[i], label &- offsets[i])
            if candidate < segmentEnd && maxLocal(candidate, segment: i) >= label {
                return i > 0 && maxLocal(starts[i], segment: i) >= label ? starts[i] : candidate
            }
        }
        return label &- offsets[offsets.count - 1]
    }
}
