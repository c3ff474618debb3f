import Provenance

/// Small exact-arithmetic helpers shared by the characteristic decoders (heart-rate RR intervals in 1/1024 s,
/// Current Time's 1/256 s fractions, hex text for identifiers). Nothing here goes through `Double`.
enum CharacteristicFormatting {
    /// mantissa × 10^exponent as the shortest exact decimal text: trailing zeros after the point are dropped,
    /// so 10000000000 × 10^-10 prints "1" and 5000000000 × 10^-10 prints "0.5".
    static func text(mantissa: Int64, exponent: Int) -> String {
        var mantissa = mantissa
        var exponent = exponent
        if mantissa == 0 { return "0" }
        while exponent < 0, mantissa % 10 == 0 {
            mantissa /= 10
            exponent += 1
        }
        return DecimalText.render(mantissa: mantissa, exponent: exponent)
    }

    /// The exact value of `numerator / 2^power` as a JSON number (2^-n has exactly n decimal places, so it is
    /// numerator × 5^n × 10^-n; power ≤ 20 keeps that inside Int64 for 16-bit numerators).
    static func binaryFraction(_ numerator: UInt64, power: Int) -> ExactJSON {
        var five: Int64 = 1
        for _ in 0..<power { five *= 5 }
        return .number(text(mantissa: Int64(numerator) * five, exponent: -power))
    }

    /// "0A-1B-…" style upper-case hex, `separator` between bytes (FHIR's PHD IG writes EUI-64s with dashes).
    static func hex(_ bytes: [UInt8], separator: String = "") -> String {
        bytes.map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: separator)
    }
}
