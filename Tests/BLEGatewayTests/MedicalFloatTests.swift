import Testing

@testable import BLEGateway

@Suite struct MedicalFloatTests {
    // MARK: SFLOAT

    @Test(arguments: [
        // (bits, mantissa, exponent, text)
        (UInt16(0x0072), Int32(114), Int8(0), "114"),
        (0xF4B1, 1201, -1, "120.1"),  // exponent 0xF = −1, mantissa 0x4B1 = 1201
        (0xF3A5, 933, -1, "93.3"),
        (0xFFFF, -1, -1, "-0.1"),  // both fields negative
        (0x0FFF, -1, 0, "-1"),
        (0x8001, 1, -8, "0.00000001"),  // most negative exponent
        (0x7001, 1, 7, "10000000"),  // most positive exponent
        (0x2005, 5, 2, "500"),
        (0xD00C, 12, -3, "0.012"),
        (0x0000, 0, 0, "0"),
        (0xE000, 0, -2, "0.00"),
        (0x07FD, 2045, 0, "2045"),  // largest ordinary mantissa
        (0x0803, -2045, 0, "-2045"),  // smallest ordinary mantissa
    ])
    func sfloatKnownValues(bits: UInt16, mantissa: Int32, exponent: Int8, text: String) {
        let value = MedicalFloat(sfloat: bits)
        #expect(value == .number(mantissa: mantissa, exponent: exponent))
        #expect(value.description == text)
        #expect(value.json == .number(text))
        #expect(value.isNumber)
        #expect(value.sfloatBits == bits)
    }

    @Test func sfloatSpecialValues() {
        #expect(MedicalFloat(sfloat: 0x07FF) == .nan)
        #expect(MedicalFloat(sfloat: 0x0800) == .nres)
        #expect(MedicalFloat(sfloat: 0x07FE) == .positiveInfinity)
        #expect(MedicalFloat(sfloat: 0x0802) == .negativeInfinity)
        #expect(MedicalFloat(sfloat: 0x0801) == .reserved(bits: 0x0801))
        let names: [(UInt16, String)] = [
            (0x07FF, "NaN"), (0x0800, "NRes"), (0x07FE, "+INFINITY"), (0x0802, "-INFINITY"), (0x0801, "reserved"),
        ]
        for (bits, name) in names {
            let value = MedicalFloat(sfloat: bits)
            #expect(!value.isNumber)
            #expect(value.specialName == name)
            #expect(value.json == .string(name))
            #expect(value.sfloatBits == bits)
        }
    }

    @Test func sfloatSpecialMantissasWithExponentAreReserved() {
        for exponent in 1...15 {
            for mantissa: UInt16 in [0x7FE, 0x7FF, 0x800, 0x801, 0x802] {
                let bits = UInt16(exponent) << 12 | mantissa
                #expect(MedicalFloat(sfloat: bits) == .reserved(bits: UInt32(bits)), "0x\(String(bits, radix: 16))")
            }
        }
    }

    @Test func everySfloatPatternReEncodesExactly() {
        var numbers = 0
        for raw in 0...0xFFFF {
            let bits = UInt16(raw)
            let value = MedicalFloat(sfloat: bits)
            if value.sfloatBits != bits { Issue.record("0x\(String(bits, radix: 16)) re-encodes differently") }
            if value.isNumber { numbers += 1 }
        }
        // 16 exponents × (4096 − 5 special mantissas) are numbers.
        #expect(numbers == 16 * 4091)
    }

    @Test func unrepresentableNumbersEncodeAsNRes() {
        #expect(MedicalFloat.number(mantissa: 2046, exponent: 0).sfloatBits == 0x0800)
        #expect(MedicalFloat.number(mantissa: -2046, exponent: 0).sfloatBits == 0x0800)
        #expect(MedicalFloat.number(mantissa: 1, exponent: 8).sfloatBits == 0x0800)
        #expect(MedicalFloat.number(mantissa: 1, exponent: -9).sfloatBits == 0x0800)
        #expect(MedicalFloat.number(mantissa: 0x80_0000, exponent: 0).floatBits == 0x0080_0000)
    }

    // MARK: FLOAT

    @Test func floatKnownValues() {
        #expect(MedicalFloat(float: 0xFF00_04D2) == .number(mantissa: 1234, exponent: -1))
        #expect(MedicalFloat(float: 0xFF00_04D2).description == "123.4")
        #expect(MedicalFloat(float: 0x00FF_FFFF) == .number(mantissa: -1, exponent: 0))
        #expect(MedicalFloat(float: 0xFD00_0078).description == "0.120")
        #expect(MedicalFloat(float: 0x0200_0005).description == "500")
        #expect(MedicalFloat(float: 0x007F_FFFD) == .number(mantissa: 0x7F_FFFD, exponent: 0))
        #expect(MedicalFloat(float: 0x0080_0003) == .number(mantissa: -0x7F_FFFD, exponent: 0))
        // Exponent extremes: −128 and 127.
        #expect(MedicalFloat(float: 0x8000_0001) == .number(mantissa: 1, exponent: -128))
        #expect(MedicalFloat(float: 0x8000_0001).description == "0." + String(repeating: "0", count: 127) + "1")
        #expect(MedicalFloat(float: 0x7F00_0001).description == "1" + String(repeating: "0", count: 127))
    }

    @Test func floatSpecialValues() {
        let cases: [(UInt32, MedicalFloat)] = [
            (0x007F_FFFF, .nan), (0x0080_0000, .nres), (0x007F_FFFE, .positiveInfinity),
            (0x0080_0002, .negativeInfinity), (0x0080_0001, .reserved(bits: 0x0080_0001)),
            (0x017F_FFFF, .reserved(bits: 0x017F_FFFF)), (0xFF80_0000, .reserved(bits: 0xFF80_0000)),
        ]
        for (bits, expected) in cases {
            let value = MedicalFloat(float: bits)
            #expect(value == expected)
            #expect(!value.isNumber)
            #expect(value.floatBits == bits)
        }
    }

    @Test func randomFloatPatternsReEncodeExactly() {
        var random = CharacteristicTestKit.SplitMix64(seed: 0xF10A7)
        for _ in 0..<20_000 {
            let bits = UInt32(truncatingIfNeeded: random.next())
            #expect(MedicalFloat(float: bits).floatBits == bits)
        }
    }

    // MARK: DecimalText

    @Test(arguments: [
        (Int64(1205), -1, "120.5"), (-5, -3, "-0.005"), (12, 2, "1200"), (0, 3, "0"), (0, -2, "0.00"),
        (7, 0, "7"), (-7, 0, "-7"), (123, -3, "0.123"), (123, -2, "1.23"), (Int64.min, 0, "-9223372036854775808"),
    ])
    func decimalTextRendersExactly(mantissa: Int64, exponent: Int, text: String) {
        #expect(DecimalText.render(mantissa: mantissa, exponent: exponent) == text)
    }

    @Test func shortestExactTextDropsOnlyFractionalZeros() {
        #expect(CharacteristicFormatting.text(mantissa: 10_000_000_000, exponent: -10) == "1")
        #expect(CharacteristicFormatting.text(mantissa: 5_000_000_000, exponent: -10) == "0.5")
        #expect(CharacteristicFormatting.text(mantissa: 1200, exponent: 0) == "1200")
        #expect(CharacteristicFormatting.text(mantissa: 0, exponent: -4) == "0")
        #expect(CharacteristicFormatting.binaryFraction(1, power: 10) == .number("0.0009765625"))
    }
}
