import TimeSeries

/// FHIR `dateTime` / `instant` text from the gateway's UTC microseconds, in integer arithmetic (no `Date`, no
/// formatter, no locale): the same instant always prints the same text, which keeps mapped resources stable.
public enum FHIRTime {
    static let microsPerSecond: Int64 = 1_000_000
    static let microsPerDay: Int64 = 86_400_000_000

    /// "2026-11-18T08:30:00+09:00": the local wall-clock time at `utcMicros` with its UTC offset. Fractional
    /// seconds appear only when there are some ("…:00.25+09:00"). An offset that is not a whole number of minutes
    /// (old local mean times) cannot be written in FHIR, so that instant is written in UTC instead — the same
    /// instant, never a shifted one.
    public static func dateTime(utcMicros: Int64, offsetSeconds: Int) -> String {
        let offset = offsetSeconds % 60 == 0 ? offsetSeconds : 0
        let local = utcMicros &+ Int64(offset) * microsPerSecond
        let day = local.dividedRoundingDown(by: microsPerDay)
        let intoDay = local - day * microsPerDay
        let date = LocalDate(daysSince1970: Int(day))
        let seconds = intoDay / microsPerSecond
        let fraction = intoDay % microsPerSecond
        var text = "\(date)T\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 6 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text + zone(offset)
    }

    /// An `instant` (always with seconds and a zone): UTC, "2026-11-17T23:30:00Z".
    public static func instant(utcMicros: Int64) -> String { dateTime(utcMicros: utcMicros, offsetSeconds: 0) }

    /// A device's zone-less wall clock with the offset it is taken to be in; nil unless the date is complete.
    static func dateTime(
        wallClock: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int), offsetSeconds: Int
    ) -> String? {
        guard let date = LocalDate(year: wallClock.year, month: wallClock.month, day: wallClock.day),
            (0..<24).contains(wallClock.hour), (0..<60).contains(wallClock.minute), (0..<60).contains(wallClock.second),
            offsetSeconds % 60 == 0
        else { return nil }
        return "\(date)T\(two(Int64(wallClock.hour))):\(two(Int64(wallClock.minute))):\(two(Int64(wallClock.second)))"
            + zone(offsetSeconds)
    }

    static func zone(_ offsetSeconds: Int) -> String {
        guard offsetSeconds != 0 else { return "Z" }
        let minutes = abs(offsetSeconds) / 60
        return (offsetSeconds < 0 ? "-" : "+") + two(Int64(minutes / 60)) + ":" + two(Int64(minutes % 60))
    }

    static func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
