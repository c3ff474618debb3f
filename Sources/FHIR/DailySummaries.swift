import Foundation
import Provenance
import StreamEngine
import TimeSeries

/// The clinical summaries of one person's local day as Observations: home blood pressure morning and evening,
/// resting heart rate, RMSSD, glucose by meal context, the lowest SpO2 and the time below 90 %, the weight's change over a week — what `gatewayd summary` prints, for a PHR and the API.
///
/// Each is computed from the stored readings of that day only (blood pressure and glucose from the archive's
/// index, heart rate and RR intervals from the store's samples), so its cost is one day's readings, and its id
/// comes from person, day and kind: a late reading revises the same resource.
public struct DailySummaries: Sendable {
    /// What each summary is, and the code it is searched by.
    public enum Kind: String, CaseIterable, Sendable {
        case morningBloodPressure = "home-bp-morning"
        case eveningBloodPressure = "home-bp-evening"
        case restingHeartRate = "resting-heart-rate"
        case rmssd = "rmssd"
        case glucoseByMeal = "glucose-by-meal"
        case lowestOxygenSaturation = "spo2-lowest"
        case weightWeeklyChange = "weight-weekly-change"

        /// The reading kind whose consent rules decide whether it may leave.
        public var readingKind: ReadingKind {
            switch self {
            case .morningBloodPressure, .eveningBloodPressure: .bloodPressure
            case .restingHeartRate, .rmssd: .heartRate
            case .glucoseByMeal: .glucose
            case .lowestOxygenSaturation: .oxygenSaturation
            case .weightWeeklyChange: .bodyWeight
            }
        }

        /// The store metric whose day windows, when revised, make this summary out of date.
        public var metric: Metric {
            switch readingKind {
            case .bloodPressure: .systolicPressure
            case .glucose: .glucose
            case .oxygenSaturation: .oxygenSaturation
            case .bodyWeight: .bodyWeight
            default: .heartRate
            }
        }

        /// gatewayd's own code first (it tells the kinds apart), then the standard one where there is one: LOINC
        /// 96607-7 is the self-measured blood pressure mean panel, 40443-4 the resting heart rate. RMSSD and a
        /// per-meal glucose mean have no LOINC or MDC term.
        var codings: [Concept] {
            let own = Concept(DailySummaries.codeSystem, rawValue, display)
            return switch self {
            case .morningBloodPressure, .eveningBloodPressure:
                [own, .loinc("96607-7", "Blood pressure panel mean systolic and mean diastolic")]
            case .restingHeartRate: [own, .loinc("40443-4", "Heart rate --resting")]
            case .rmssd, .glucoseByMeal, .lowestOxygenSaturation, .weightWeeklyChange: [own]
            }
        }

        /// `Observation.code` of this kind's summaries (what a `code` search parameter is matched against).
        public var code: ExactJSON { Element.codeable(codings, text: display) }

        var display: String {
            switch self {
            case .morningBloodPressure: "Morning home blood pressure mean"
            case .eveningBloodPressure: "Evening home blood pressure mean"
            case .restingHeartRate: "Resting heart rate"
            case .rmssd: "Heart rate variability (RMSSD), median of the day's 5-minute windows"
            case .glucoseByMeal: "Glucose mean by meal context"
            case .lowestOxygenSaturation: "Lowest oxygen saturation (SpO2) of the day, and time below 90 %"
            case .weightWeeklyChange: "Body weight change over the week"
            }
        }
    }

    /// gatewayd's code system for summaries no terminology names (a URN: it does not pretend to be resolvable).
    public static let codeSystem = "urn:gatewayd:fhir:summary-code"

    public let archive: ReadingArchive
    public let clock: LocalClock
    public let windows: DayPartWindows
    /// A test person's (the demo's): their summaries are made of test data and are labelled HTEST; a real person's
    /// leave test data out (`ReadingFlags.leftOutOfSummaries`).
    public let testSubject: Bool
    /// A block of days' readings read at once (`prefetching`); nil: each day asks the archive.
    public internal(set) var prefetched: PrefetchedReadings?

    public init(
        archive: ReadingArchive, clock: LocalClock, windows: DayPartWindows = .standard, testSubject: Bool = false
    ) {
        self.archive = archive
        self.clock = clock
        self.windows = windows
        self.testSubject = testSubject
    }

    /// The readings every summary leaves out (and counts).
    var leftOut: ReadingFlags { .leftOutOfSummaries(testSubject: testSubject) }

    /// The first instant of a local day on this clock (UTC µs).
    public func startMicros(of day: LocalDate) -> Int64 { clock.start(of: day) }

    /// One summary Observation and the UTC instant it is sorted by (the start of what it summarises).
    public struct Summary: Sendable {
        public var kind: Kind
        public var resource: FHIRResource
        public var effectiveMicros: Int64
    }

    /// The summaries of `kinds` for `subject` on local `day`; a kind with nothing measured that day gives none.
    /// `issuedMicros`: when they are computed (a day not yet over is `preliminary`).
    public func summaries(subject: String, day: LocalDate, kinds: Set<Kind> = Set(Kind.allCases), issuedMicros: Int64)
        throws -> [Summary]
    {
        let context = Context(
            subject: subject, day: day, issuedMicros: issuedMicros, clock: clock, testSubject: testSubject)
        var out: [Summary] = []
        if !kinds.isDisjoint(with: [.morningBloodPressure, .eveningBloodPressure]) {
            out += try bloodPressure(context).filter { kinds.contains($0.kind) }
        }
        if !kinds.isDisjoint(with: [.restingHeartRate, .rmssd]) {
            out += try heart(context).filter { kinds.contains($0.kind) }
        }
        if kinds.contains(.glucoseByMeal) { out += try glucose(context) }
        if kinds.contains(.lowestOxygenSaturation) { out += try oxygenSaturation(context) }
        if kinds.contains(.weightWeeklyChange) { out += try weightChange(context) }
        return out
    }

    /// Every reading kind's UTC span that can hold the local day: ±14 h around its UTC midnight covers every zone.
    static func utcSpan(of day: LocalDate) -> Range<Int64> {
        let midnight = Int64(day.daysSince1970) * LocalClock.microsPerDay
        let margin: Int64 = 14 * 3_600_000_000
        return (midnight - margin)..<(midnight + LocalClock.microsPerDay + margin)
    }

    struct Context {
        var subject: String
        var day: LocalDate
        var issuedMicros: Int64
        var clock: LocalClock
        var testSubject: Bool

        /// The first instant of the day on the wall clock (UTC µs).
        var startMicros: Int64 { clock.start(of: day) }

        /// Over once the next local day has begun when the summary is made.
        var dayIsOver: Bool { clock.date(at: issuedMicros) > day }

        func id(_ kind: Kind, _ extra: String = "") -> String {
            "daily-"
                + ResourceIDs.sha256Hex(Array("gatewayd-daily\n\(kind.rawValue)\n\(subject)\n\(day)\n\(extra)".utf8))
                .prefix(40)
        }

        func time(_ micros: Int64) -> String {
            FHIRTime.dateTime(utcMicros: micros, offsetSeconds: Int(clock.offsetMicros(at: micros) / 1_000_000))
        }

        func observation(
            _ kind: Kind, id: String, effective: (key: String, json: ExactJSON), valueQuantity: ExactJSON? = nil,
            components: [ExactJSON] = [], notes: [String] = [], count: Int, text: String? = nil
        ) -> FHIRResource {
            let notes = notes.filter { !$0.isEmpty }
            return FHIRResource.make(
                "Observation", id: id,
                [
                    "meta": testSubject ? Element.testDataMeta : nil,
                    // How many readings went into it, in the CardX extension the AverageSMBP uses for the same fact.
                    "extension": .array([
                        .obj([
                            "url": .string(FHIRCodes.numberOfMeasurementsExtension),
                            "valueQuantity": .obj(["value": .integer(count)]),
                        ])
                    ]),
                    "identifier": .array([
                        .obj(["system": .string(SummaryMapper.summaryIdentifierSystem), "value": .string(id)])
                    ]),
                    "status": .string(dayIsOver ? "final" : "preliminary"),
                    "category": kind.readingKind == .glucose ? nil : .array([Element.vitalSignsCategory]),
                    "code": Element.codeable(kind.codings, text: text ?? kind.display),
                    "subject": Element.reference("Patient/" + subject),
                    "effectiveDateTime": effective.key == "effectiveDateTime" ? effective.json : nil,
                    "effectivePeriod": effective.key == "effectivePeriod" ? effective.json : nil,
                    "issued": .string(FHIRTime.instant(utcMicros: issuedMicros)),
                    "valueQuantity": valueQuantity,
                    "note": ExactJSON.list(notes.map { .obj(["text": .string($0)]) }),
                    "component": ExactJSON.list(components),
                ])
        }
    }

    static func excludedNote(_ excluded: ExclusionCount, of what: String) -> String {
        guard excluded.total > 0 else { return "" }
        let reasons = excluded.byReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
            separator: ", ")
        return "\(excluded.total) \(what)\(excluded.total == 1 ? "" : "s") left out as doubtful (\(reasons))."
    }

    // MARK: Blood pressure

    func bloodPressure(_ c: Context) throws -> [Summary] {
        let span = Self.utcSpan(of: c.day)
        let points = try readings(
            subject: c.subject, from: span.lowerBound, to: span.upperBound, kind: .bloodPressure
        )
        .compactMap(BloodPressurePoint.init(reading:))
        guard
            let day = HomeBloodPressureSummary(clock: clock, windows: windows, excluding: leftOut).days(points).first(
                where: { $0.day == c.day })
        else {
            return []
        }
        var out: [Summary] = []
        for (kind, mean, part) in [
            (Kind.morningBloodPressure, day.morning, windows.morning),
            (.eveningBloodPressure, day.evening, windows.evening),
        ] where mean.count + mean.excluded.total > 0 {
            func component(_ code: String, _ name: String, _ value: DecimalValue?) -> ExactJSON {
                let (key, json): (String, ExactJSON) =
                    value.map { ("valueQuantity", Element.quantity(DecimalQuantity($0), ucum: "mm[Hg]")) }
                    ?? (
                        "dataAbsentReason",
                        Element.dataAbsent(code: "not-performed", display: "Not Performed", text: "No clean reading")
                    )
                return .obj(["code": Element.codeable([.loinc(code, name)], text: name), key: json])
            }
            let effective: (String, ExactJSON) =
                if let first = mean.firstMicros, let last = mean.lastMicros {
                    ("effectivePeriod", .obj(["start": .string(c.time(first)), "end": .string(c.time(last))]))
                } else {
                    ("effectiveDateTime", .string(c.day.description))
                }
            let resource = c.observation(
                kind, id: c.id(kind), effective: effective,
                components: [
                    component("96608-5", "Systolic blood pressure mean", mean.systolic),
                    component("96609-3", "Diastolic blood pressure mean", mean.diastolic),
                ],
                notes: ["Readings between \(part) local time.", Self.excludedNote(mean.excluded, of: "reading")],
                count: mean.count)
            out.append(Summary(kind: kind, resource: resource, effectiveMicros: mean.firstMicros ?? c.startMicros))
        }
        return out
    }

    // MARK: Heart rate

    /// The person's series of `metric`, one per device.
    func series(_ c: Context, _ metric: Metric, in store: TimeSeriesStore) -> [SeriesID] {
        ReadModel.series(of: store, subject: c.subject, metric: metric).map(\.id)
    }

    /// The day's samples of `metric` in `range` from every device's series of the person, as summary points in time
    /// order (stable: RR intervals of one notification share its instant and stay in beat order).
    func points(_ ids: [SeriesID], in range: Range<Int64>, store: TimeSeriesStore) throws -> [SummaryPoint] {
        var points: [SummaryPoint] = []
        for id in ids {
            for sample in try store.scan(id, range: range).samples {
                let flags = ReadingFlags(rawValue: sample.flags)
                points.append(
                    SummaryPoint(
                        micros: sample.timestampMicros, value: flags.contains(.valueAbsent) ? nil : sample.value,
                        flags: flags))
            }
        }
        guard ids.count > 1 else { return points }
        return points.enumerated().sorted { ($0.element.micros, $0.offset) < ($1.element.micros, $1.offset) }.map(
            \.element)
    }

    /// Resting heart rate and RMSSD of the day, read the way `gatewayd summary` defines them but at a day's cost, not
    /// a history's: the resting rate from the store's 5-minute window sums (the same exact means, the lowest with at
    /// least 30 clean samples, compared without division), RMSSD an hour of RR intervals at a time (its windows
    /// never span an hour's edge, so nothing changes but the memory each pass holds).
    func heart(_ c: Context) throws -> [Summary] {
        guard let store = try sampleStore() else { return [] }
        let day = c.startMicros..<clock.start(of: c.day.adding(days: 1))
        var out: [Summary] = []
        let window: Int64 = 300_000_000
        var means: [Int64: (end: Int64, mean: ExactMean)] = [:]
        var excluded = 0
        for id in series(c, .heartRate, in: store) {
            let result = try store.windows(
                WindowQuery(
                    series: id, range: day, widthMicros: window, timeZone: clock.timeZone,
                    excludeFlags: leftOut.rawValue))
            for summary in result.windows {
                excluded += summary.excludedCount
                guard summary.aggregate.count > 0 else { continue }
                var entry = means[summary.startMicros] ?? (summary.endMicros, ExactMean())
                entry.mean.merge(ExactMean(summary.aggregate))
                means[summary.startMicros] = entry
            }
        }
        let candidates = means.filter { $0.value.mean.count >= 30 }.sorted { $0.key < $1.key }
        var lowest = candidates.first
        for candidate in candidates.dropFirst()
        where candidate.value.mean.compare(lowest?.value.mean ?? candidate.value.mean) == -1 {
            lowest = candidate
        }
        if let lowest, let rate = lowest.value.mean.value(places: 1) {
            let resource = c.observation(
                .restingHeartRate, id: c.id(.restingHeartRate),
                effective: (
                    "effectivePeriod",
                    .obj(["start": .string(c.time(lowest.key)), "end": .string(c.time(lowest.value.end))])
                ),
                valueQuantity: Element.quantity(DecimalQuantity(rate), ucum: "/min"),
                notes: [
                    "The lowest 5-minute mean heart rate of the day with at least 30 clean samples (\(lowest.value.mean.count) in it; "
                        + "\(candidates.count) window\(candidates.count == 1 ? "" : "s") qualified).",
                    excluded > 0 ? "\(excluded) sample\(excluded == 1 ? "" : "s") left out as doubtful." : "",
                ],
                count: lowest.value.mean.count)
            out.append(Summary(kind: .restingHeartRate, resource: resource, effectiveMicros: lowest.key))
        }

        let intervals = series(c, .rrInterval, in: store)
        let variability = try HeartRateVariability(clock: clock, excluding: leftOut)
        var measured: [RMSSDWindow] = []
        if !intervals.isEmpty {
            // An hour of intervals at a time: a day of a strap's RR held at once raised the API's peak RSS by ~20 MiB
            // (measured: 75 against 53 MiB); reading a chunk twice where it spans an hour's edge costs less.
            var hour = day.lowerBound
            while hour < day.upperBound {
                let end = min(hour + 3_600_000_000, day.upperBound)
                measured += variability.windows(try points(intervals, in: hour..<end, store: store))
                    .filter { $0.window.day == c.day && $0.rmssdMilliseconds != nil }
                hour = end
            }
        }
        if let median = Self.median(measured.compactMap(\.rmssdMilliseconds)), let first = measured.first,
            let last = measured.last
        {
            let differences = measured.reduce(0) { $0 + $1.differences }
            let resource = c.observation(
                .rmssd, id: c.id(.rmssd),
                effective: (
                    "effectivePeriod",
                    .obj([
                        "start": .string(c.time(first.window.startMicros)),
                        "end": .string(c.time(last.window.endMicros)),
                    ])
                ),
                valueQuantity: Element.quantity(DecimalQuantity(median), ucum: "ms"),
                notes: [
                    "Median RMSSD of \(measured.count) 5-minute window\(measured.count == 1 ? "" : "s") with at least 30 clean "
                        + "successive RR differences (\(differences) differences in all)."
                ],
                count: measured.count)
            out.append(Summary(kind: .rmssd, resource: resource, effectiveMicros: first.window.startMicros))
        }
        return out
    }

    /// The median, exact, at one more decimal place than the values (the mean of the two middle ones can end in .5,
    /// and an odd count is written at the same precision, so the digits do not depend on how many windows there were).
    static func median(_ values: [DecimalValue]) -> DecimalValue? {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return nil }
        let middle =
            sorted.count % 2 == 1
            ? [sorted[sorted.count / 2]] : [sorted[sorted.count / 2 - 1], sorted[sorted.count / 2]]
        return ExactMean(middle).value(extraPlaces: 1)
    }

    // MARK: Glucose

    func glucose(_ c: Context) throws -> [Summary] {
        let span = Self.utcSpan(of: c.day)
        let readings = try self.readings(
            subject: c.subject, from: span.lowerBound, to: span.upperBound, kind: .glucose)
        // One summary per unit: a mean of mg/dL and mmol/L readings together would be meaningless.
        var byUnit: [String: [SummaryPoint]] = [:]
        for reading in readings {
            for component in reading.components where component.metric == .glucose {
                byUnit[component.unit, default: []] += SummaryPoint.points(of: .glucose, in: reading)
            }
        }
        var out: [Summary] = []
        for (unit, points) in byUnit.sorted(by: { $0.key < $1.key }) {
            let summary = GlucoseByMeal(clock: clock, excluding: leftOut).summarize(points, from: c.day, through: c.day)
            for meal in summary.days.first(where: { $0.day == c.day })?.meals ?? []
            where meal.count + meal.excluded.total > 0 {
                var components: [ExactJSON] = []
                components.append(
                    meal.mean.map {
                        SummaryMapper.statistic("average", "Average", Element.quantity(DecimalQuantity($0), ucum: unit))
                    }
                        ?? SummaryMapper.statistic(
                            "average", "Average",
                            Element.dataAbsent(
                                code: "not-performed", display: "Not Performed", text: "No clean reading"),
                            key: "dataAbsentReason"))
                components.append(SummaryMapper.statistic("count", "Count", .integer(meal.count), key: "valueInteger"))
                if let concept = GlucoseContextObservations.meal.values[meal.meal] {
                    components.append(
                        .obj([
                            "code": Element.codeable(
                                [GlucoseContextObservations.meal.code], text: GlucoseContextObservations.meal.text),
                            "valueCodeableConcept": Element.codeable([concept], text: meal.meal),
                        ]))
                }
                let kind = Kind.glucoseByMeal
                let resource = c.observation(
                    kind, id: c.id(kind, meal.meal + "\n" + unit),
                    effective: ("effectiveDateTime", .string(c.day.description)),
                    components: components, notes: [Self.excludedNote(meal.excluded, of: "reading")], count: meal.count,
                    text: kind.display + ": " + meal.meal.replacingOccurrences(of: "_", with: " "))
                out.append(Summary(kind: kind, resource: resource, effectiveMicros: c.startMicros))
            }
        }
        return out
    }
}
