import Provenance
import TimeSeries

/// The mean glucose of one meal context.
public struct GlucoseMealMean: Hashable, Sendable {
    /// The meter's meal context ("fasting", "preprandial", …) or `GlucoseByMeal.unspecified`.
    public var meal: String
    /// In the readings' own unit (exact decimals: mg/dL or kg/L as given), rounded half to even.
    public var mean: DecimalValue?
    public var count: Int
    public var excluded: ExclusionCount
}

/// One local day's glucose by meal context.
public struct GlucoseMealDay: Hashable, Sendable {
    public var day: LocalDate
    public var meals: [GlucoseMealMean]
}

/// Glucose by meal context over a span of local days, and per day.
public struct GlucoseMealSummary: Hashable, Sendable {
    public var from: LocalDate
    public var through: LocalDate
    /// Decimal places the means were rounded to.
    public var places: Int
    public var meals: [GlucoseMealMean]
    public var days: [GlucoseMealDay]
    /// All readings left out over the span, by reason.
    public var excluded: ExclusionCount
}

/// Glucose means split by meal context (fasting, preprandial, postprandial, casual, bedtime — the Bluetooth
/// Glucose Measurement Context's meal field), because a glucose value means something only against when the
/// person last ate: fasting and pre-meal targets differ from post-meal ones. Readings without a meal context go
/// to "unspecified" rather than being guessed into one.
///
/// Readings are taken by the local date they were measured on, from `from` through `through` inclusive. Clean
/// readings only (no `excluding` flag — by default `ReadingFlags.doubtful`, which includes sensor annunciations
/// and control-solution test data — and a value); the others are counted by reason per meal context. Means are
/// exact, rounded half to even at `places`, or, when `places` is nil, at one decimal place finer than the finest
/// clean reading in the span (mg/dL integers → 0.1; kg/L at 0.00001 → 0.000001), the same for every mean of the
/// summary. The unit is the caller's: every point must be in the same one.
public struct GlucoseByMeal: Sendable {
    public static let unspecified = "unspecified"
    /// Reporting order; other contexts follow alphabetically, then "unspecified".
    public static let mealOrder = ["fasting", "preprandial", "postprandial", "casual", "bedtime"]

    public var clock: LocalClock
    public var excluding: ReadingFlags
    public var places: Int?

    public init(clock: LocalClock, excluding: ReadingFlags = .doubtful, places: Int? = nil) {
        self.clock = clock
        self.excluding = excluding
        self.places = places
    }

    public func summarize(_ points: [SummaryPoint], from: LocalDate, through: LocalDate) -> GlucoseMealSummary {
        var overall: [String: Bucket] = [:]
        var daily: [LocalDate: [String: Bucket]] = [:]
        var finest = ExactMean()
        var excluded = ExclusionCount()
        for point in points {
            let day = clock.date(at: point.micros)
            guard day >= from && day <= through else { continue }
            let meal = point.meal.flatMap { $0.isEmpty ? nil : $0 } ?? Self.unspecified
            let reasons = ExclusionCount.reasons(flags: point.flags, hasValue: point.value != nil, excluding: excluding)
            if reasons.isEmpty, let value = point.value {
                overall[meal, default: Bucket()].mean.add(value)
                daily[day, default: [:]][meal, default: Bucket()].mean.add(value)
                finest.add(value)
            } else {
                overall[meal, default: Bucket()].excluded.record(reasons)
                daily[day, default: [:]][meal, default: Bucket()].excluded.record(reasons)
                excluded.record(reasons)
            }
        }
        let places = places ?? max(0, -(finest.finestExponent ?? 0)) + 1
        return GlucoseMealSummary(
            from: from, through: through, places: places, meals: Self.report(overall, places: places),
            days: daily.keys.sorted().map {
                GlucoseMealDay(day: $0, meals: Self.report(daily[$0] ?? [:], places: places))
            },
            excluded: excluded)
    }

    private struct Bucket {
        var mean = ExactMean()
        var excluded = ExclusionCount()
    }

    private static func report(_ buckets: [String: Bucket], places: Int) -> [GlucoseMealMean] {
        func rank(_ meal: String) -> (Int, String) {
            if let i = mealOrder.firstIndex(of: meal) { return (i, "") }
            return meal == unspecified ? (mealOrder.count + 1, "") : (mealOrder.count, meal)
        }
        return buckets.keys.sorted { rank($0) < rank($1) }.compactMap { meal in
            buckets[meal].map {
                GlucoseMealMean(
                    meal: meal, mean: $0.mean.value(places: places), count: $0.mean.count, excluded: $0.excluded)
            }
        }
    }
}
