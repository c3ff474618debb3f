import Provenance
import TimeSeries

/// One measured number to summarise: heart rate, an RR interval or a glucose concentration.
public struct SummaryPoint: Hashable, Sendable {
    /// When it was measured, UTC µs since 1970.
    public var micros: Int64
    /// The exact value; nil when the device sent no number (NaN, NRes, ±INFINITY, reserved).
    public var value: DecimalValue?
    public var flags: ReadingFlags
    /// Glucose only: the meal context as the meter named it ("fasting", "preprandial", "postprandial",
    /// "casual", "bedtime"); nil when the meter sent none.
    public var meal: String?

    public init(micros: Int64, value: DecimalValue?, flags: ReadingFlags = [], meal: String? = nil) {
        self.micros = micros
        self.value = value
        self.flags = flags
        self.meal = meal
    }

    /// Every component of `metric` in a reading, in order (a heart-rate notification can carry several RR
    /// intervals; they share the reading's time and stay in beat order).
    public static func points(of metric: Metric, in reading: Reading) -> [SummaryPoint] {
        reading.components.filter { $0.metric == metric }.map {
            SummaryPoint(
                micros: reading.time.effectiveMicros, value: $0.value.quantity.map(DecimalValue.init),
                flags: reading.flags, meal: reading.context.glucose?.meal)
        }
    }
}

/// One blood-pressure reading: systolic and diastolic belong together, so they are summarised together.
public struct BloodPressurePoint: Hashable, Sendable {
    public var micros: Int64
    public var systolic: DecimalValue?
    public var diastolic: DecimalValue?
    public var flags: ReadingFlags

    public init(micros: Int64, systolic: DecimalValue?, diastolic: DecimalValue?, flags: ReadingFlags = []) {
        self.micros = micros
        self.systolic = systolic
        self.diastolic = diastolic
        self.flags = flags
    }

    /// The pressures of a blood-pressure reading; nil for any other kind of reading.
    public init?(reading: Reading) {
        guard reading.kind == .bloodPressure else { return nil }
        self.init(
            micros: reading.time.effectiveMicros,
            systolic: reading.component(.systolicPressure)?.value.quantity.map(DecimalValue.init),
            diastolic: reading.component(.diastolicPressure)?.value.quantity.map(DecimalValue.init),
            flags: reading.flags)
    }
}

extension DecimalValue {
    /// The store's decimal from the reading model's: the same (mantissa, exponent), nothing rounded.
    public init(_ quantity: DecimalQuantity) { self.init(mantissa: quantity.mantissa, exponent: quantity.exponent) }
}

/// How many readings a summary left out, and why (DESIGN.md rule 5: doubtful readings are excluded by default
/// and counted, so the exclusion is visible).
///
/// `total` counts readings; `byReason` counts each reason a reading had, so one reading with body movement and
/// an irregular pulse adds 1 to `total` and 1 to each of the two reasons. Reasons are `ReadingFlags.labels`
/// ("body_movement", "test_data", "value_absent", …) plus the calculators' own ("out_of_range", "artefact_jump").
public struct ExclusionCount: Hashable, Sendable {
    public private(set) var total = 0
    public private(set) var byReason: [String: Int] = [:]

    public init() {}

    /// A reading that had no number.
    public static let valueAbsent = "value_absent"

    public var isEmpty: Bool { total == 0 }

    /// The count for one reason (0 when none).
    public subscript(reason: String) -> Int { byReason[reason, default: 0] }

    /// Counts one excluded reading under each of its reasons.
    public mutating func record(_ reasons: [String]) {
        total += 1
        for reason in reasons { byReason[reason, default: 0] += 1 }
    }

    public mutating func merge(_ other: ExclusionCount) {
        total += other.total
        for (reason, n) in other.byReason { byReason[reason, default: 0] += n }
    }

    /// Why a reading is left out of a summary; empty when it is clean. A reading is left out when it carries any
    /// of the `excluding` flags (by default `ReadingFlags.doubtful`), and always when it has no number — a NaN
    /// is not a value whatever the flags say.
    public static func reasons(flags: ReadingFlags, hasValue: Bool, excluding: ReadingFlags) -> [String] {
        var reasons = flags.intersection(excluding).labels
        if !hasValue && !reasons.contains(valueAbsent) { reasons.append(valueAbsent) }
        return reasons
    }
}
