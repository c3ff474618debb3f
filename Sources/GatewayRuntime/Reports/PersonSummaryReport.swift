import Foundation
import Provenance
import StreamEngine
import TimeSeries

/// What `gatewayd summary` prints: a person's clinical summaries from her stored readings — home blood pressure
/// morning and evening and the 7-day average, resting heart rate, RMSSD, glucose by meal context. Doubtful readings are
/// left out and counted; a test person's summaries are made of test data and say so.
package struct PersonSummaryReport {
    package enum Failure: Error, CustomStringConvertible {
        case unknownZone(String)
        case noReadings(subject: String, dir: String)
        case notADate(String)

        package var description: String {
            switch self {
            case .unknownZone(let name): "--tz: '\(name)' is not an IANA time zone name"
            case .noReadings(let subject, let dir): "--subject: no stored readings for '\(subject)' in \(dir)"
            case .notADate(let text): "--through: '\(text)' is not a date YYYY-MM-DD"
            }
        }
    }

    package var dir: String
    package var configuration: GatewayConfiguration?
    package var subject: String
    /// The zone when the configuration names none for the subject.
    package var tz: String
    /// The last local day of the 7-day average; default: the day of the latest reading.
    package var through: String?

    package init(dir: String, configuration: GatewayConfiguration?, subject: String, tz: String, through: String?) {
        self.dir = dir
        self.configuration = configuration
        self.subject = subject
        self.tz = tz
        self.through = through
    }

    package func lines() throws -> [String] {
        var lines: [String] = []
        let (dir, configuration, subject, tz, through) = (
            self.dir, self.configuration, self.subject, self.tz, self.through
        )
        let zoneName = configuration.map { $0.zone(for: subject).identifier } ?? tz
        let windows = configuration?.subjects.first { $0.id == subject }?.windows ?? .standard
        // A test person's (the demo's) summaries are made of test data; a real person's leave it out.
        let testSubject = configuration?.subjects.first { $0.id == subject }?.test ?? false
        let leftOut = ReadingFlags.leftOutOfSummaries(testSubject: testSubject)
        if testSubject { lines.append("(\(subject) is a test person: these summaries are made of test data)") }
        let clock: LocalClock
        do {
            clock = try LocalClock(identifier: zoneName)
        } catch {
            throw Failure.unknownZone(zoneName)
        }
        let archive = try ReadingArchive(path: dir + "/engine.sqlite")
        let readings = try archive.readings(subject: subject)
        guard !readings.isEmpty else {
            throw Failure.noReadings(subject: subject, dir: dir)
        }
        let end =
            try through.map { text in
                guard let date = LocalDate(text) else {
                    throw Failure.notADate(text)
                }
                return date
            } ?? clock.date(at: readings.map(\.time.effectiveMicros).max() ?? 0)

        let pressures = readings.compactMap(BloodPressurePoint.init(reading:))
        if !pressures.isEmpty {
            let home = HomeBloodPressureSummary(clock: clock, windows: windows, excluding: leftOut)
            lines.append("== home blood pressure (mmHg; morning \(windows.morning), evening \(windows.evening) local)")
            for day in home.days(pressures) {
                lines.append("\(day.day)  morning \(Self.text(day.morning))  evening \(Self.text(day.evening))")
            }
            let week = home.sevenDayAverage(pressures, endingAt: end)
            lines.append(
                "7-day average \(week.from)…\(week.through): \(Self.text(week.mean)) over \(week.daysWithReadings) day(s)"
            )
        }
        let heart = readings.flatMap { SummaryPoint.points(of: .heartRate, in: $0) }
        if !heart.isEmpty {
            lines.append("== resting heart rate (/min: lowest 5-minute mean with ≥ 30 clean samples)")
            for day in try RestingHeartRate(clock: clock, excluding: leftOut).days(heart) {
                lines.append(
                    "\(day.day)  \(day.rate.map { "\($0)" } ?? "—") (\(day.cleanSamples) clean, \(day.excluded.total) excluded)"
                )
            }
            let intervals = readings.flatMap { SummaryPoint.points(of: .rrInterval, in: $0) }
            let windows = try HeartRateVariability(clock: clock, excluding: leftOut).windows(intervals)
            let measured = windows.filter { $0.rmssdMilliseconds != nil }
            lines.append(
                "== RMSSD: \(measured.count) of \(windows.count) 5-minute window(s) had ≥ 30 clean successive differences"
            )
            for window in measured.suffix(5) {
                let minuteOfDay = Int((window.window.localStartMicros / 60_000_000) % 1440)
                let start = String(format: "%02d:%02d", minuteOfDay / 60, minuteOfDay % 60)
                lines.append(
                    "\(window.window.day) \(start)  \(window.rmssdMilliseconds.map { "\($0)" } ?? "—") ms (\(window.differences) differences)"
                )
            }
        }
        let glucose = readings.flatMap { SummaryPoint.points(of: .glucose, in: $0) }
        if !glucose.isEmpty, let first = glucose.map(\.micros).min() {
            let summary = GlucoseByMeal(clock: clock, excluding: leftOut).summarize(
                glucose, from: clock.date(at: first), through: end)
            lines.append(
                "== glucose by meal context (\(summary.from)…\(summary.through), units as the meter sent them)")
            for meal in summary.meals {
                lines.append(
                    "\(meal.meal): mean \(meal.mean.map { "\($0)" } ?? "—") over \(meal.count) reading(s), \(meal.excluded.total) excluded"
                )
            }
        }
        return lines
    }

    package static func text(_ mean: BloodPressureMean) -> String {
        guard mean.count > 0, let systolic = mean.systolic, let diastolic = mean.diastolic else {
            return "—" + (mean.excluded.total > 0 ? " (\(mean.excluded.total) excluded)" : "")
        }
        return "\(systolic)/\(diastolic) (n=\(mean.count)"
            + (mean.excluded.total > 0 ? ", \(mean.excluded.total) excluded)" : ")")
    }
}
