import ArgumentParser
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine
import TimeSeries

/// `gatewayd summary`: the clinical summaries of one subject from the stored readings — home BP morning and
/// evening averages and the 7-day average, resting heart rate, RMSSD, glucose by meal. Doubtful readings are
/// excluded and counted.
struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Clinical summaries of a subject's stored readings (doubtful ones excluded and counted).")

    @OptionGroup var location: DataLocationOptions

    @Option(help: "The subject.")
    var subject: String

    @Option(help: "IANA time zone of the subject: days, mornings and evenings are local.")
    var tz = "UTC"

    @Option(help: "The last local day (YYYY-MM-DD) of the 7-day average; default: the day of the latest reading.")
    var through: String?

    func run() throws {
        let (dir, configuration) = try location.resolve()
        let zoneName = configuration.map { $0.zone(for: subject).identifier } ?? tz
        let windows = configuration?.subjects.first { $0.id == subject }?.windows ?? .standard
        // A test person's (the demo's) summaries are made of test data; a real person's leave it out.
        let testSubject = configuration?.subjects.first { $0.id == subject }?.test ?? false
        let leftOut = ReadingFlags.leftOutOfSummaries(testSubject: testSubject)
        if testSubject { print("(\(subject) is a test person: these summaries are made of test data)") }
        let clock: LocalClock
        do {
            clock = try LocalClock(identifier: zoneName)
        } catch {
            throw ValidationError("--tz: '\(zoneName)' is not an IANA time zone name")
        }
        let archive = try ReadingArchive(path: dir + "/engine.sqlite")
        let readings = try archive.readings(subject: subject)
        guard !readings.isEmpty else {
            throw ValidationError("--subject: no stored readings for '\(subject)' in \(dir)")
        }
        let end =
            try through.map { text in
                guard let date = LocalDate(text) else {
                    throw ValidationError("--through: '\(text)' is not a date YYYY-MM-DD")
                }
                return date
            } ?? clock.date(at: readings.map(\.time.effectiveMicros).max() ?? 0)

        let pressures = readings.compactMap(BloodPressurePoint.init(reading:))
        if !pressures.isEmpty {
            let home = HomeBloodPressureSummary(clock: clock, windows: windows, excluding: leftOut)
            print("== home blood pressure (mmHg; morning \(windows.morning), evening \(windows.evening) local)")
            for day in home.days(pressures) {
                print("\(day.day)  morning \(Self.text(day.morning))  evening \(Self.text(day.evening))")
            }
            let week = home.sevenDayAverage(pressures, endingAt: end)
            print(
                "7-day average \(week.from)…\(week.through): \(Self.text(week.mean)) over \(week.daysWithReadings) day(s)"
            )
        }
        let heart = readings.flatMap { SummaryPoint.points(of: .heartRate, in: $0) }
        if !heart.isEmpty {
            print("== resting heart rate (/min: lowest 5-minute mean with ≥ 30 clean samples)")
            for day in try RestingHeartRate(clock: clock, excluding: leftOut).days(heart) {
                print(
                    "\(day.day)  \(day.rate.map { "\($0)" } ?? "—") (\(day.cleanSamples) clean, \(day.excluded.total) excluded)"
                )
            }
            let intervals = readings.flatMap { SummaryPoint.points(of: .rrInterval, in: $0) }
            let windows = try HeartRateVariability(clock: clock, excluding: leftOut).windows(intervals)
            let measured = windows.filter { $0.rmssdMilliseconds != nil }
            print(
                "== RMSSD: \(measured.count) of \(windows.count) 5-minute window(s) had ≥ 30 clean successive differences"
            )
            for window in measured.suffix(5) {
                let minuteOfDay = Int((window.window.localStartMicros / 60_000_000) % 1440)
                let start = String(format: "%02d:%02d", minuteOfDay / 60, minuteOfDay % 60)
                print(
                    "\(window.window.day) \(start)  \(window.rmssdMilliseconds.map { "\($0)" } ?? "—") ms (\(window.differences) differences)"
                )
            }
        }
        let glucose = readings.flatMap { SummaryPoint.points(of: .glucose, in: $0) }
        if !glucose.isEmpty, let first = glucose.map(\.micros).min() {
            let summary = GlucoseByMeal(clock: clock, excluding: leftOut).summarize(
                glucose, from: clock.date(at: first), through: end)
            print("== glucose by meal context (\(summary.from)…\(summary.through), units as the meter sent them)")
            for meal in summary.meals {
                print(
                    "\(meal.meal): mean \(meal.mean.map { "\($0)" } ?? "—") over \(meal.count) reading(s), \(meal.excluded.total) excluded"
                )
            }
        }
    }

    static func text(_ mean: BloodPressureMean) -> String {
        guard mean.count > 0, let systolic = mean.systolic, let diastolic = mean.diastolic else {
            return "—" + (mean.excluded.total > 0 ? " (\(mean.excluded.total) excluded)" : "")
        }
        return "\(systolic)/\(diastolic) (n=\(mean.count)"
            + (mean.excluded.total > 0 ? ", \(mean.excluded.total) excluded)" : ")")
    }
}
