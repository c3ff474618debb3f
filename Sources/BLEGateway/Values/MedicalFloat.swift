import Provenance

/// An IEEE 11073-20601 SFLOAT (16-bit) or FLOAT (32-bit) value, kept exactly as the device sent it.
///
/// These are decimal numbers, mantissa × 10^exponent, and DESIGN.md rule 1 forbids rounding them through
/// `Double`; 120.5 mmHg stays (1205, −1). The special values are not numbers and have no numeric accessor, so
/// nothing downstream can accidentally average a NaN or an "infinity" reading.
public enum MedicalFloat: Hashable, Sendable, CustomStringConvertible {
    /// mantissa × 10^exponent.
    case number(mantissa: Int32, exponent: Int8)
    /// Not a Number: the device could not produce a value.
    case nan
    /// Not at this Resolution: the value exists but cannot be represented in the field.
    case nres
    case positiveInfinity
    case negativeInfinity
    /// A bit pattern the standard reserves for future special values; kept raw so it is visible.
    case reserved(bits: UInt32)

    // Special SFLOAT mantissas (exponent 0); 11073-20601 reserves 0x7FE...0x802 as a block.
    private static let sfloatNaN: Int32 = 0x07FF, sfloatNRes: Int32 = -0x0800
    private static let sfloatPositiveInfinity: Int32 = 0x07FE, sfloatNegativeInfinity: Int32 = -0x07FE
    private static let floatNaN: Int32 = 0x7F_FFFF, floatNRes: Int32 = -0x80_0000
    private static let floatPositiveInfinity: Int32 = 0x7F_FFFE, floatNegativeInfinity: Int32 = -0x7F_FFFE

    /// Decodes the 16-bit SFLOAT: a 4-bit signed exponent over a 12-bit signed mantissa.
    ///
    /// Mantissas ±2046, 2047, −2047 and −2048 are the special values. The standard defines them with exponent
    /// 0; with any other exponent they are still not numbers, and become `.reserved` rather than 2047 × 10^e.
    public init(sfloat raw: UInt16) {
        var mantissa = Int32(raw & 0x0FFF)
        if mantissa >= 0x0800 { mantissa -= 0x1000 }
        var exponent = Int8(truncatingIfNeeded: raw >> 12)
        if exponent >= 8 { exponent -= 16 }
        if mantissa >= 0x07FE || mantissa <= -0x07FE {
            guard exponent == 0 else {
                self = .reserved(bits: UInt32(raw))
                return
            }
            switch mantissa {
            case Self.sfloatNaN: self = .nan
            case Self.sfloatNRes: self = .nres
            case Self.sfloatPositiveInfinity: self = .positiveInfinity
            case Self.sfloatNegativeInfinity: self = .negativeInfinity
            default: self = .reserved(bits: UInt32(raw))
            }
            return
        }
        self = .number(mantissa: mantissa, exponent: exponent)
    }

    /// Decodes the 32-bit FLOAT: an 8-bit signed exponent over a 24-bit signed mantissa.
    public init(float raw: UInt32) {
        var mantissa = Int32(raw & 0x00FF_FFFF)
        if mantissa >= 0x80_0000 { mantissa -= 0x100_0000 }
        let exponent = Int8(bitPattern: UInt8(truncatingIfNeeded: raw >> 24))
        if mantissa >= 0x7F_FFFE || mantissa <= -0x7F_FFFE {
            guard exponent == 0 else {
                self = .reserved(bits: raw)
                return
            }
            switch mantissa {
            case Self.floatNaN: self = .nan
            case Self.floatNRes: self = .nres
            case Self.floatPositiveInfinity: self = .positiveInfinity
            case Self.floatNegativeInfinity: self = .negativeInfinity
            default: self = .reserved(bits: raw)
            }
            return
        }
        self = .number(mantissa: mantissa, exponent: exponent)
    }

    /// The SFLOAT bit pattern. A number that does not fit (|mantissa| > 2045 or exponent outside −8...7) is
    /// encoded as NRes — the standard's own answer for "not representable at this resolution".
    public var sfloatBits: UInt16 {
        switch self {
        case .number(let mantissa, let exponent):
            guard (-2045...2045).contains(mantissa), (-8...7).contains(exponent) else { return 0x0800 }
            return UInt16(UInt8(bitPattern: exponent) & 0x0F) << 12 | UInt16(bitPattern: Int16(mantissa)) & 0x0FFF
        case .nan: return 0x07FF
        case .nres: return 0x0800
        case .positiveInfinity: return 0x07FE
        case .negativeInfinity: return 0x0802
        case .reserved(let bits): return UInt16(truncatingIfNeeded: bits)
        }
    }

    /// The FLOAT bit pattern; numbers that do not fit become NRes (see `sfloatBits`).
    public var floatBits: UInt32 {
        switch self {
        case .number(let mantissa, let exponent):
            guard (-0x7F_FFFD...0x7F_FFFD).contains(mantissa) else { return 0x0080_0000 }
            return UInt32(UInt8(bitPattern: exponent)) << 24 | UInt32(bitPattern: mantissa) & 0x00FF_FFFF
        case .nan: return 0x007F_FFFF
        case .nres: return 0x0080_0000
        case .positiveInfinity: return 0x007F_FFFE
        case .negativeInfinity: return 0x0080_0002
        case .reserved(let bits): return bits
        }
    }

    /// True for `.number`; the special values are never numbers.
    public var isNumber: Bool {
        if case .number = self { return true }
        return false
    }

    /// The special value's name as the JSON output and logs show it ("NaN", "NRes", "+INFINITY", …), or nil.
    public var specialName: String? {
        switch self {
        case .number: nil
        case .nan: "NaN"
        case .nres: "NRes"
        case .positiveInfinity: "+INFINITY"
        case .negativeInfinity: "-INFINITY"
        case .reserved: "reserved"
        }
    }

    /// Exact decimal text for numbers ("120.5", "-0.005", "1200"); the special name otherwise.
    public var description: String {
        guard case .number(let mantissa, let exponent) = self else { return specialName ?? "reserved" }
        return DecimalText.render(mantissa: Int64(mantissa), exponent: Int(exponent))
    }

    /// JSON: numbers as exact JSON numbers, special values as strings.
    public var json: ExactJSON {
        switch self {
        case .number: .number(description)
        default: .string(specialName ?? "reserved")
        }
    }
}

/// Renders mantissa × 10^exponent as exact decimal text, without going through floating point.
public enum DecimalText {
    public static func render(mantissa: Int64, exponent: Int) -> String {
        let negative = mantissa < 0
        var digits = String(mantissa.magnitude)
        if exponent >= 0 {
            if mantissa != 0 { digits += String(repeating: "0", count: exponent) }
        } else {
            let places = -exponent
            if digits.count <= places { digits = String(repeating: "0", count: places - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -places))
        }
        return negative ? "-" + digits : digits
    }
}
