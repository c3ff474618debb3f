import Provenance
import StreamEngine

extension DailySummaries {
    static let weekMicros: Int64 = 7 * 86_400_000_000
    static let dayMicros: Int64 = 86_400_000_000

    /// The day's last clean weight against the clean weighing nearest to a week before it (6 to 8 days earlier, in the
    /// same unit): the change, exact, with both weights as components — what a heart-failure plan watches (a gain of
    /// 2 kg in a week). It reads the day's weighings and that week-before window only.
    func weightChange(_ c: Context) throws -> [Summary] {
        let span = Self.utcSpan(of: c.day)
        func clean(_ readings: [Reading]) -> [(micros: Int64, value: DecimalQuantity, unit: String)] {
            readings.compactMap { reading in
                guard reading.flags.isDisjoint(with: leftOut), let component = reading.component(.bodyWeight),
                    let value = component.value.quantity
                else { return nil }
                return (reading.time.effectiveMicros, value, component.unit)
            }
        }
        let today = clean(
            try readings(subject: c.subject, from: span.lowerBound, to: span.upperBound, kind: .bodyWeight)
        )
        .filter { clock.date(at: $0.micros) == c.day }
        guard let latest = today.max(by: { $0.micros < $1.micros }) else { return [] }
        let target = latest.micros - Self.weekMicros
        let window = try readings(
            subject: c.subject, from: target - Self.dayMicros, to: target + Self.dayMicros + 1, kind: .bodyWeight)
        guard
            let reference = clean(window).filter({ $0.unit == latest.unit })
                .min(by: { abs($0.micros - target) < abs($1.micros - target) }),
            let change = latest.value.subtracting(reference.value)
        else { return [] }
        func component(_ code: String, _ display: String, _ value: DecimalQuantity) -> ExactJSON {
            .obj([
                "code": Element.codeable([Concept(Self.codeSystem, code, display)], text: display),
                "valueQuantity": Element.quantity(value, ucum: latest.unit),
            ])
        }
        let kind = Kind.weightWeeklyChange
        let resource = c.observation(
            kind, id: c.id(kind),
            effective: (
                "effectivePeriod",
                .obj(["start": .string(c.time(reference.micros)), "end": .string(c.time(latest.micros))])
            ),
            valueQuantity: Element.quantity(change, ucum: latest.unit),
            components: [
                component("weight-latest", "Latest weight of the day", latest.value),
                component("weight-week-before", "Weight about a week before", reference.value),
            ],
            notes: [
                "The day's last clean weighing against the clean weighing nearest to 7 days before it (6 to 8 days)."
            ],
            count: 2)
        return [Summary(kind: kind, resource: resource, effectiveMicros: reference.micros)]
    }
}

extension DecimalQuantity {
    /// `self − other`, exactly (the finer exponent of the two); nil when it does not fit.
    func subtracting(_ other: DecimalQuantity) -> DecimalQuantity? {
        let exponent = min(exponent, other.exponent)
        func scaled(_ value: DecimalQuantity) -> Int64? {
            var mantissa = value.mantissa
            for _ in 0..<(Int(value.exponent) - Int(exponent)) {
                let (product, overflow) = mantissa.multipliedReportingOverflow(by: 10)
                if overflow { return nil }
                mantissa = product
            }
            return mantissa
        }
        guard let a = scaled(self), let b = scaled(other) else { return nil }
        let (difference, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? nil : DecimalQuantity(mantissa: difference, exponent: exponent)
    }
}
