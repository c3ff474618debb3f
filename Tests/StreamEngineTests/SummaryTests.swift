import Foundation
import Provenance
import StreamEngine
import Testing
import TimeSeries

// Hand-computed examples for the clinical summaries. Times are written in UTC with the local wall time beside
// them; Europe/Berlin leaves summer time at 2026-10-25 01:00 UTC (03:00 CEST → 02:00 CET), so 25 October 2026
// lasts 25 hours there, and 02:00–03:00 local happens twice.

/// UTC µs of a UTC calendar time.
private func utc(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int = 0) -> Int64 {
    let days = LocalDate(year: y, month: mo, day: d)?.daysSince1970 ?? Int.min / 1_000_000_000
    return (Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + s)) * 1_000_000
}

private func dec(_ text: String) -> DecimalValue {
    guard let value = DecimalValue(parsing: text) else {
        Issue.record("bad decimal literal \(text)")
        return DecimalValue(mantissa: 0, exponent: 0)
    }
    return value
}

private func date(_ text: String) -> LocalDate {
    guard let d = LocalDate(text) else {
        Issue.record("bad date \(text)")
        return LocalDate(daysSince1970: 0)
    }
    return d
}

/// An RR interval of `ticks`/1024 s, exactly (1/1024 = 0.0009765625).
private func ticks(_ n: Int64) -> DecimalValue { DecimalValue(mantissa: n * 9_765_625, exponent: -10) }

private let berlin = LocalClock(TimeZone(identifier: "Europe/Berlin") ?? .gmt)
private let tokyo = LocalClock(TimeZone(identifier: "Asia/Tokyo") ?? .gmt)

@Suite struct SummaryTests {
    // MARK: exact mean

    @Test func exactMeanRoundsHalfEvenAtStatedPlaces() {
        let mean = ExactMean([dec("120.5"), dec("121"), dec("121")])
        // 362.5 / 3 = 120.8333…
        #expect(mean.count == 3)
        #expect(mean.value(places: 1)?.description == "120.8")
        #expect(mean.value(places: 2)?.description == "120.83")
        #expect(mean.value(places: 0)?.description == "121")
        #expect(mean.value(places: -1)?.description == "120")  // tens: 12.08… → 12 tens
        // Ties go to the even neighbour, both signs.
        #expect(ExactMean([dec("1"), dec("2")]).value(places: 0)?.description == "2")  // 1.5 → 2
        #expect(ExactMean([dec("2"), dec("3")]).value(places: 0)?.description == "2")  // 2.5 → 2
        #expect(ExactMean([dec("-2.5")]).value(places: 0)?.description == "-2")
        #expect(ExactMean([dec("-3.5")]).value(places: 0)?.description == "-4")
        #expect(ExactMean([dec("0.125")]).value(places: 2)?.description == "0.12")
        #expect(ExactMean([dec("0.135")]).value(places: 2)?.description == "0.14")
        // A value no binary double holds: 0.1 + 0.2 = 0.3 exactly.
        #expect(ExactMean([dec("0.1"), dec("0.2")]).value(places: 2)?.description == "0.15")
        #expect(ExactMean().value(places: 1) == nil)
    }

    @Test func exactMeanExtraPlacesFollowTheFinestInput() {
        // Integers → one place: 362 / 3 = 120.666… → 120.7.
        #expect(ExactMean([dec("120"), dec("121"), dec("121")]).value(extraPlaces: 1)?.description == "120.7")
        // kg/L at 0.00001 → six places: 0.00294 / 3 = 0.00098.
        #expect(
            ExactMean([dec("0.00095"), dec("0.00098"), dec("0.00101")]).value(extraPlaces: 1)?.description == "0.000980"
        )
    }

    @Test func exactMeanComparesWithoutDividing() {
        let a = ExactMean([dec("60"), dec("61"), dec("61")])  // 60.666…
        let b = ExactMean([dec("58"), dec("59"), dec("60"), dec("62")])  // 59.75
        #expect(a.compare(b) == 1)
        #expect(b.compare(a) == -1)
        #expect(ExactMean([dec("60")]).compare(ExactMean([dec("59.5"), dec("60.5")])) == 0)
        var merged = a
        merged.merge(b)
        #expect(merged.count == 7)
        #expect(merged.value(places: 2)?.description == "60.14")  // 421 / 7 = 60.142…
    }

    // MARK: exclusion

    @Test func exclusionReasonsNameDoubtfulFlagsAndAbsentValues() {
        let both: ReadingFlags = [.bodyMovement, .irregularPulse, .timeCorrected]
        // time_corrected is informational, not a reason to leave a reading out.
        #expect(
            ExclusionCount.reasons(flags: both, hasValue: true, excluding: .doubtful) == [
                "body_movement", "irregular_pulse",
            ])
        #expect(ExclusionCount.reasons(flags: [], hasValue: false, excluding: .doubtful) == ["value_absent"])
        #expect(
            ExclusionCount.reasons(flags: [.valueAbsent], hasValue: false, excluding: .doubtful) == ["value_absent"])
        // Asked to include doubtful readings, a NaN is still no number.
        #expect(ExclusionCount.reasons(flags: [.bodyMovement], hasValue: true, excluding: []).isEmpty)
        #expect(ExclusionCount.reasons(flags: [.bodyMovement], hasValue: false, excluding: []) == ["value_absent"])

        var count = ExclusionCount()
        count.record(["body_movement", "irregular_pulse"])
        count.record(["value_absent"])
        #expect(count.total == 2)
        #expect(count["body_movement"] == 1 && count["irregular_pulse"] == 1 && count["value_absent"] == 1)
        #expect(count["test_data"] == 0)
    }

    // MARK: local time

    @Test func localDatesAreCivilDates() {
        #expect(date("2026-10-25").description == "2026-10-25")
        #expect(LocalDate(year: 1970, month: 1, day: 1)?.daysSince1970 == 0)
        #expect(LocalDate(year: 1969, month: 12, day: 31)?.daysSince1970 == -1)
        #expect(LocalDate(year: 2024, month: 2, day: 29) != nil)
        #expect(LocalDate(year: 2026, month: 2, day: 29) == nil)
        #expect(LocalDate("2026-13-01") == nil)
        #expect(LocalDate("26-10-25") == nil)
        #expect(date("2026-10-25").adding(days: 7).description == "2026-11-01")
    }

    @Test func berlinDayOfTheFallBackLasts25Hours() throws {
        #expect(berlin.date(at: utc(2026, 10, 24, 21, 59, 59)).description == "2026-10-24")  // 23:59:59 CEST
        #expect(berlin.date(at: utc(2026, 10, 24, 22, 0)).description == "2026-10-25")  // 00:00 CEST
        #expect(berlin.date(at: utc(2026, 10, 25, 22, 59, 59)).description == "2026-10-25")  // 23:59:59 CET
        #expect(berlin.date(at: utc(2026, 10, 25, 23, 0)).description == "2026-10-26")
        #expect(tokyo.date(at: utc(2026, 10, 24, 15, 0)).description == "2026-10-25")  // 00:00 JST

        // 02:02 CEST and 02:02 CET: the same wall time, two distinct 5-minute windows of physical time.
        let first = berlin.measurementWindow(containing: utc(2026, 10, 25, 0, 2), widthMicros: 300_000_000)
        let second = berlin.measurementWindow(containing: utc(2026, 10, 25, 1, 2), widthMicros: 300_000_000)
        #expect(first.startMicros == utc(2026, 10, 25, 0, 0))
        #expect(second.startMicros == utc(2026, 10, 25, 1, 0))
        #expect(first.endMicros - first.startMicros == 300_000_000)
        #expect(first.localStartMicros == second.localStartMicros)
        #expect(first.day == second.day)

        #expect(throws: SummaryError.unknownTimeZone("Mars/Olympus_Mons")) {
            try LocalClock(identifier: "Mars/Olympus_Mons")
        }
        #expect(try LocalClock(identifier: "Asia/Tokyo").timeZone.identifier == "Asia/Tokyo")
    }

    // MARK: home blood pressure

    private func bp(_ micros: Int64, _ s: String?, _ d: String?, _ flags: ReadingFlags = []) -> BloodPressurePoint {
        BloodPressurePoint(micros: micros, systolic: s.map(dec), diastolic: d.map(dec), flags: flags)
    }

    @Test func morningAndEveningInBerlinAcrossTheDSTChange() throws {
        let points = [
            // Morning of the 24th (CEST, UTC+2): 120.5/80, 121/81, 121/80 → 120.8333 → 120.8 / 80.333 → 80.3.
            bp(utc(2026, 10, 24, 5, 30), "120.5", "80"),  // 07:30
            bp(utc(2026, 10, 24, 5, 32), "121", "81"),
            bp(utc(2026, 10, 24, 5, 34), "121", "80"),
            bp(utc(2026, 10, 24, 5, 36), "150", "95", [.bodyMovement]),  // doubtful: left out, counted
            // Evening of the 24th runs 18:00 CEST on the 24th to 02:00 CEST on the 25th: (130+128)/2, (85+84)/2.
            bp(utc(2026, 10, 24, 19, 0), "130", "85"),  // 21:00 CEST
            bp(utc(2026, 10, 24, 23, 30), "128", "84"),  // 01:30 CEST on the 25th → still the 24th's evening
            // 02:30 twice (CEST, then CET) and 03:30 CET: in neither window. (On a fixed UTC+2, 02:30Z would read
            // 04:30 and be wrongly taken as morning.)
            bp(utc(2026, 10, 25, 0, 30), "140", "90"),
            bp(utc(2026, 10, 25, 1, 30), "141", "91"),
            bp(utc(2026, 10, 25, 2, 30), "142", "92"),
            // Morning of the 25th (CET, UTC+1): one clean reading; a NaN and test data left out.
            bp(utc(2026, 10, 25, 3, 30), "118", "78"),  // 04:30 CET
            bp(utc(2026, 10, 25, 3, 32), nil, "77"),
            bp(utc(2026, 10, 25, 3, 34), "200", "100", [.testData]),
            // Evening of the 25th: 21:00 CET and 01:30 CET on the 26th: (125+127)/2, (82+83)/2.
            bp(utc(2026, 10, 25, 20, 0), "125", "82"),
            bp(utc(2026, 10, 26, 0, 30), "127", "83"),
            bp(utc(2026, 10, 26, 1, 30), "126", "80"),  // 02:30 CET on the 26th: outside
        ]
        let days = HomeBloodPressureSummary(clock: berlin).days(points)
        #expect(days.map(\.day.description) == ["2026-10-24", "2026-10-25", "2026-10-26"])
        let d24 = days[0]
        let d25 = days[1]
        let d26 = days[2]

        #expect(d24.morning.systolic?.description == "120.8")
        #expect(d24.morning.diastolic?.description == "80.3")
        #expect(d24.morning.count == 3)
        #expect(d24.morning.excluded.total == 1 && d24.morning.excluded["body_movement"] == 1)
        #expect(
            d24.morning.firstMicros == utc(2026, 10, 24, 5, 30) && d24.morning.lastMicros == utc(2026, 10, 24, 5, 34))
        #expect(d24.evening.systolic?.description == "129.0")
        #expect(d24.evening.diastolic?.description == "84.5")
        #expect(d24.evening.count == 2)
        #expect(d24.outsideWindows == 0)

        #expect(d25.morning.systolic?.description == "118.0")
        #expect(d25.morning.diastolic?.description == "78.0")
        #expect(d25.morning.count == 1)
        #expect(d25.morning.excluded.total == 2)
        #expect(d25.morning.excluded["value_absent"] == 1 && d25.morning.excluded["test_data"] == 1)
        #expect(d25.evening.systolic?.description == "126.0")
        #expect(d25.evening.diastolic?.description == "82.5")
        #expect(d25.evening.count == 2)
        #expect(d25.outsideWindows == 3)

        #expect(d26.morning.count == 0 && d26.morning.systolic == nil)
        #expect(d26.evening.count == 0)
        #expect(d26.outsideWindows == 1)
    }

    @Test func morningAndEveningInTokyo() {
        // Asia/Tokyo is UTC+9 all year: the UTC date is not the local date.
        let points = [
            bp(utc(2026, 10, 24, 23, 30), "131", "84"),  // 08:30 JST on the 25th → morning of the 25th
            bp(utc(2026, 10, 24, 23, 32), "133", "85"),  // 08:32 JST
            bp(utc(2026, 10, 25, 2, 30), "150", "99"),  // 11:30 JST: after the morning window
            bp(utc(2026, 10, 25, 10, 0), "127", "80"),  // 19:00 JST → evening of the 25th
            bp(utc(2026, 10, 25, 16, 30), "124", "79", [.cuffTooLoose]),  // 01:30 JST on the 26th, doubtful
            bp(utc(2026, 10, 25, 16, 40), "125", "81"),  // 01:40 JST on the 26th → evening of the 25th
        ]
        let days = HomeBloodPressureSummary(clock: tokyo).days(points)
        #expect(days.map(\.day.description) == ["2026-10-25"])
        guard let day = days.first else { return }
        #expect(day.morning.systolic?.description == "132.0")  // (131+133)/2
        #expect(day.morning.diastolic?.description == "84.5")  // (84+85)/2
        #expect(day.evening.systolic?.description == "126.0")  // (127+125)/2
        #expect(day.evening.diastolic?.description == "80.5")  // (80+81)/2
        #expect(day.evening.count == 2)
        #expect(day.evening.excluded["cuff_too_loose"] == 1)
        #expect(day.outsideWindows == 1)

        // The same instants in Berlin (CEST until 01:00Z on the 25th): 01:30 and 01:32 CEST on the 25th are the
        // 24th's evening; 03:30 CET, 11:00 CET (the morning's end is exclusive), 17:30 and 17:40 CET (before the
        // evening) are in neither window of the 25th.
        let berlinDays = HomeBloodPressureSummary(clock: berlin).days(points)
        #expect(berlinDays.map(\.day.description) == ["2026-10-24", "2026-10-25"])
        #expect(berlinDays.first?.evening.systolic?.description == "132.0")
        #expect(berlinDays.first?.evening.count == 2)
        #expect(berlinDays.last?.morning.count == 0)
        #expect(berlinDays.last?.evening.count == 0)
        #expect(berlinDays.last?.outsideWindows == 4)
    }

    @Test func configurableDayParts() throws {
        let windows = DayPartWindows(
            morning: try DayPart(start: "05:00", end: "09:00"), evening: try DayPart(start: "20:00", end: "23:30"))
        #expect(windows.morning.description == "05:00–09:00")
        #expect(DayPartWindows.standard.morning.description == "04:00–11:00")
        #expect(DayPartWindows.standard.evening.description == "18:00–02:00")
        #expect(throws: SummaryError.invalidTimeOfDay("25:00")) { try DayPart(start: "25:00", end: "02:00") }
        #expect(throws: SummaryError.self) { try DayPart(start: "07:00", end: "07:00") }
        let summary = HomeBloodPressureSummary(clock: tokyo, windows: windows)
        let days = summary.days([
            bp(utc(2026, 10, 24, 19, 30), "120", "80"),  // 04:30 JST: before the 05:00 morning
            bp(utc(2026, 10, 24, 20, 0), "122", "81"),  // 05:00 JST: first instant of the morning
            bp(utc(2026, 10, 25, 14, 29), "124", "82"),  // 23:29 JST: evening
            bp(utc(2026, 10, 25, 14, 30), "126", "83"),  // 23:30 JST: end is exclusive
        ])
        #expect(days.first?.morning.count == 1)
        #expect(days.first?.evening.count == 1)
        #expect(days.first?.outsideWindows == 2)
    }

    @Test func sevenDayAverageOfSelfMeasuredBloodPressure() {
        let points = [
            bp(utc(2026, 10, 18, 20, 0), "200", "120"),  // 22:00 CEST on the 18th: before the week
            bp(utc(2026, 10, 19, 5, 0), "130", "80"),  // 07:00 CEST on the 19th: first day
            bp(utc(2026, 10, 21, 17, 0), "135", "85"),
            bp(utc(2026, 10, 21, 17, 2), "134", "86", [.irregularPulse]),
            bp(utc(2026, 10, 22, 6, 0), "131", nil),  // NaN diastolic: the whole reading is left out
            bp(utc(2026, 10, 24, 22, 30), "128", "84"),  // 00:30 CEST on the 25th (in UTC still the 24th)
            bp(utc(2026, 10, 25, 22, 30), "132", "82"),  // 23:30 CET on the 25th: the 25-hour day's last hour
            bp(utc(2026, 10, 25, 23, 30), "190", "110"),  // 00:30 CET on the 26th: after the week
        ]
        let average = HomeBloodPressureSummary(clock: berlin).sevenDayAverage(points, endingAt: date("2026-10-25"))
        #expect(average.from.description == "2026-10-19")
        #expect(average.through.description == "2026-10-25")
        // Systolic (130+135+128+132)/4 = 131.25 → tie → 131.2; diastolic (80+85+84+82)/4 = 82.75 → tie → 82.8.
        #expect(average.mean.systolic?.description == "131.2")
        #expect(average.mean.diastolic?.description == "82.8")
        #expect(average.mean.count == 4)
        #expect(average.daysWithReadings == 3)  // 19th, 21st, 25th
        #expect(average.mean.excluded.total == 2)
        #expect(average.mean.excluded["irregular_pulse"] == 1 && average.mean.excluded["value_absent"] == 1)
        #expect(average.mean.firstMicros == utc(2026, 10, 19, 5, 0))
        #expect(average.mean.lastMicros == utc(2026, 10, 25, 22, 30))

        // Same week in Tokyo (UTC+9): 22:00 CEST on the 18th is 05:00 JST on the 19th (in), the last two are on
        // the 26th (out), 00:30 CEST on the 25th is 07:30 JST on the 25th.
        let inTokyo = HomeBloodPressureSummary(clock: tokyo).sevenDayAverage(points, endingAt: date("2026-10-25"))
        // (200+130+135+128)/4 = 148.25 → 148.2; (120+80+85+84)/4 = 92.25 → 92.2.
        #expect(inTokyo.mean.systolic?.description == "148.2")
        #expect(inTokyo.mean.diastolic?.description == "92.2")
        #expect(inTokyo.mean.count == 4)

        let threeDays = HomeBloodPressureSummary(clock: berlin, places: 0).average(
            points, endingAt: date("2026-10-25"), days: 3)
        #expect(threeDays.from.description == "2026-10-23")
        #expect(threeDays.mean.systolic?.description == "130")  // (128+132)/2
        #expect(threeDays.mean.count == 2)
    }

    // MARK: resting heart rate

    private func hr(_ micros: Int64, _ value: String?, _ flags: ReadingFlags = []) -> SummaryPoint {
        SummaryPoint(micros: micros, value: value.map(dec), flags: flags)
    }

    @Test func restingHeartRateIsTheLowestQualifyingWindowMean() throws {
        let calculator = try RestingHeartRate(clock: berlin, minimumSamples: 3)
        var points: [SummaryPoint] = []
        // 24th: 22:00–22:05 CEST (71.0) and 23:00–23:05 CEST: (69+70+70+70)/4 = 69.75 → 69.8.
        points += ["70", "72", "71"].enumerated().map { hr(utc(2026, 10, 24, 20, 0, 10 * $0.offset), $0.element) }
        points += ["69", "70", "70", "70"].enumerated().map { hr(utc(2026, 10, 24, 21, 0, 10 * $0.offset), $0.element) }
        // 25th, the 25-hour day. 02:00 CEST: (60+61+61)/3 = 60.67, plus a no-contact 40 left out.
        points += ["60", "61", "61"].enumerated().map { hr(utc(2026, 10, 25, 0, 0, 10 * $0.offset), $0.element) }
        points.append(hr(utc(2026, 10, 25, 0, 1), "40", [.noSensorContact]))
        // 02:00 CET, an hour later with the same wall-clock label: (58+59+60+62)/4 = 59.75 → 59.8. Were the two
        // 02:00 windows merged, the mean would be 421/7 = 60.14.
        points += ["58", "59", "60", "62"].enumerated().map { hr(utc(2026, 10, 25, 1, 0, 10 * $0.offset), $0.element) }
        // Lower but too few samples: 55, 56 (2 < 3); and a lone spurious 38.
        points += [hr(utc(2026, 10, 25, 10, 0), "55"), hr(utc(2026, 10, 25, 10, 1), "56")]
        points.append(hr(utc(2026, 10, 25, 14, 0), "38"))
        points.append(hr(utc(2026, 10, 25, 14, 2), nil))
        // 26th: two windows with equal means (60): the earlier one is reported.
        points += ["60", "60", "60"].enumerated().map { hr(utc(2026, 10, 26, 8, 0, 10 * $0.offset), $0.element) }
        points += ["59", "61", "60"].enumerated().map { hr(utc(2026, 10, 26, 9, 0, 10 * $0.offset), $0.element) }

        let days = calculator.days(points.shuffled())
        #expect(days.map(\.day.description) == ["2026-10-24", "2026-10-25", "2026-10-26"])
        #expect(days[0].rate?.description == "69.8")
        #expect(days[0].window?.startMicros == utc(2026, 10, 24, 21, 0))

        let d25 = days[1]
        #expect(d25.rate?.description == "59.8")
        #expect(d25.window?.startMicros == utc(2026, 10, 25, 1, 0))
        #expect(d25.window?.endMicros == utc(2026, 10, 25, 1, 5))
        #expect(d25.samplesInWindow == 4)
        #expect(d25.qualifyingWindows == 2)
        #expect(d25.cleanSamples == 10)
        #expect(d25.excluded.total == 2)
        #expect(d25.excluded["no_sensor_contact"] == 1 && d25.excluded["value_absent"] == 1)

        #expect(days[2].rate?.description == "60.0")
        #expect(days[2].window?.startMicros == utc(2026, 10, 26, 8, 0))

        // With the default of 30 samples none of these windows qualifies: no number, but the counts remain.
        let strict = try RestingHeartRate(clock: berlin).days(points)
        #expect(strict.allSatisfy { $0.rate == nil && $0.qualifyingWindows == 0 })
        #expect(strict[1].cleanSamples == 10)
        #expect(throws: SummaryError.self) { try RestingHeartRate(clock: berlin, windowMicros: 0) }
    }

    // MARK: heart-rate variability

    private func rr(_ second: Int, _ value: DecimalValue, _ flags: ReadingFlags = []) -> SummaryPoint {
        SummaryPoint(micros: utc(2026, 10, 25, 8, 0, second), value: value, flags: flags)
    }

    @Test func rmssdOfAKnownSeries() throws {
        // RR in ticks of 1/1024 s: 800, 820, 790, 830, 810 (0.78125, 0.80078125, 0.771484375, 0.810546875,
        // 0.791015625 s). Successive differences +20, −30, +40, −20 ticks; squares 400 + 900 + 1600 + 400 = 3300;
        // mean 825 ticks²; √825 = 28.72281… ticks × 1000/1024 ms = 28.04962… ms.
        let series = [800, 820, 790, 830, 810].enumerated().map { rr($0.offset, ticks(Int64($0.element))) }
        let hrv = try HeartRateVariability(clock: berlin, minimumDifferences: 4, places: 2)
        let windows = hrv.windows(series)
        #expect(windows.count == 1)
        guard let w = windows.first else { return }
        #expect(w.rmssdMilliseconds?.description == "28.05")
        #expect(w.intervalsUsed == 5)
        #expect(w.differences == 4)
        #expect(w.excluded.isEmpty)
        #expect(w.window.startMicros == utc(2026, 10, 25, 8, 0))  // 09:00 CET
        #expect(
            try HeartRateVariability(clock: berlin, minimumDifferences: 4).windows(series).first?.rmssdMilliseconds?
                .description == "28")
        // Fewer differences than the default minimum (30): counts, no number.
        let sparse = try HeartRateVariability(clock: berlin).windows(series)
        #expect(sparse.first?.rmssdMilliseconds == nil && sparse.first?.differences == 4)
    }

    @Test func rmssdSquareRootIsExactlyRounded() throws {
        let hrv = try HeartRateVariability(clock: berlin, minimumDifferences: 1)
        // One difference of 2.5 ms: RMSSD is exactly 2.5 → tie → 2 (even). One of 3.5 ms → 4.
        #expect(hrv.windows([rr(0, dec("0.8")), rr(1, dec("0.8025"))]).first?.rmssdMilliseconds?.description == "2")
        #expect(hrv.windows([rr(0, dec("0.8")), rr(1, dec("0.8035"))]).first?.rmssdMilliseconds?.description == "4")
    }

    @Test func rmssdRejectsArtefacts() throws {
        let series = [
            rr(0, ticks(800)),
            rr(1, ticks(810)),  // +10: used
            rr(2, ticks(500)),  // −310 > 20 % of 810 (162): artefact_jump (an ectopic beat)
            rr(3, ticks(1100)),  // +600 > 20 % of 500: artefact_jump (the compensatory pause)
            rr(4, ticks(800)),  // −300 > 20 % of 1100 (220): artefact_jump
            rr(5, ticks(805)),  // within 20 % of 800, accepted; its predecessor was not, so no difference
            rr(6, ticks(2100)),  // 2.05 s: out_of_range
            rr(7, ticks(810)),  // nothing plausible just before: accepted on its range, no difference
            rr(8, ticks(815)),  // +5: used
            rr(9, ticks(812), [.noSensorContact]),  // flagged: left out
            rr(10, ticks(816)),  // accepted, no difference (predecessor flagged)
            rr(11, ticks(820)),  // +4: used
        ]
        // Differences 10, 5, 4 ticks: (100 + 25 + 16) / 3 = 47 ticks²; √47 = 6.85565 ticks = 6.69497… ms.
        let hrv = try HeartRateVariability(clock: berlin, minimumDifferences: 3, places: 3)
        guard let w = hrv.windows(series).first else {
            Issue.record("no window")
            return
        }
        #expect(w.rmssdMilliseconds?.description == "6.695")
        #expect(w.intervalsUsed == 7)
        #expect(w.differences == 3)
        #expect(w.excluded.total == 5)
        #expect(w.excluded["artefact_jump"] == 3)
        #expect(w.excluded["out_of_range"] == 1)
        #expect(w.excluded["no_sensor_contact"] == 1)

        // Exactly 20 % is allowed, a tick more is a jump (exact comparison, no rounding).
        let edge = try HeartRateVariability(clock: berlin, minimumDifferences: 1)
        #expect(edge.windows([rr(0, ticks(800)), rr(1, ticks(960))]).first?.differences == 1)
        #expect(edge.windows([rr(0, ticks(800)), rr(1, ticks(961))]).first?.excluded["artefact_jump"] == 1)
    }

    /// A strap's intervals are all ticks at one exponent and come in time order: RMSSD then takes integer shortcuts
    /// (no sort, mantissa comparisons). The same intervals written at mixed exponents and shuffled take the general
    /// exact path, and every window comes out the same.
    @Test func rmssdIsTheSameOnTheStrapsShortcutAsOnTheGeneralPath() throws {
        var random = SplitMix64(seed: 16)
        var strap: [SummaryPoint] = []
        var tick: Int64 = 800
        for beat in 0..<4_000 {
            tick = max(500, min(1_200, tick + Int64(random.next() % 41) - 20))
            // Now and then an ectopic beat (a jump), a beat too long to be plausible, no contact, no value.
            let odd = random.next() % 50
            let flags: ReadingFlags = odd == 1 ? [.noSensorContact] : []
            let value = odd == 2 ? nil : ticks(odd == 3 ? tick + 400 : odd == 4 ? 2_100 : tick)
            strap.append(
                SummaryPoint(micros: utc(2026, 10, 25, 7, 0) + Int64(beat / 2) * 1_000_000, value: value, flags: flags))
        }
        let mixed = strap.enumerated().map { index, point in
            var written = point
            if index % 3 == 0, let value = point.value {
                written.value = DecimalValue(mantissa: value.mantissa * 10, exponent: value.exponent - 1)
            }
            return written
        }
        // Out of order by whole seconds (a second's intervals keep their beat order, as one notification's do).
        var seconds = Dictionary(grouping: mixed, by: \.micros).values.map { $0 }
        seconds.shuffle(using: &random)
        let shuffled = seconds.flatMap { $0 }
        #expect(shuffled != mixed)
        for hrv in [
            try HeartRateVariability(clock: berlin),
            try HeartRateVariability(clock: berlin, minimumDifferences: 5, places: 3),
        ] {
            let shortcut = hrv.windows(strap)
            // 4,000 beats at two a second: seven 5-minute windows, each with an RMSSD and intervals left out.
            #expect(shortcut.count == 7 && shortcut.allSatisfy { $0.rmssdMilliseconds != nil })
            #expect(
                shortcut.allSatisfy {
                    ($0.excluded["artefact_jump"] ?? 0) > 0 && ($0.excluded["out_of_range"] ?? 0) > 0
                })
            #expect(hrv.windows(mixed) == shortcut)
            #expect(hrv.windows(shuffled) == shortcut)
        }
    }

    @Test func rmssdDifferencesStayInsideWindowsAndDoNotSpanGaps() throws {
        let hrv = try HeartRateVariability(clock: berlin, minimumDifferences: 1)
        let windows = hrv.windows([
            SummaryPoint(micros: utc(2026, 10, 25, 8, 4, 58), value: ticks(800)),
            SummaryPoint(micros: utc(2026, 10, 25, 8, 4, 59), value: ticks(810)),  // +10 in the 09:00 window
            // next window: no pair across the edge
            SummaryPoint(micros: utc(2026, 10, 25, 8, 5, 0), value: ticks(830)),
            SummaryPoint(micros: utc(2026, 10, 25, 8, 5, 1), value: ticks(820)),  // −10
            SummaryPoint(micros: utc(2026, 10, 25, 8, 5, 10), value: ticks(1000)),  // 9 s later: no pair, no jump test
            SummaryPoint(micros: utc(2026, 10, 25, 8, 5, 11), value: ticks(1000)),  // 0
        ])
        #expect(windows.count == 2)
        #expect(windows[0].differences == 1 && windows[0].intervalsUsed == 2)
        #expect(windows[1].differences == 2 && windows[1].intervalsUsed == 4)
        #expect(windows[1].excluded.isEmpty)
        // √((10² + 0²)/2) = 7.0710… ticks = 6.905… ms → 7.
        #expect(windows[1].rmssdMilliseconds?.description == "7")
        // Several RR intervals of one notification share a timestamp and keep their order.
        let shared = hrv.windows([
            SummaryPoint(micros: utc(2026, 10, 25, 8, 0), value: ticks(800)),
            SummaryPoint(micros: utc(2026, 10, 25, 8, 0), value: ticks(820)),
            SummaryPoint(micros: utc(2026, 10, 25, 8, 0), value: ticks(790)),
        ])
        // +20, −30: √((400 + 900)/2) = 25.495 ticks = 24.898 ms → 25.
        #expect(shared.first?.rmssdMilliseconds?.description == "25")
    }

    @Test func rmssdFallsBackToDoubleOnlyBeyond128Bits() throws {
        // 1.65 s and 1.98 s alternating (exactly 20 %), written with 18 decimals: 1700 squares of 0.33 s overflow
        // a 128-bit sum (1.089e35 each), so this one goes through Double. RMSSD is 330 ms exactly.
        let a = DecimalValue(mantissa: 1_650_000_000_000_000_000, exponent: -18)
        let b = DecimalValue(mantissa: 1_980_000_000_000_000_000, exponent: -18)
        let start = utc(2026, 10, 25, 8, 0)
        let series = (0..<1700).map { SummaryPoint(micros: start + Int64($0) * 1_000_000, value: $0 % 2 == 0 ? a : b) }
        let hrv = try HeartRateVariability(clock: berlin, windowMicros: 3_600_000_000, minimumDifferences: 1)
        let w = hrv.windows(series)
        #expect(w.count == 1)
        #expect(w.first?.differences == 1699)
        #expect(w.first?.rmssdMilliseconds?.description == "330")
    }

    // MARK: from readings

    private func reading(
        _ kind: ReadingKind, _ components: [ReadingComponent], flags: ReadingFlags = [], meal: String? = nil
    ) -> Reading {
        var context = MeasurementContext()
        if let meal {
            var g = GlucoseContext(sequenceNumber: 7)
            g.meal = meal
            context.glucose = g
        }
        let time = TimeProvenance(
            deviceTimestamp: nil, receivedMicros: utc(2026, 10, 25, 6, 0), clock: nil, clockOffsetMicros: nil,
            decision: .receiveTime, effectiveMicros: utc(2026, 10, 25, 5, 59), localOffsetSeconds: 3600,
            syncMethod: "none")
        return Reading(
            kind: kind, components: components, subject: "alice", device: DeviceRecord(link: "le"),
            gateway: GatewayRecord(id: "gw", softwareVersion: "1"), context: context, time: time, flags: flags,
            characteristic: "0x2A35", rawPayloads: [])
    }

    @Test func pointsFromReadingsKeepTheExactValuesAndFlags() {
        let pressure = reading(
            .bloodPressure,
            [
                ReadingComponent(
                    metric: .systolicPressure, value: .quantity(DecimalQuantity(mantissa: 1205, exponent: -1)),
                    unit: "mm[Hg]"),
                ReadingComponent(metric: .diastolicPressure, value: .absent(.notANumber), unit: "mm[Hg]"),
            ], flags: [.irregularPulse])
        let point = BloodPressurePoint(reading: pressure)
        #expect(point?.micros == utc(2026, 10, 25, 5, 59))
        #expect(point?.systolic?.description == "120.5")
        #expect(point?.diastolic == nil)
        #expect(point?.flags == [.irregularPulse])
        #expect(BloodPressurePoint(reading: reading(.heartRate, [])) == nil)

        let strap = reading(
            .heartRate,
            [
                ReadingComponent(
                    metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: 62, exponent: 0)), unit: "/min"),
                ReadingComponent(
                    metric: .rrInterval, value: .quantity(DecimalQuantity(mantissa: 78125, exponent: -5)), unit: "s"),
                ReadingComponent(
                    metric: .rrInterval, value: .quantity(DecimalQuantity(mantissa: 80_078_125, exponent: -8)),
                    unit: "s"),
            ])
        #expect(
            SummaryPoint.points(of: .rrInterval, in: strap).map { $0.value?.description } == ["0.78125", "0.80078125"])
        #expect(SummaryPoint.points(of: .heartRate, in: strap).count == 1)

        let meter = reading(
            .glucose,
            [
                ReadingComponent(
                    metric: .glucose, value: .quantity(DecimalQuantity(mantissa: 95, exponent: -5)), unit: "kg/L")
            ], meal: "fasting")
        #expect(SummaryPoint.points(of: .glucose, in: meter).first?.meal == "fasting")
        #expect(SummaryPoint.points(of: .glucose, in: meter).first?.value?.description == "0.00095")
    }

    // MARK: glucose by meal

    private func glucose(_ micros: Int64, _ value: String?, _ meal: String?, _ flags: ReadingFlags = []) -> SummaryPoint
    {
        SummaryPoint(micros: micros, value: value.map(dec), flags: flags, meal: meal)
    }

    @Test func glucoseMeansByMealContext() {
        let points = [
            glucose(utc(2026, 10, 23, 22, 30), "112", ""),  // 00:30 CEST on the 24th, empty context → unspecified
            glucose(utc(2026, 10, 24, 5, 0), "95", "fasting"),  // 07:00 CEST
            glucose(utc(2026, 10, 24, 6, 0), "98", "fasting", [.sensorAnnunciation]),
            glucose(utc(2026, 10, 24, 10, 0), "102", "preprandial"),
            glucose(utc(2026, 10, 24, 12, 0), "145", "postprandial"),
            glucose(utc(2026, 10, 24, 14, 0), "130", "casual"),
            glucose(utc(2026, 10, 24, 18, 0), "110", nil),
            glucose(utc(2026, 10, 25, 6, 0), "100", "fasting"),  // 07:00 CET
            glucose(utc(2026, 10, 25, 6, 10), nil, "fasting"),  // NaN
            glucose(utc(2026, 10, 25, 11, 30), "99", "preprandial"),
            glucose(utc(2026, 10, 25, 13, 0), "152", "postprandial"),
            glucose(utc(2026, 10, 25, 13, 30), "160", "postprandial", [.testData]),  // control solution
            glucose(utc(2026, 10, 25, 21, 0), "120", "bedtime"),
            glucose(utc(2026, 10, 25, 22, 30), "125", "bedtime"),  // 23:30 CET: still the 25th
            glucose(utc(2026, 10, 25, 23, 30), "500", "fasting"),  // 00:30 CET on the 26th: outside the span
        ]
        let summary = GlucoseByMeal(clock: berlin).summarize(
            points, from: date("2026-10-24"), through: date("2026-10-25"))
        #expect(summary.places == 1)
        #expect(
            summary.meals.map(\.meal) == ["fasting", "preprandial", "postprandial", "casual", "bedtime", "unspecified"])
        let means = Dictionary(uniqueKeysWithValues: summary.meals.map { ($0.meal, $0) })
        #expect(means["fasting"]?.mean?.description == "97.5")  // (95+100)/2
        #expect(means["fasting"]?.count == 2)
        #expect(means["fasting"]?.excluded.total == 2)
        #expect(
            means["fasting"]?.excluded["sensor_annunciation"] == 1 && means["fasting"]?.excluded["value_absent"] == 1)
        #expect(means["preprandial"]?.mean?.description == "100.5")  // (102+99)/2
        #expect(means["postprandial"]?.mean?.description == "148.5")  // (145+152)/2
        #expect(means["postprandial"]?.excluded["test_data"] == 1)
        #expect(means["casual"]?.mean?.description == "130.0")
        #expect(means["bedtime"]?.mean?.description == "122.5")  // (120+125)/2
        #expect(means["unspecified"]?.mean?.description == "111.0")  // (112+110)/2
        #expect(means["unspecified"]?.count == 2)
        #expect(summary.excluded.total == 3)

        #expect(summary.days.map(\.day.description) == ["2026-10-24", "2026-10-25"])
        let d24 = Dictionary(uniqueKeysWithValues: summary.days[0].meals.map { ($0.meal, $0) })
        let d25 = Dictionary(uniqueKeysWithValues: summary.days[1].meals.map { ($0.meal, $0) })
        #expect(d24["fasting"]?.mean?.description == "95.0" && d24["fasting"]?.excluded.total == 1)
        #expect(d24["unspecified"]?.mean?.description == "111.0")
        #expect(d24["bedtime"] == nil)
        #expect(d25["fasting"]?.mean?.description == "100.0" && d25["fasting"]?.excluded["value_absent"] == 1)
        #expect(d25["postprandial"]?.mean?.description == "152.0")
        #expect(d25["bedtime"]?.mean?.description == "122.5")
        #expect(d25["bedtime"]?.count == 2)
    }

    @Test func glucoseInKilogramsPerLitreKeepsItsResolution() {
        let points = [
            glucose(utc(2026, 10, 24, 5, 0), "0.00095", "fasting"),
            glucose(utc(2026, 10, 25, 5, 0), "0.00098", "fasting"),
            glucose(utc(2026, 10, 26, 5, 0), "0.00101", "fasting"),
            glucose(utc(2026, 10, 26, 12, 0), "0.0014", "postprandial"),
        ]
        let summary = GlucoseByMeal(clock: tokyo).summarize(
            points, from: date("2026-10-24"), through: date("2026-10-26"))
        #expect(summary.places == 6)
        #expect(summary.meals.first?.mean?.description == "0.000980")  // 0.00294 / 3
        #expect(summary.meals.last?.mean?.description == "0.001400")
        let fixed = GlucoseByMeal(clock: tokyo, places: 4).summarize(
            points, from: date("2026-10-24"), through: date("2026-10-26"))
        #expect(fixed.meals.first?.mean?.description == "0.0010")  // 0.00098 → 0.0010
    }
}
