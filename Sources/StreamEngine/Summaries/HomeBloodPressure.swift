import Provenance
import TimeSeries

/// A daily window on the local wall clock, [start, end). An end at or before the start runs past midnight and
/// belongs to the day it started on: the evening 18:00–02:00 of 24 October ends at 02:00 on the 25th.
public struct DayPart: Hashable, Sendable, CustomStringConvertible {
    /// Minutes after local midnight, 0..<1440.
    public let startMinute: Int
    public let endMinute: Int

    public init(startMinute: Int, endMinute: Int) throws(SummaryError) {
        guard (0..<1440).contains(startMinute), (0..<1440).contains(endMinute) else {
            throw .invalidWindow("day part minutes must be 0..<1440, got \(startMinute)–\(endMinute)")
        }
        guard startMinute != endMinute else { throw .invalidWindow("day part is empty (starts where it ends)") }
        self.startMinute = startMinute
        self.endMinute = endMinute
    }

    /// From "HH:MM" texts as a configuration file writes them: `DayPart(start: "18:00", end: "02:00")`.
    public init(start: String, end: String) throws(SummaryError) {
        try self.init(startMinute: Self.minute(start), endMinute: Self.minute(end))
    }

    private init(unchecked start: Int, _ end: Int) {
        startMinute = start
        endMinute = end
    }

    private static func minute(_ text: String) throws(SummaryError) -> Int {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
            (0..<24).contains(h), (0..<60).contains(m)
        else { throw .invalidTimeOfDay(text) }
        return h * 60 + m
    }

    /// Whose window holds wall-clock time `microsOfDay` on `date`: that date, the day before (after midnight in a
    /// window that crosses it), or nil.
    public func owningDay(of date: LocalDate, microsOfDay: Int64) -> LocalDate? {
        let start = Int64(startMinute) * LocalClock.microsPerMinute
        let end = Int64(endMinute) * LocalClock.microsPerMinute
        if start < end { return (start..<end).contains(microsOfDay) ? date : nil }
        if microsOfDay >= start { return date }
        return microsOfDay < end ? date.adding(days: -1) : nil
    }

    public var description: String {
        func hhmm(_ m: Int) -> String {
            (m / 60 < 10 ? "0" : "") + "\(m / 60):" + (m % 60 < 10 ? "0" : "") + "\(m % 60)"
        }
        return "\(hhmm(startMinute))–\(hhmm(endMinute))"
    }

    /// Defaults. Guidelines define the home-BP sessions by the person's day, not the clock: JSH 2019 (Umemura et
    /// al., Hypertens Res 2019;42:1235) — and the KSH 2018 guideline after it — measure in the morning within 1 h
    /// of waking, after urination, before breakfast and before antihypertensive drugs, and in the evening before
    /// going to bed; ESH 2021 (Stergiou et al., J Hypertens 2021;39:1293; Parati et al., J Hypertens
    /// 2021;39:1742) measures in the morning before drug intake and in the evening before dinner, in duplicate, for
    /// 7 days (at least 3). A gateway does not know when someone wakes or eats, so the defaults are clock windows
    /// wide enough for those instructions: morning 04:00–11:00 (wake-ups from 04:00 to 10:00 plus the hour),
    /// evening 18:00–02:00 (before dinner through a late bedtime). Shift workers need their own windows.
    public static let defaultMorning = DayPart(unchecked: 4 * 60, 11 * 60)
    public static let defaultEvening = DayPart(unchecked: 18 * 60, 2 * 60)
}

/// The morning and evening windows of home blood-pressure monitoring.
public struct DayPartWindows: Hashable, Sendable {
    public var morning: DayPart
    public var evening: DayPart

    public init(morning: DayPart = .defaultMorning, evening: DayPart = .defaultEvening) {
        self.morning = morning
        self.evening = evening
    }

    public static let standard = DayPartWindows()
}

/// Mean systolic and diastolic pressure of a set of readings, with how many were used and left out.
public struct BloodPressureMean: Hashable, Sendable {
    public var systolic: DecimalValue?
    public var diastolic: DecimalValue?
    /// Clean readings in the mean.
    public var count: Int
    /// The first and last clean reading, UTC µs (the effective period of the average).
    public var firstMicros: Int64?
    public var lastMicros: Int64?
    public var excluded: ExclusionCount
}

/// One local day of home monitoring.
public struct HomeBloodPressureDay: Hashable, Sendable {
    public var day: LocalDate
    public var morning: BloodPressureMean
    public var evening: BloodPressureMean
    /// Readings whose wall-clock date is this day but that fall in neither window (clean or not): counted, so a
    /// reading never vanishes from a summary without a trace.
    public var outsideWindows: Int
}

/// The HL7 "average self-measured blood pressure" (CardX hypertension IG, profile AverageSMBP; LOINC 96607-7
/// panel, 96608-5 mean systolic, 96609-3 mean diastolic): the means, the number of measurements, and the period.
public struct SelfMeasuredBloodPressureAverage: Hashable, Sendable {
    /// The local days covered, inclusive.
    public var from: LocalDate
    public var through: LocalDate
    public var mean: BloodPressureMean
    /// Days among them with at least one clean reading (ESH asks for at least 3 of 7).
    public var daysWithReadings: Int
}

/// Home blood pressure by local day: morning and evening means, and the average over the last days.
///
/// A reading counts when it has both pressures and none of the `excluding` flags (by default
/// `ReadingFlags.doubtful`: body movement, cuff too loose, irregular pulse, improper position, test data, …);
/// the others are counted by reason in each mean's `excluded`. Means are exact and rounded half to even at
/// `places` decimal places (default 1: 120.8 mmHg).
public struct HomeBloodPressureSummary: Sendable {
    public var clock: LocalClock
    public var windows: DayPartWindows
    public var excluding: ReadingFlags
    public var places: Int

    public init(
        clock: LocalClock, windows: DayPartWindows = .standard, excluding: ReadingFlags = .doubtful, places: Int = 1
    ) {
        self.clock = clock
        self.windows = windows
        self.excluding = excluding
        self.places = places
    }

    /// Morning and evening means for every local day that has a reading in either window or outside both.
    public func days(_ points: [BloodPressurePoint]) -> [HomeBloodPressureDay] {
        var mornings: [LocalDate: PressureAccumulator] = [:]
        var evenings: [LocalDate: PressureAccumulator] = [:]
        var outside: [LocalDate: Int] = [:]
        for point in points {
            let (date, time) = clock.dateAndTime(at: point.micros)
            let morning = windows.morning.owningDay(of: date, microsOfDay: time)
            let evening = windows.evening.owningDay(of: date, microsOfDay: time)
            if let morning { mornings[morning, default: PressureAccumulator()].add(point, excluding: excluding) }
            if let evening { evenings[evening, default: PressureAccumulator()].add(point, excluding: excluding) }
            if morning == nil && evening == nil { outside[date, default: 0] += 1 }
        }
        let days = Set(mornings.keys).union(evenings.keys).union(outside.keys).sorted()
        return days.map { day in
            HomeBloodPressureDay(
                day: day,
                morning: (mornings[day] ?? PressureAccumulator()).result(places: places),
                evening: (evenings[day] ?? PressureAccumulator()).result(places: places),
                outsideWindows: outside[day, default: 0])
        }
    }

    /// The mean of every clean reading whose wall-clock date is one of the `days` local days ending with
    /// `endingAt` (whatever the time of day), with the number of readings and the days that had one.
    /// `days` below 1 is taken as 1.
    public func average(_ points: [BloodPressurePoint], endingAt end: LocalDate, days: Int)
        -> SelfMeasuredBloodPressureAverage
    {
        let start = end.adding(days: -(max(days, 1) - 1))
        var accumulator = PressureAccumulator()
        var covered = Set<LocalDate>()
        for point in points {
            let date = clock.date(at: point.micros)
            guard date >= start && date <= end else { continue }
            if accumulator.add(point, excluding: excluding) { covered.insert(date) }
        }
        return SelfMeasuredBloodPressureAverage(
            from: start, through: end, mean: accumulator.result(places: places), daysWithReadings: covered.count)
    }

    /// The 7-day average of self-measured blood pressure ending with `endingAt` (the ESH/AHA monitoring week).
    public func sevenDayAverage(_ points: [BloodPressurePoint], endingAt end: LocalDate)
        -> SelfMeasuredBloodPressureAverage
    {
        average(points, endingAt: end, days: 7)
    }
}

/// Exact sums of systolic and diastolic pressure over the clean readings of one window.
struct PressureAccumulator {
    var systolic = ExactMean()
    var diastolic = ExactMean()
    var first: Int64?
    var last: Int64?
    var excluded = ExclusionCount()

    /// Adds a clean reading (true) or counts why it is left out (false).
    @discardableResult
    mutating func add(_ point: BloodPressurePoint, excluding: ReadingFlags) -> Bool {
        // Both pressures or neither: a mean systolic and a mean diastolic must describe the same readings.
        let reasons = ExclusionCount.reasons(
            flags: point.flags, hasValue: point.systolic != nil && point.diastolic != nil, excluding: excluding)
        guard reasons.isEmpty, let s = point.systolic, let d = point.diastolic else {
            excluded.record(reasons)
            return false
        }
        systolic.add(s)
        diastolic.add(d)
        first = min(first ?? point.micros, point.micros)
        last = max(last ?? point.micros, point.micros)
        return true
    }

    func result(places: Int) -> BloodPressureMean {
        BloodPressureMean(
            systolic: systolic.value(places: places), diastolic: diastolic.value(places: places), count: systolic.count,
            firstMicros: first, lastMicros: last, excluded: excluded)
    }
}
