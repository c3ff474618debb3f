/// An exact decimal number: `mantissa × 10^exponent`.
///
/// IEEE-11073 SFLOAT/FLOAT readings are decimal; keeping (mantissa, exponent) end to end means 120.5 mmHg is
/// stored, summed and printed as 120.5, never as the nearest binary double.
public struct DecimalValue: Hashable, Sendable, CustomStringConvertible {
    public var mantissa: Int64
    public var exponent: Int8

    public init(mantissa: Int64, exponent: Int8) {
        self.mantissa = mantissa
        self.exponent = exponent
    }

    /// Parses a plain decimal literal ("120.5", "-0.07", "73", "1.5e-3") without going through `Double`.
    public init?(parsing text: some StringProtocol) {
        var digits = Substring(text)
        var exponent = 0
        if let e = digits.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let power = Int(digits[digits.index(after: e)...]) else { return nil }
            exponent = power
            digits = digits[..<e]
        }
        var negative = false
        if digits.first == "-" || digits.first == "+" {
            negative = digits.first == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var mantissa: Int64 = 0
        var sawPoint = false
        var sawDigit = false
        for ch in digits {
            if ch == "." {
                guard !sawPoint else { return nil }
                sawPoint = true
                continue
            }
            guard let d = ch.wholeNumberValue, ch.isASCII else { return nil }
            sawDigit = true
            let (times10, o1) = mantissa.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { return nil }
            mantissa = next
            if sawPoint { exponent -= 1 }
        }
        guard sawDigit, let e = Int8(exactly: exponent) else { return nil }
        self.mantissa = negative ? -mantissa : mantissa
        self.exponent = e
    }

    /// The decimal literal, exactly: mantissa 1205, exponent -1 prints "120.5".
    public var description: String {
        let magnitude = String(mantissa.magnitude)
        let sign = mantissa < 0 ? "-" : ""
        if exponent >= 0 {
            return sign + magnitude + (mantissa == 0 ? "" : String(repeating: "0", count: Int(exponent)))
        }
        let fraction = -Int(exponent)
        let padded =
            magnitude.count <= fraction
            ? String(repeating: "0", count: fraction - magnitude.count + 1) + magnitude : magnitude
        let split = padded.index(padded.endIndex, offsetBy: -fraction)
        return sign + padded[..<split] + "." + padded[split...]
    }

    /// A binary approximation, for display and statistics that are not exact by nature (mean, deviation).
    public var doubleValue: Double { Double(mantissa) * Self.powerOfTen(Int(exponent)) }

    static func powerOfTen(_ n: Int) -> Double {
        let magnitude = Int(n.magnitude)
        // 10^0…10^22 are exact doubles: the table holds what the loop computes, without the loop per value.
        let power = magnitude < exactPowersOfTen.count ? exactPowersOfTen[magnitude] : pow10Int(magnitude)
        return n >= 0 ? power : 1.0 / power
    }

    private static let exactPowersOfTen: [Double] = (0...22).map { pow10Int($0) }

    private static func pow10Int(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= 10 }
        return r
    }
}

extension DecimalValue: Comparable {
    /// Exact comparison across exponents (1205e-1 < 121e0), without rounding.
    public static func < (lhs: DecimalValue, rhs: DecimalValue) -> Bool {
        ExactDecimal(lhs).compare(ExactDecimal(rhs)) < 0
    }
}

/// A wide exact decimal used for sums: `mantissa × 10^exponent` with a 128-bit mantissa.
///
/// Sums of decimal readings with different exponents are brought to the smaller exponent; 128 bits hold the
/// sum of squares of a billion 64-bit-scaled readings, and overflow is reported rather than wrapped.
public struct ExactDecimal: Hashable, Sendable, CustomStringConvertible {
    public var mantissa: Int128
    public var exponent: Int

    public init(mantissa: Int128, exponent: Int) {
        self.mantissa = mantissa
        self.exponent = exponent
    }

    public init(_ value: DecimalValue) {
        mantissa = Int128(value.mantissa)
        exponent = Int(value.exponent)
    }

    public static let zero = ExactDecimal(mantissa: 0, exponent: 0)

    /// The mantissa expressed at a smaller exponent, or nil when that does not fit in 128 bits.
    func mantissa(atExponent target: Int) -> Int128? {
        if target == exponent { return mantissa }
        guard target < exponent else { return nil }
        let shift = exponent - target
        // One multiplication by 10^shift (overflow-checked) instead of shift of them: comparisons of RR intervals
        // (10 decimal places) against whole-number bounds are the inner loop of a day's RMSSD.
        guard shift < Self.powersOfTen.count else { return mantissa == 0 ? 0 : nil }
        let (scaled, overflow) = mantissa.multipliedReportingOverflow(by: Self.powersOfTen[shift])
        return overflow ? nil : scaled
    }

    /// 10^0 … 10^38, every power of ten an Int128 holds.
    private static let powersOfTen: [Int128] = {
        var powers: [Int128] = [1]
        while powers.count < 39 { powers.append(powers[powers.count - 1] * 10) }
        return powers
    }()

    /// Exact sum, or nil on 128-bit overflow.
    public func adding(_ other: ExactDecimal) -> ExactDecimal? {
        if mantissa == 0 { return other }
        if other.mantissa == 0 { return self }
        let e = min(exponent, other.exponent)
        guard let a = mantissa(atExponent: e), let b = other.mantissa(atExponent: e) else { return nil }
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : ExactDecimal(mantissa: sum, exponent: e)
    }

    /// Exact product, or nil on overflow (used for squares).
    public func multiplied(by other: ExactDecimal) -> ExactDecimal? {
        let (p, overflow) = mantissa.multipliedReportingOverflow(by: other.mantissa)
        return overflow ? nil : ExactDecimal(mantissa: p, exponent: exponent + other.exponent)
    }

    /// -1, 0 or 1. Falls back to magnitude reasoning when scaling would overflow (the larger exponent wins).
    public func compare(_ other: ExactDecimal) -> Int {
        let e = min(exponent, other.exponent)
        if let a = mantissa(atExponent: e), let b = other.mantissa(atExponent: e) {
            return a < b ? -1 : (a > b ? 1 : 0)
        }
        let signA = mantissa.signum()
        let signB = other.mantissa.signum()
        if signA != signB { return signA < signB ? -1 : 1 }
        // Same sign and one side overflowed when scaled: that side has the larger magnitude.
        let selfIsLarger = exponent > other.exponent
        let magnitudeOrder = selfIsLarger ? 1 : -1
        return signA >= 0 ? magnitudeOrder : -magnitudeOrder
    }

    public var doubleValue: Double {
        Double(mantissa) * DecimalValue.powerOfTen(exponent)
    }

    public var description: String {
        let magnitude = String(mantissa.magnitude)
        let sign = mantissa < 0 ? "-" : ""
        if exponent >= 0 {
            return sign + magnitude + (mantissa == 0 ? "" : String(repeating: "0", count: exponent))
        }
        let fraction = -exponent
        let padded =
            magnitude.count <= fraction
            ? String(repeating: "0", count: fraction - magnitude.count + 1) + magnitude : magnitude
        let split = padded.index(padded.endIndex, offsetBy: -fraction)
        return sign + padded[..<split] + "." + padded[split...]
    }
}

/// One stored sample. The store knows numbers, times and small integer tags, nothing of BLE or FHIR.
public struct Sample: Hashable, Sendable {
    /// Measurement time, UTC microseconds since 1970.
    public var timestampMicros: Int64
    /// The exact value.
    public var value: DecimalValue
    /// Status bits the producer assigns (e.g. "doubtful"); queries can exclude samples by mask.
    public var flags: UInt16
    /// An optional small context tag (e.g. a meal context code); nil when the reading has none.
    public var contextTag: UInt32?

    public init(timestampMicros: Int64, value: DecimalValue, flags: UInt16 = 0, contextTag: UInt32? = nil) {
        self.timestampMicros = timestampMicros
        self.value = value
        self.flags = flags
        self.contextTag = contextTag
    }
}

/// Identifies a series: whose, from which device, which metric. Free-form strings the caller chooses.
public struct SeriesKey: Hashable, Sendable, CustomStringConvertible {
    public var subject: String
    public var device: String
    public var metric: String

    public init(subject: String, device: String, metric: String) {
        self.subject = subject
        self.device = device
        self.metric = metric
    }

    /// Parses "subject/device/metric".
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        self.init(subject: String(parts[0]), device: String(parts[1]), metric: String(parts[2]))
    }

    public var description: String { "\(subject)/\(device)/\(metric)" }
}

/// The catalog's numeric identity of a series.
public typealias SeriesID = Int64
