/// A value with the time it was measured (for first/last).
public struct TimedValue: Hashable, Sendable {
    public var timestampMicros: Int64
    public var value: DecimalValue

    public init(timestampMicros: Int64, value: DecimalValue) {
        self.timestampMicros = timestampMicros
        self.value = value
    }
}

/// A mergeable summary of samples: count, min, max, exact sum and sum of squares, first and last.
///
/// Merging is associative and commutative (ties on first/last time keep the left side), so summaries of chunks,
/// rollup buckets and decoded edges combine in any order into the same window result. Sums are exact decimals;
/// when a 128-bit sum would overflow it becomes nil instead of wrapping, and mean/deviation are then absent.
public struct Aggregate: Hashable, Sendable {
    public internal(set) var count: Int = 0
    public internal(set) var min: DecimalValue?
    public internal(set) var max: DecimalValue?
    public internal(set) var sum: ExactDecimal? = .zero
    public internal(set) var sumOfSquares: ExactDecimal? = .zero
    public internal(set) var first: TimedValue?
    public internal(set) var last: TimedValue?

    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// The arithmetic mean (not exact by nature; the exact sum is kept alongside).
    public var mean: Double? {
        guard count > 0, let sum else { return nil }
        return sum.doubleValue / Double(count)
    }

    /// Sample standard deviation (n − 1), computed from the exact sums so large offsets do not cancel badly.
    public var standardDeviation: Double? {
        guard count > 1, let sum, let sumOfSquares else { return nil }
        let n = ExactDecimal(mantissa: Int128(count), exponent: 0)
        guard let nSq = sumOfSquares.multiplied(by: n), let sq = sum.multiplied(by: sum),
            let numerator = nSq.adding(ExactDecimal(mantissa: -sq.mantissa, exponent: sq.exponent))
        else {
            let mean = sum.doubleValue / Double(count)
            let variance = (sumOfSquares.doubleValue - Double(count) * mean * mean) / Double(count - 1)
            return variance > 0 ? variance.squareRoot() : 0
        }
        let variance = numerator.doubleValue / (Double(count) * Double(count - 1))
        return variance > 0 ? variance.squareRoot() : 0
    }

    public mutating func add(_ sample: Sample) {
        add(value: sample.value, at: sample.timestampMicros)
    }

    public mutating func add(value: DecimalValue, at timestampMicros: Int64) {
        count += 1
        if let m = min { if value < m { min = value } } else { min = value }
        if let m = max { if m < value { max = value } } else { max = value }
        let exact = ExactDecimal(value)
        sum = sum.flatMap { $0.adding(exact) }
        sumOfSquares = sumOfSquares.flatMap { s in exact.multiplied(by: exact).flatMap { s.adding($0) } }
        let timed = TimedValue(timestampMicros: timestampMicros, value: value)
        if first == nil || timestampMicros < first!.timestampMicros { first = timed }
        if last == nil || timestampMicros >= last!.timestampMicros { last = timed }
    }

    public mutating func merge(_ other: Aggregate) {
        guard other.count > 0 else { return }
        guard count > 0 else {
            self = other
            return
        }
        count += other.count
        if let a = min, let b = other.min, b < a { min = b }
        if let a = max, let b = other.max, a < b { max = b }
        sum = sum.flatMap { s in other.sum.flatMap { s.adding($0) } }
        sumOfSquares = sumOfSquares.flatMap { s in other.sumOfSquares.flatMap { s.adding($0) } }
        if let f = other.first, let mine = first, f.timestampMicros < mine.timestampMicros { first = f }
        if let l = other.last, let mine = last, l.timestampMicros > mine.timestampMicros { last = l }
    }

    /// Rebuilds a summary from stored fields (catalog rows, rollup columns, the engine's summary log).
    public init(
        count: Int, min: DecimalValue?, max: DecimalValue?, sum: ExactDecimal?, sumOfSquares: ExactDecimal?,
        first: TimedValue?, last: TimedValue?
    ) {
        self.count = count
        self.min = min
        self.max = max
        self.sum = sum
        self.sumOfSquares = sumOfSquares
        self.first = first
        self.last = last
    }
}

/// Accumulates a run of samples that share one exponent using plain integer arithmetic, then folds into an
/// `Aggregate`. Decoded chunks are long runs of one exponent, so the hot loop of a window query stays in
/// 64/128-bit integers instead of exact-decimal bookkeeping per sample.
struct RunAccumulator {
    var exponent: Int8 = 0
    var count = 0
    var minimum = Int64.max
    var maximum = Int64.min
    var sum: Int128 = 0
    var sumOfSquares: Int128 = 0
    var squaresOverflowed = false
    var firstTime = Int64.max, firstMantissa: Int64 = 0
    var lastTime = Int64.min, lastMantissa: Int64 = 0

    @inline(__always)
    mutating func add(_ mantissa: Int64, at time: Int64) {
        count += 1
        if mantissa < minimum { minimum = mantissa }
        if mantissa > maximum { maximum = mantissa }
        let wide = Int128(mantissa)
        sum &+= wide
        let (square, overflow) = wide.multipliedReportingOverflow(by: wide)
        let (total, overflow2) = sumOfSquares.addingReportingOverflow(square)
        if overflow || overflow2 { squaresOverflowed = true }
        sumOfSquares = total
        if time < firstTime {
            firstTime = time
            firstMantissa = mantissa
        }
        if time >= lastTime {
            lastTime = time
            lastMantissa = mantissa
        }
    }

    /// Folds the run into `aggregate` and resets for the next run.
    mutating func flush(into aggregate: inout Aggregate) {
        guard count > 0 else { return }
        let e = Int(exponent)
        let run = Aggregate(
            count: count,
            min: DecimalValue(mantissa: minimum, exponent: exponent),
            max: DecimalValue(mantissa: maximum, exponent: exponent),
            sum: ExactDecimal(mantissa: sum, exponent: e),
            sumOfSquares: squaresOverflowed ? nil : ExactDecimal(mantissa: sumOfSquares, exponent: 2 * e),
            first: TimedValue(
                timestampMicros: firstTime, value: DecimalValue(mantissa: firstMantissa, exponent: exponent)),
            last: TimedValue(timestampMicros: lastTime, value: DecimalValue(mantissa: lastMantissa, exponent: exponent))
        )
        aggregate.merge(run)
        self = RunAccumulator()
    }
}
