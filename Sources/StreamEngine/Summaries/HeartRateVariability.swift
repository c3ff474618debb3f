import Provenance
import TimeSeries

/// RMSSD of one window and what went into it.
public struct RMSSDWindow: Hashable, Sendable {
    public var window: MeasurementWindow
    /// Root mean square of successive differences, in milliseconds, rounded half to even at the calculator's
    /// `places`; nil when the window has fewer than `minimumDifferences` usable differences.
    public var rmssdMilliseconds: DecimalValue?
    /// Intervals accepted (clean, plausible, no jump).
    public var intervalsUsed: Int
    /// Successive differences in the mean.
    public var differences: Int
    /// Intervals left out, by reason: flag labels ("no_sensor_contact"), "value_absent", "out_of_range",
    /// "artefact_jump".
    public var excluded: ExclusionCount
}

/// Heart-rate variability as RMSSD per window (default 5 minutes, aligned to the local clock) from RR intervals
/// in seconds (exact: BLE sends 1/1024 s ticks, so 0.78125 s stays 0.78125).
///
/// RMSSD = √( Σ (RRᵢ₊₁ − RRᵢ)² / N ), N the number of successive differences (Task Force of the ESC and NASPE,
/// "Heart rate variability: standards of measurement…", Circulation 1996;93:1043 — 5-minute short-term
/// recordings). A difference is used only between two **accepted** intervals that are adjacent in the stream (no
/// sample between them, at most `maximumGapMicros` apart) and in the same window; so no difference ever spans a
/// dropped beat, a lost connection or a window edge. An interval is excluded (and counted) when:
/// - it carries an `excluding` flag (no sensor contact, test data, …) or has no value;
/// - `out_of_range`: outside `plausible` (default 0.3–2.0 s, i.e. 200–30 /min);
/// - `artefact_jump`: it differs from the interval just before it by more than `maximumChange` (default 0.2)
///   of that interval — Malik's 20 % rule (Malik et al., Eur Heart J 1989;10:1060) against ectopic beats and
///   missed detections. "Just before" is the previous sample when it is clean and plausible (even if it was itself
///   a jump) and no more than `maximumGapMicros` earlier; otherwise there is nothing to compare with and the
///   interval stands on its range alone. Comparing with the raw predecessor rather than the last accepted one
///   cannot lock out a genuine change of rhythm; it may drop a good beat after an artefact, which only lowers
///   the counts reported.
///
/// Exactness: differences and their squares are summed exactly (`ExactDecimal`), and the square root is exact
/// too — an integer square root of the scaled mean, rounded half to even by an integer comparison — so RMSSD is
/// correctly rounded and identical on every platform. Only if a 128-bit sum overflowed (values with absurd
/// precision; never BLE's 10-decimal ticks) is it computed in `Double` instead.
public struct HeartRateVariability: Sendable {
    public let clock: LocalClock
    public let windowMicros: Int64
    public let plausible: ClosedRange<DecimalValue>
    public let maximumChange: DecimalValue
    public let maximumGapMicros: Int64
    /// Fewer differences than this and the window reports counts but no RMSSD. Default 30 (half a minute of
    /// beats at 60 /min): fewer give an RMSSD too noisy to show as a number.
    public let minimumDifferences: Int
    public let excluding: ReadingFlags
    /// Decimal places of the RMSSD in ms (default 0: whole milliseconds — a tick is 0.98 ms).
    public let places: Int

    public init(
        clock: LocalClock, windowMicros: Int64 = 300_000_000,
        plausible: ClosedRange<DecimalValue> = DecimalValue(
            mantissa: 3, exponent: -1)...DecimalValue(mantissa: 2, exponent: 0),
        maximumChange: DecimalValue = DecimalValue(mantissa: 2, exponent: -1), maximumGapMicros: Int64 = 5_000_000,
        minimumDifferences: Int = 30, excluding: ReadingFlags = .doubtful, places: Int = 0
    ) throws(SummaryError) {
        guard windowMicros > 0, windowMicros <= LocalClock.microsPerDay else {
            throw .invalidWindow("HRV window must be 1 µs…1 day, got \(windowMicros) µs")
        }
        guard maximumChange.mantissa >= 0, maximumGapMicros >= 0, minimumDifferences >= 1, (0...9).contains(places)
        else {
            throw .invalidWindow("HRV limits must be non-negative, minimum differences ≥ 1, places 0…9")
        }
        self.clock = clock
        self.windowMicros = windowMicros
        self.plausible = plausible
        self.maximumChange = maximumChange
        self.maximumGapMicros = maximumGapMicros
        self.minimumDifferences = minimumDifferences
        self.excluding = excluding
        self.places = places
    }

    /// One result per window that holds at least one interval, in time order.
    public func windows(_ intervals: [SummaryPoint]) -> [RMSSDWindow] {
        // Time order; intervals of one notification share a timestamp and keep their beat order. (A day's intervals
        // come in order from the store: they are sorted only when they are not.)
        let inOrder = zip(intervals, intervals.dropFirst()).allSatisfy { $0.micros <= $1.micros }
        let ordered =
            inOrder
            ? intervals
            : intervals.enumerated().sorted { ($0.element.micros, $0.offset) < ($1.element.micros, $1.offset) }
                .map(\.element)
        var results: [RMSSDWindow] = []
        var squares = SquareSum()
        // The previous sample: its time, its value if clean and plausible, whether accepted, and its window.
        var previous: (micros: Int64, reference: DecimalValue?, accepted: Bool, window: Int64)?
        // The plausible range at the intervals' exponent (a strap's are all ticks of 1/1024 s, one exponent).
        var bounds: (exponent: Int8, range: ClosedRange<Int128>?)?

        for point in ordered {
            let window = clock.measurementWindow(containing: point.micros, widthMicros: windowMicros)
            if results.last?.window.startMicros != window.startMicros {
                if !results.isEmpty { results[results.count - 1].rmssdMilliseconds = rmssd(squares) }
                results.append(
                    RMSSDWindow(
                        window: window, rmssdMilliseconds: nil, intervalsUsed: 0, differences: 0,
                        excluded: ExclusionCount()))
                squares = SquareSum()
            }
            let adjacent = previous.map { point.micros - $0.micros <= maximumGapMicros } ?? false
            var reasons =
                point.value != nil && point.flags.isDisjoint(with: excluding)
                ? []
                : ExclusionCount.reasons(flags: point.flags, hasValue: point.value != nil, excluding: excluding)
            var reference: DecimalValue?
            if reasons.isEmpty, let value = point.value {
                if bounds?.exponent != value.exponent { bounds = (value.exponent, plausibleRange(at: value.exponent)) }
                let isPlausible = bounds?.range.map { $0.contains(Int128(value.mantissa)) } ?? plausible.contains(value)
                if !isPlausible {
                    reasons = ["out_of_range"]
                } else {
                    reference = value
                    if adjacent, let before = previous?.reference, isJump(from: before, to: value) {
                        reasons = ["artefact_jump"]
                    }
                }
            }
            let accepted = reasons.isEmpty
            if accepted, let value = reference {
                results[results.count - 1].intervalsUsed += 1
                if adjacent, let previous, previous.accepted, previous.window == window.startMicros,
                    let before = previous.reference
                {
                    squares.add(difference(value, before))
                    results[results.count - 1].differences += 1
                }
            } else {
                results[results.count - 1].excluded.record(reasons)
            }
            previous = (point.micros, reference, accepted, window.startMicros)
        }
        if !results.isEmpty { results[results.count - 1].rmssdMilliseconds = rmssd(squares) }
        return results
    }

    /// The plausible range as mantissas at `exponent`, so a value of that exponent is checked with two integer
    /// comparisons; nil when a bound has digits finer than `exponent` (then `plausible.contains` decides).
    private func plausibleRange(at exponent: Int8) -> ClosedRange<Int128>? {
        guard let low = Self.mantissa(plausible.lowerBound, at: exponent),
            let high = Self.mantissa(plausible.upperBound, at: exponent), low <= high
        else { return nil }
        return low...high
    }

    /// `value`'s mantissa at `exponent` (at most 18 places finer than its own), exactly; nil when it would lose digits.
    static func mantissa(_ value: DecimalValue, at exponent: Int8) -> Int128? {
        let shift = Int(value.exponent) - Int(exponent)
        guard (0...18).contains(shift) else { return nil }
        return Int128(value.mantissa) * SummaryMath.powerOfTen(shift)
    }

    /// |value − before| > maximumChange × before, exactly. An arithmetic overflow counts as a jump (left out).
    private func isJump(from before: DecimalValue, to value: DecimalValue) -> Bool {
        // One exponent (every interval of a strap) and a limit given to at most 18 places: with c = m × 10^k,
        // |v − b| > c × b is |v_m − b_m| × 10^−k > m × b_m on the mantissas, in 128 bits without overflow.
        if before.exponent == value.exponent, maximumChange.exponent <= 0, maximumChange.exponent >= -18 {
            let change = (Int128(value.mantissa) - Int128(before.mantissa)).magnitude
            let scaled = Int128(change) * SummaryMath.powerOfTen(-Int(maximumChange.exponent))
            return scaled > Int128(maximumChange.mantissa) * Int128(before.mantissa)
        }
        guard let change = difference(value, before).exact,
            let limit = ExactDecimal(maximumChange).multiplied(by: ExactDecimal(before))
        else { return true }
        let magnitude =
            change.mantissa < 0 ? ExactDecimal(mantissa: -change.mantissa, exponent: change.exponent) : change
        return magnitude.compare(limit) > 0
    }

    private func difference(_ a: DecimalValue, _ b: DecimalValue) -> (exact: ExactDecimal?, approximate: Double) {
        // One exponent: the difference of the mantissas (what `adding` gives then, without scaling either).
        let exact =
            a.exponent == b.exponent && a.mantissa != 0 && b.mantissa != 0
            ? ExactDecimal(mantissa: Int128(a.mantissa) - Int128(b.mantissa), exponent: Int(a.exponent))
            : ExactDecimal(a).adding(ExactDecimal(mantissa: -Int128(b.mantissa), exponent: Int(b.exponent)))
        return (exact, a.doubleValue - b.doubleValue)
    }

    private func rmssd(_ squares: SquareSum) -> DecimalValue? {
        guard squares.count >= minimumDifferences, let exponent = Int8(exactly: -places) else { return nil }
        if let sum = squares.exact, let root = exactRoot(sum, count: squares.count) {
            return DecimalValue(mantissa: root, exponent: exponent)
        }
        // Fallback for sums beyond 128 bits only: the one place this summary goes through Double.
        var scale = 1000.0
        for _ in 0..<places { scale *= 10 }
        let ms = (squares.approximate / Double(squares.count)).squareRoot() * scale
        return Int64(exactly: ms.rounded(.toNearestOrEven)).map { DecimalValue(mantissa: $0, exponent: exponent) }
    }

    /// round(√(sum / n) × 10^(3 + places)) with sum = m × 10^e s²: √(m × 10^(e + 6 + 2·places) / n), one integer
    /// fraction under the root.
    private func exactRoot(_ sum: ExactDecimal, count: Int) -> Int64? {
        let shift = sum.exponent + 6 + 2 * places
        var numerator = sum.mantissa
        var denominator = Int128(count)
        if shift >= 0 {
            guard let scaled = SummaryMath.times(numerator, powerOfTen: shift) else { return nil }
            numerator = scaled
        } else {
            guard let scaled = SummaryMath.times(denominator, powerOfTen: -shift) else { return nil }
            denominator = scaled
        }
        return SummaryMath.squareRootRoundingHalfEven(numerator, over: denominator).flatMap { Int64(exactly: $0) }
    }
}

/// Σ d² exactly, with a Double shadow used only if the exact sum overflows.
private struct SquareSum {
    var exact: ExactDecimal? = .zero
    var approximate = 0.0
    var count = 0

    mutating func add(_ d: (exact: ExactDecimal?, approximate: Double)) {
        count += 1
        exact = exact.flatMap { sum in d.exact.flatMap { $0.multiplied(by: $0) }.flatMap { sum.adding($0) } }
        approximate += d.approximate * d.approximate
    }
}
