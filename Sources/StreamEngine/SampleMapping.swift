import Provenance
import TimeSeries

/// How a reading lands in the store: one sample per component, in series (subject, device, metric), at the
/// reading's effective time, with its flags; a glucose reading's meal context as the sample's tag.
enum SampleMapping {
    /// Meal context tags (0 = none), so summaries can split glucose by meal from the store alone.
    static let mealTags: [String: UInt32] = [
        "preprandial": 1, "postprandial": 2, "fasting": 3, "casual": 4, "bedtime": 5,
    ]

    static func seriesKey(_ reading: Reading, _ component: ReadingComponent) -> SeriesKey? {
        guard let subject = reading.subject else { return nil }
        return SeriesKey(subject: subject, device: reading.device.key, metric: component.metric.rawValue)
    }

    /// An absent value (NaN, NRes…) is stored as 0 with the `valueAbsent` flag, so it is counted where
    /// doubtful readings are counted and never averaged (every summary excludes doubtful flags by default).
    /// `tag` is a series reading's provenance entry (`SeriesReadings`), replacing the meal tag (glucose is never one).
    static func sample(_ reading: Reading, _ component: ReadingComponent, tag seriesTag: UInt32? = nil) -> Sample {
        let value: DecimalValue
        switch component.value {
        case .quantity(let quantity): value = DecimalValue(mantissa: quantity.mantissa, exponent: quantity.exponent)
        case .absent: value = DecimalValue(mantissa: 0, exponent: 0)
        }
        var flags = reading.flags
        if case .absent = component.value { flags.insert(.valueAbsent) }
        let tag = seriesTag ?? reading.context.glucose?.meal.flatMap { mealTags[$0] }
        return Sample(
            timestampMicros: reading.time.effectiveMicros, value: value, flags: flags.rawValue, contextTag: tag)
    }

    static func seriesSamples(_ reading: Reading, store: TimeSeriesStore, tag: UInt32? = nil) throws -> [SeriesSample] {
        try reading.components.compactMap { component in
            guard let key = seriesKey(reading, component) else { return nil }
            return SeriesSample(series: try store.series(key), sample: sample(reading, component, tag: tag))
        }
    }
}
