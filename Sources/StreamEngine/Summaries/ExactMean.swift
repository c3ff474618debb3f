import TimeSeries

/// An arithmetic mean kept exact: the sum of the values as an `ExactDecimal` (128-bit mantissa) and their count.
///
/// Nothing is rounded until the mean is read, and then exactly once: `value(places:)` divides the exact sum by
/// the count in integer arithmetic and rounds half to even ("banker's rounding", IEEE 754's default and the
/// rounding that does not drift upward over many summaries) at the stated number of decimal places. So the mean
/// of 120.5, 121 and 121 (362.5 / 3 = 120.8333…) is 120.8 at one place, never a binary approximation of it.
public struct ExactMean: Hashable, Sendable {
    /// nil once the sum no longer fits 128 bits (then the mean is absent rather than wrong).
    public private(set) var sum: ExactDecimal? = .zero
    public private(set) var count = 0
    /// The smallest exponent among the values (their finest resolution), for `value(extraPlaces:)`.
    public private(set) var finestExponent: Int?

    public init() {}

    /// The mean of a store aggregate (a window's count and exact sum). The sum's exponent stands for the values'
    /// finest resolution: exact sums are kept at the smallest exponent among the non-zero values.
    public init(_ aggregate: Aggregate) {
        count = aggregate.count
        sum = aggregate.sum
        finestExponent =
            aggregate.count > 0
            ? min(aggregate.sum?.exponent ?? 0, Int(aggregate.min?.exponent ?? 0), Int(aggregate.max?.exponent ?? 0))
            : nil
    }

    public init(_ values: some Sequence<DecimalValue>) {
        for value in values { add(value) }
    }

    public mutating func add(_ value: DecimalValue) {
        count += 1
        sum = sum.flatMap { $0.adding(ExactDecimal(value)) }
        finestExponent = min(finestExponent ?? Int(value.exponent), Int(value.exponent))
    }

    public mutating func merge(_ other: ExactMean) {
        guard other.count > 0 else { return }
        count += other.count
        sum = sum.flatMap { s in other.sum.flatMap { s.adding($0) } }
        finestExponent = min(finestExponent ?? Int.max, other.finestExponent ?? Int.max)
    }

    /// The mean rounded half to even at `places` decimal places (negative places round to tens, hundreds …);
    /// nil when there are no values or the result does not fit a `DecimalValue`.
    public func value(places: Int) -> DecimalValue? {
        guard count > 0, let sum, let exponent = Int8(exactly: -places) else { return nil }
        // mean × 10^places = sum.mantissa × 10^(sum.exponent + places) / count, as one integer fraction.
        let shift = sum.exponent + places
        var numerator = sum.mantissa
        var denominator = Int128(count)
        if shift >= 0 {
            guard let scaled = SummaryMath.times(numerator, powerOfTen: shift) else { return nil }
            numerator = scaled
        } else {
            guard let scaled = SummaryMath.times(denominator, powerOfTen: -shift) else { return nil }
            denominator = scaled
        }
        guard let mantissa = Int64(exactly: SummaryMath.divideRoundingHalfEven(numerator, by: denominator)) else {
            return nil
        }
        return DecimalValue(mantissa: mantissa, exponent: exponent)
    }

    /// The mean at `extraPlaces` more decimal places than the finest value (one more for integers gives 120.8;
    /// for glucose in kg/L at 0.00001 resolution, 0.000953).
    public func value(extraPlaces: Int) -> DecimalValue? {
        value(places: max(0, -(finestExponent ?? 0)) + extraPlaces)
    }

    /// Exact comparison of two means (-1, 0, 1): sumA × countB against sumB × countA, no division, no rounding.
    /// nil when either is empty or overflowed.
    public func compare(_ other: ExactMean) -> Int? {
        guard count > 0, other.count > 0, let a = sum, let b = other.sum,
            let left = a.multiplied(by: ExactDecimal(mantissa: Int128(other.count), exponent: 0)),
            let right = b.multiplied(by: ExactDecimal(mantissa: Int128(count), exponent: 0))
        else { return nil }
        return left.compare(right)
    }
}

/// Integer helpers for the summaries: exact rounding division and square root.
enum SummaryMath {
    /// 10^0 … 10^18 (callers keep to that range).
    private static let powersOfTen: [Int128] = (0...18).reduce(into: []) { powers, n in
        powers.append(n == 0 ? 1 : powers[n - 1] * 10)
    }

    /// 10^`power`, for 0 ≤ `power` ≤ 18.
    static func powerOfTen(_ power: Int) -> Int128 { powersOfTen[power] }

    /// n × 10^power, or nil on 128-bit overflow.
    static func times(_ n: Int128, powerOfTen power: Int) -> Int128? {
        guard power >= 0 else { return nil }
        var result = n
        for _ in 0..<power {
            let (next, overflow) = result.multipliedReportingOverflow(by: 10)
            if overflow { return nil }
            result = next
        }
        return result
    }

    /// numerator / denominator (denominator > 0) rounded to the nearest integer, ties to the even one.
    static func divideRoundingHalfEven(_ numerator: Int128, by denominator: Int128) -> Int128 {
        let (q, r) = numerator.quotientAndRemainder(dividingBy: denominator)
        let remainder = r.magnitude
        let rest = denominator.magnitude - remainder  // compare remainder with denominator/2 without overflow
        if remainder > rest || (remainder == rest && q & 1 != 0) { return numerator < 0 ? q - 1 : q + 1 }
        return q
    }

    /// ⌊√n⌋ for n ≥ 0, by Newton's iteration from above (exact; no floating point).
    static func integerSquareRoot(_ n: Int128) -> Int128 {
        guard n > 1 else { return max(n, 0) }
        let bits = Int128.bitWidth - n.leadingZeroBitCount
        var x: Int128 = 1 << ((bits + 1) / 2)  // ≥ √n
        while true {
            let y = (x + n / x) / 2
            if y >= x { return x }
            x = y
        }
    }

    /// √(numerator / denominator) (numerator ≥ 0, denominator > 0) rounded to the nearest integer, ties to even;
    /// nil on 128-bit overflow. With r = ⌊√(n/d)⌋, the root is at or above r + ½ exactly when 4n ≥ (2r+1)²·d,
    /// so the rounding is decided in integers too.
    static func squareRootRoundingHalfEven(_ numerator: Int128, over denominator: Int128) -> Int128? {
        let r = integerSquareRoot(numerator / denominator)
        let (odd, o1) = (2 * r).addingReportingOverflow(1)
        let (oddSquared, o2) = odd.multipliedReportingOverflow(by: odd)
        let (right, o3) = oddSquared.multipliedReportingOverflow(by: denominator)
        let (left, o4) = numerator.multipliedReportingOverflow(by: 4)
        guard !(o1 || o2 || o3 || o4) else { return nil }
        if left > right || (left == right && r & 1 != 0) { return r + 1 }
        return r
    }
}
