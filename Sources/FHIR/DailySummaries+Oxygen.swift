import Provenance
import StreamEngine
import TimeSeries

extension DailySummaries {
    /// SpO2 below this is what a night's summary counts time for (the usual desaturation threshold).
    static let desaturationThreshold = DecimalValue(mantissa: 90, exponent: 0)
    /// Two clean samples at most this far apart are a continuous stretch: the time between them counts. Spot-checks
    /// hours apart count as readings below the threshold, not as hours spent there.
    static let continuousGapMicros: Int64 = 10_000_000

    /// The lowest clean SpO2 of the day (value), the time spent below 90 % (seconds) and the number of readings below
    /// it, from the day's samples of the person's oximeters only: a night of 1 Hz values is one day's samples, never
    /// the history.
    func oxygenSaturation(_ c: Context) throws -> [Summary] {
        guard let store = try sampleStore() else { return [] }
        let ids = series(c, .oxygenSaturation, in: store)
        guard !ids.isEmpty else { return [] }
        let day = c.startMicros..<clock.start(of: c.day.adding(days: 1))
        let all = try points(ids, in: day, store: store)
        let clean = all.compactMap { point in
            point.flags.isDisjoint(with: leftOut) ? point.value.map { (micros: point.micros, value: $0) } : nil
        }
        let excluded = all.count - clean.count
        guard let lowest = clean.min(by: { $0.value < $1.value }) else {
            guard excluded > 0 else { return [] }
            let kind = Kind.lowestOxygenSaturation
            let resource = c.observation(
                kind, id: c.id(kind), effective: ("effectiveDateTime", .string(c.day.description)),
                notes: ["No clean reading: \(excluded) left out as doubtful."], count: 0)
            return [Summary(kind: kind, resource: resource, effectiveMicros: c.startMicros)]
        }
        var belowMicros: Int64 = 0
        var belowCount = 0
        for (index, point) in clean.enumerated() where point.value < Self.desaturationThreshold {
            belowCount += 1
            if index + 1 < clean.count {
                let gap = clean[index + 1].micros - point.micros
                if gap <= Self.continuousGapMicros { belowMicros += gap }
            }
        }
        // Whole seconds (the samples' spacing is a second or more; the microseconds would be noise).
        let seconds = DecimalQuantity(mantissa: belowMicros / 1_000_000, exponent: 0)
        func component(_ code: String, _ display: String, _ key: String, _ value: ExactJSON) -> ExactJSON {
            .obj(["code": Element.codeable([Concept(Self.codeSystem, code, display)], text: display), key: value])
        }
        let kind = Kind.lowestOxygenSaturation
        let resource = c.observation(
            kind, id: c.id(kind),
            effective: (
                "effectivePeriod",
                .obj(["start": .string(c.time(clean[0].micros)), "end": .string(c.time(clean[clean.count - 1].micros))])
            ),
            valueQuantity: Element.quantity(DecimalQuantity(lowest.value), ucum: "%"),
            components: [
                component(
                    "spo2-time-below-90", "Time below 90 %", "valueQuantity", Element.quantity(seconds, ucum: "s")),
                component("spo2-count-below-90", "Readings below 90 %", "valueInteger", .integer(belowCount)),
            ],
            notes: [
                "Lowest of \(clean.count) clean SpO2 value\(clean.count == 1 ? "" : "s") at \(c.time(lowest.micros)); time below 90 % counts "
                    + "only between values at most 10 s apart (a continuous recording).",
                excluded > 0 ? "\(excluded) value\(excluded == 1 ? "" : "s") left out as doubtful." : "",
            ],
            count: clean.count)
        return [Summary(kind: kind, resource: resource, effectiveMicros: clean[0].micros)]
    }
}
