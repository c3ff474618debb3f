import TestSupport
import Testing

@testable import BLEGateway

/// Helpers for the glucose and RACP suites, namespaced so they cannot collide with other suites' helpers.
enum GlucoseTestKit {
    /// The decode error `bytes` produce for `type`, or nil when they decode.
    static func decodeError<T: CharacteristicValue>(_ type: T.Type, _ bytes: [UInt8]) -> CharacteristicDecodeError? {
        do {
            _ = try T(decoding: bytes)
            return nil
        } catch {
            return error
        }
    }

    /// The project's seeded SplitMix64, so the fuzz loops are reproducible.
    typealias SplitMix64 = TestRandom

    /// 2026-11-21 08:30:05 as the 7 wire bytes.
    static let sampleTimeBytes: [UInt8] = [0xEA, 0x07, 11, 21, 8, 30, 5]
    static let sampleTime = DateTime(year: 2026, month: 11, day: 21, hour: 8, minute: 30, second: 5)

    /// (field, first byte offset, length) in order, for truncation tables.
    typealias FieldSpan = (name: String, start: Int, length: Int)

    /// Every proper prefix of `full` must throw `.truncated` naming the field that byte belongs to, at its start.
    static func expectTruncationTable<T: CharacteristicValue>(
        _ type: T.Type, _ full: [UInt8], _ spans: [FieldSpan], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(spans.last.map { $0.start + $0.length } == full.count, sourceLocation: sourceLocation)
        for length in 0..<full.count {
            guard let span = spans.first(where: { $0.start <= length && length < $0.start + $0.length }) else {
                Issue.record("no field covers byte \(length)", sourceLocation: sourceLocation)
                continue
            }
            let expected = CharacteristicDecodeError(
                characteristic: T.name, field: span.name, offset: span.start,
                problem: .truncated(needed: span.length, available: length - span.start))
            #expect(decodeError(T.self, Array(full.prefix(length))) == expected, sourceLocation: sourceLocation)
        }
    }
}

private typealias GlucoseKit = GlucoseTestKit

@Suite struct GlucoseMeasurementTests {
    /// Flags 0x03: time offset + concentration in kg/L. 0xB050 is exponent −5, mantissa 80: 80 × 10⁻⁵ kg/L,
    /// which is 80 mg/dL. Type-sample 0x11: capillary whole blood (low nibble 1), finger (high nibble 1).
    @Test func decodesKilogramsPerLiterExampleFieldByField() throws {
        let bytes: [UInt8] = [0x03, 0x01, 0x00] + GlucoseKit.sampleTimeBytes + [0x05, 0x00, 0x50, 0xB0, 0x11]
        let value = try GlucoseMeasurement(decoding: bytes)
        #expect(value.sequenceNumber == 1)
        #expect(value.baseTime == GlucoseKit.sampleTime)
        #expect(value.timeOffset == 5)
        #expect(value.concentration?.value == .number(mantissa: 80, exponent: -5))
        #expect(value.concentrationUnits == .kilogramsPerLiter)
        #expect(value.concentration?.type == .capillaryWholeBlood)
        #expect(value.concentration?.sampleLocation == .finger)
        #expect(value.sensorStatus == nil)
        #expect(value.contextInformationFollows == false)
        #expect(value.json["glucose_concentration"] == .number("0.00080"))
        #expect(value.json["glucose_concentration_units"] == .string("kg/L"))
        #expect(value.json["time_offset"] == .number("5"))
        #expect(value.json["type_sample_location"]?["type"] == .string("capillary_whole_blood"))
        #expect(value.json["type_sample_location"]?["sample_location"] == .string("finger"))
        #expect(value.encoded() == bytes)
    }

    /// Flags 0x17: time offset + concentration in mol/L + context follows. 0xC037 is exponent −4, mantissa 55: 5.5 mmol/L.
    /// Type-sample 0x29: interstitial fluid (9) at an alternate site (2). Negative time offset −90 minutes.
    @Test func decodesMolesPerLiterExampleWithNegativeOffset() throws {
        let bytes: [UInt8] = [0x17, 0x34, 0x12] + GlucoseKit.sampleTimeBytes + [0xA6, 0xFF, 0x37, 0xC0, 0x29]
        let value = try GlucoseMeasurement(decoding: bytes)
        #expect(value.sequenceNumber == 0x1234)
        #expect(value.timeOffset == -90)
        #expect(value.concentration?.value == .number(mantissa: 55, exponent: -4))
        #expect(value.concentration?.value.description == "0.0055")
        #expect(value.concentrationUnits == .molesPerLiter)
        #expect(value.concentration?.type == .interstitialFluid)
        #expect(value.concentration?.sampleLocation == .alternateSiteTest)
        #expect(value.contextInformationFollows)
        #expect(value.json["context_information_follows"] == .bool(true))
        #expect(value.encoded() == bytes)
    }

    /// Sensor status 0x8021: battery low + result higher than the device can process + reserved bit 15, which is
    /// kept raw rather than refused (status words never change the layout).
    @Test func keepsSensorStatusWithReservedBits() throws {
        let bytes: [UInt8] = [0x08, 0x02, 0x00] + GlucoseKit.sampleTimeBytes + [0x21, 0x80]
        let value = try GlucoseMeasurement(decoding: bytes)
        let status = try #require(value.sensorStatus)
        #expect(status.contains(.deviceBatteryLow))
        #expect(status.contains(.resultHigherThanDeviceCanProcess))
        #expect(!status.contains(.resultLowerThanDeviceCanProcess))
        #expect(status.reservedBits == 0x8000)
        #expect(
            status.json["set"]
                == .array([.string("device_battery_low"), .string("result_higher_than_device_can_process")]))
        #expect(status.json["reserved_bits"] == .number("32768"))
        #expect(value.concentration == nil)
        #expect(value.encoded() == bytes)
    }

    @Test func sensorStatusBitsAreInSpecificationOrder() {
        let expected: [UInt16] = (0..<12).map { 1 << $0 }
        #expect(GlucoseSensorStatus.named.map(\.0.rawValue) == expected)
        #expect(GlucoseSensorStatus.timeFault.rawValue == 0x0800)
        #expect(GlucoseSensorStatus.readInterrupted.rawValue == 0x0200)
    }

    /// Special SFLOAT values stay special, in the value and in JSON.
    @Test func specialConcentrationStaysSpecial() throws {
        let bytes: [UInt8] = [0x02, 0x00, 0x00] + GlucoseKit.sampleTimeBytes + [0xFF, 0x07, 0xFA]
        let value = try GlucoseMeasurement(decoding: bytes)
        #expect(value.concentration?.value == .nan)
        #expect(value.json["glucose_concentration"] == .string("NaN"))
        #expect(value.concentration?.type == .controlSolution)
        #expect(value.concentration?.sampleLocation == .notAvailable)
        #expect(value.isControlSolution)
    }

    static func payload(flags: UInt8) -> [UInt8] {
        var bytes: [UInt8] = [flags, 0x07, 0x00] + GlucoseKit.sampleTimeBytes
        if flags & 0x01 != 0 { bytes += [0xF6, 0xFF] }
        if flags & 0x02 != 0 { bytes += [0x50, 0xB0, 0x32] }
        if flags & 0x08 != 0 { bytes += [0x00, 0x0C] }
        return bytes
    }

    @Test func everyFlagsCombinationRoundTrips() throws {
        for flags in UInt8(0)..<32 {
            let bytes = Self.payload(flags: flags)
            let value = try GlucoseMeasurement(decoding: bytes)
            #expect(value.flags == flags)
            #expect(value.encoded() == bytes)
            #expect(try GlucoseMeasurement(decoding: value.encoded()) == value)
            #expect((value.timeOffset != nil) == (flags & 0x01 != 0))
            #expect((value.concentration != nil) == (flags & 0x02 != 0))
            #expect((value.concentrationUnits == .molesPerLiter) == (flags & 0x04 != 0))
            #expect((value.sensorStatus != nil) == (flags & 0x08 != 0))
            #expect(value.contextInformationFollows == (flags & 0x10 != 0))
            if flags & 0x02 != 0 {
                #expect(value.concentration?.type == .capillaryPlasma)
                #expect(value.concentration?.sampleLocation == .earlobe)
            }
        }
    }

    static let fullPayload = payload(flags: 0x1F)
    static let fullSpans: [GlucoseTestKit.FieldSpan] = [
        ("flags", 0, 1), ("sequence_number", 1, 2), ("base_time.year", 3, 2), ("base_time.month", 5, 1),
        ("base_time.day", 6, 1), ("base_time.hours", 7, 1), ("base_time.minutes", 8, 1),
        ("base_time.seconds", 9, 1), ("time_offset", 10, 2), ("glucose_concentration", 12, 2),
        ("type_sample_location", 14, 1), ("sensor_status_annunciation", 15, 2),
    ]

    @Test func truncationAtEveryLengthNamesTheField() {
        GlucoseKit.expectTruncationTable(GlucoseMeasurement.self, Self.fullPayload, Self.fullSpans)
    }

    @Test func extraByteIsRefused() {
        #expect(
            GlucoseKit.decodeError(GlucoseMeasurement.self, Self.fullPayload + [0x00])
                == CharacteristicDecodeError(
                    characteristic: "Glucose Measurement", field: "end_of_payload", offset: 17,
                    problem: .trailingBytes(count: 1)))
    }

    /// A reserved flag bit is ignored for the layout and kept; octets after the known fields are ignored then.
    @Test(arguments: [UInt8(0x20), 0x40, 0x80])
    func reservedFlagBitIsIgnoredAndKept(_ bit: UInt8) throws {
        var bytes = Self.fullPayload
        bytes[0] |= bit
        let value = try GlucoseMeasurement(decoding: bytes)
        let clean = try GlucoseMeasurement(decoding: Self.fullPayload)
        #expect(
            value.reservedFlags == bit && value.concentration == clean.concentration
                && value.sequenceNumber == clean.sequenceNumber)
        #expect(value.encoded() == bytes)
        #expect(try GlucoseMeasurement(decoding: bytes + [0x00, 0x01]).concentration == clean.concentration)
    }

    /// A reserved sample type keeps the concentration: the type is unknown (and says so), the byte re-encodes as sent.
    @Test(arguments: [UInt8(0), 11, 12, 13, 14, 15])
    func aReservedTypeKeepsTheConcentration(_ type: UInt8) throws {
        var bytes = Self.fullPayload
        bytes[14] = 0x10 | type
        let value = try GlucoseMeasurement(decoding: bytes)
        let concentration = try #require(value.concentration)
        #expect(concentration.value == (try GlucoseMeasurement(decoding: Self.fullPayload)).concentration?.value)
        #expect(concentration.type == nil && concentration.sampleLocation == .finger && concentration.hasReservedValue)
        #expect(value.encoded() == bytes)
        #expect(value.json["type_sample_location"]?["type"] == .string("reserved (\(type))"))
    }

    @Test(arguments: [UInt8(0), 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
    func aReservedSampleLocationKeepsTheConcentration(_ location: UInt8) throws {
        var bytes = Self.fullPayload
        bytes[14] = location << 4 | 0x01
        let value = try GlucoseMeasurement(decoding: bytes)
        #expect(value.concentration?.type == .capillaryWholeBlood && value.concentration?.sampleLocation == nil)
        #expect(value.concentration?.hasReservedValue == true)
        #expect(value.encoded() == bytes)
    }

    @Test func everyDefinedTypeAndLocationRoundTrips() throws {
        for type in GlucoseSampleType.allCases {
            for location in GlucoseSampleLocation.allCases {
                var bytes = Self.fullPayload
                bytes[14] = location.rawValue << 4 | type.rawValue
                let value = try GlucoseMeasurement(decoding: bytes)
                #expect(value.concentration?.type == type)
                #expect(value.concentration?.sampleLocation == location)
                #expect(value.encoded() == bytes)
            }
        }
    }

    /// A base time with a reserved value keeps the record (the concentration is what the meter measured); the time
    /// is kept as sent and marked not valid.
    @Test func aReservedValueInTheBaseTimeKeepsTheRecord() throws {
        var bytes = Self.fullPayload
        bytes[5] = 13
        let value = try GlucoseMeasurement(decoding: bytes)
        #expect(value.baseTime.month == 13 && !value.baseTime.isValid)
        #expect(value.concentration == (try GlucoseMeasurement(decoding: Self.fullPayload)).concentration)
        #expect(value.encoded() == bytes)
    }
}

@Suite struct GlucoseMeasurementContextTests {
    /// All fields: flags 0xFF (medication in liters, extended flags present).
    /// carbohydrate breakfast 0xD032 = 50 × 10⁻³ kg; meal preprandial; tester self (low nibble 1) + health
    /// "no health issues" (high nibble 5) = 0x51; exercise 1800 s at 50 %; rapid acting insulin 0xB005 =
    /// 5 × 10⁻⁵ L; HbA1c 0xF041 = 65 × 10⁻¹ = 6.5 %.
    static let fullPayload: [UInt8] = [
        0xFF, 0x2A, 0x00, 0x00, 0x01, 0x32, 0xD0, 0x01, 0x51, 0x08, 0x07, 0x32, 0x01, 0x05, 0xB0, 0x41, 0xF0,
    ]

    @Test func decodesAllFieldsFieldByField() throws {
        let value = try GlucoseMeasurementContext(decoding: Self.fullPayload)
        #expect(value.sequenceNumber == 42)
        #expect(value.extendedFlagsPresent)
        #expect(value.carbohydrate == GlucoseCarbohydrate(id: .breakfast, amount: .number(mantissa: 50, exponent: -3)))
        #expect(value.meal == .preprandial)
        #expect(value.testerHealth == GlucoseTesterHealth(tester: .`self`, health: .noHealthIssues))
        #expect(value.exercise == GlucoseExercise(durationSeconds: 1800, intensityPercent: 50))
        #expect(
            value.medication == GlucoseMedication(id: .rapidActingInsulin, amount: .number(mantissa: 5, exponent: -5)))
        #expect(value.medicationUnits == .liters)
        #expect(value.hba1c == .number(mantissa: 65, exponent: -1))
        #expect(value.json["carbohydrate"] == .number("0.050"))
        #expect(value.json["hba1c"] == .number("6.5"))
        #expect(value.json["medication_value_units"] == .string("liters"))
        #expect(value.json["tester_health"]?["tester"] == .string("self"))
        #expect(value.json["tester_health"]?["health"] == .string("no_health_issues"))
        #expect(value.encoded() == Self.fullPayload)
    }

    /// The extended flags byte comes right after the sequence number, before the carbohydrate fields, even though
    /// it is announced by the highest flag bit.
    @Test func extendedFlagsComeFirst() throws {
        let correct: [UInt8] = [0x81, 0x05, 0x00, 0x00, 0x03, 0x0A, 0xD0]
        let value = try GlucoseMeasurementContext(decoding: correct)
        #expect(value.extendedFlagsPresent)
        #expect(value.carbohydrate == GlucoseCarbohydrate(id: .dinner, amount: .number(mantissa: 10, exponent: -3)))
        #expect(value.encoded() == correct)
        // A device placing the byte last has its carbohydrate ID read as extended flags, and the rest shifted: the
        // carbohydrate is not read as dinner (its ID byte is 0x0A, a reserved value, kept and named as such).
        let misplaced: [UInt8] = [0x81, 0x05, 0x00, 0x03, 0x0A, 0xD0, 0x00]
        let shifted = try GlucoseMeasurementContext(decoding: misplaced)
        #expect(shifted.carbohydrate?.id == nil && shifted.carbohydrate?.name == "reserved_10")
    }

    /// Every bit of the extended flags byte is reserved for future use: ignored and kept, never a reason to refuse the
    /// context (what independent stacks' test vectors send); octets after the known fields are ignored then.
    @Test(arguments: (0..<8).map { UInt8(1) << $0 })
    func everyExtendedFlagBitIsIgnoredAndKept(_ bit: UInt8) throws {
        var bytes = Self.fullPayload
        bytes[3] = bit
        let value = try GlucoseMeasurementContext(decoding: bytes)
        #expect(value.extendedFlags == bit && value.hba1c == .number(mantissa: 65, exponent: -1))
        #expect(value.encoded() == bytes)
        #expect(value.json["extended_flags"] == .integer(bit))
        #expect(try GlucoseMeasurementContext(decoding: bytes + [0x00]).meal == .preprandial)
    }

    static func payload(flags: UInt8) -> [UInt8] {
        var bytes: [UInt8] = [flags, 0x09, 0x00]
        if flags & 0x80 != 0 { bytes += [0x00] }
        if flags & 0x01 != 0 { bytes += [0x07, 0x1E, 0xD0] }
        if flags & 0x02 != 0 { bytes += [0x05] }
        if flags & 0x04 != 0 { bytes += [0xF2] }
        if flags & 0x08 != 0 { bytes += [0xFF, 0xFF, 0x64] }
        if flags & 0x10 != 0 { bytes += [0x05, 0x03, 0xD0] }
        if flags & 0x40 != 0 { bytes += [0x3A, 0xF0] }
        return bytes
    }

    @Test func everyFlagsCombinationRoundTrips() throws {
        for flags in 0...UInt8.max {
            let bytes = Self.payload(flags: flags)
            let value = try GlucoseMeasurementContext(decoding: bytes)
            #expect(value.flags == flags)
            #expect(value.encoded() == bytes)
            #expect(try GlucoseMeasurementContext(decoding: value.encoded()) == value)
            #expect((value.carbohydrate?.id == .brunch) == (flags & 0x01 != 0))
            #expect((value.meal == .bedtime) == (flags & 0x02 != 0))
            #expect(
                (value.testerHealth == GlucoseTesterHealth(tester: .healthCareProfessional, health: .notAvailable))
                    == (flags & 0x04 != 0))
            #expect((value.exercise?.isOverrun == true) == (flags & 0x08 != 0))
            #expect((value.medication?.id == .preMixedInsulin) == (flags & 0x10 != 0))
            #expect((value.medicationUnits == .liters) == (flags & 0x20 != 0))
            #expect((value.hba1c != nil) == (flags & 0x40 != 0))
            #expect(value.extendedFlagsPresent == (flags & 0x80 != 0))
        }
    }

    @Test func exerciseOverrunIsAStringInJSON() throws {
        let value = try GlucoseMeasurementContext(decoding: Self.payload(flags: 0x08))
        #expect(value.json["exercise_duration"] == .string("overrun"))
        #expect(value.json["exercise_intensity"] == .number("100"))
    }

    static let fullSpans: [GlucoseTestKit.FieldSpan] = [
        ("flags", 0, 1), ("sequence_number", 1, 2), ("extended_flags", 3, 1), ("carbohydrate_id", 4, 1),
        ("carbohydrate", 5, 2), ("meal", 7, 1), ("tester_health", 8, 1), ("exercise_duration", 9, 2),
        ("exercise_intensity", 11, 1), ("medication_id", 12, 1), ("medication", 13, 2), ("hba1c", 15, 2),
    ]

    @Test func truncationAtEveryLengthNamesTheField() {
        GlucoseKit.expectTruncationTable(GlucoseMeasurementContext.self, Self.fullPayload, Self.fullSpans)
    }

    @Test func extraByteIsRefused() {
        #expect(
            GlucoseKit.decodeError(GlucoseMeasurementContext.self, Self.fullPayload + [0xAA])
                == CharacteristicDecodeError(
                    characteristic: "Glucose Measurement Context", field: "end_of_payload", offset: 17,
                    problem: .trailingBytes(count: 1)))
    }

    /// (field, offset in the full payload, reserved raw byte values to try).
    static let reservedEnumerations: [(String, Int, [UInt8])] = [
        ("carbohydrate_id", 4, [0, 8, 9, 0x80, 0xFF]),
        ("meal", 7, [0, 6, 7, 0xFF]),
        ("medication_id", 12, [0, 6, 7, 0xFF]),
    ]

    /// A reserved enumeration value is a value a newer meter may use: the context is kept (the rest of it decoded, the
    /// value named "reserved_N", re-encoded to the same bytes), never refused.
    @Test func reservedEnumerationValuesAreKeptAndNamed() throws {
        for (field, offset, values) in Self.reservedEnumerations {
            for raw in values {
                var bytes = Self.fullPayload
                bytes[offset] = raw
                let value = try GlucoseMeasurementContext(decoding: bytes)
                #expect(value.encoded() == bytes, "\(field) \(raw)")
                #expect(value.json[field] == .string("reserved_\(raw)"), "\(field) \(raw)")
                #expect(value.hba1c == (try GlucoseMeasurementContext(decoding: Self.fullPayload)).hba1c)
            }
        }
    }

    @Test(arguments: [UInt8(0)] + Array(4...14))
    func aReservedTesterIsKept(_ tester: UInt8) throws {
        var bytes = Self.fullPayload
        bytes[8] = 0x10 | tester
        let value = try GlucoseMeasurementContext(decoding: bytes)
        #expect(value.testerHealth?.tester == nil && value.testerHealth?.health == .minorHealthIssues)
        #expect(value.testerHealth?.testerName == "reserved_\(tester)" && value.encoded() == bytes)
    }

    @Test(arguments: [UInt8(0)] + Array(6...14))
    func aReservedHealthIsKept(_ health: UInt8) throws {
        var bytes = Self.fullPayload
        bytes[8] = health << 4 | 0x01
        let value = try GlucoseMeasurementContext(decoding: bytes)
        #expect(value.testerHealth?.health == nil && value.testerHealth?.tester == .`self`)
        #expect(value.testerHealth?.healthName == "reserved_\(health)" && value.encoded() == bytes)
    }

    @Test func everyDefinedEnumerationRoundTrips() throws {
        for id in GlucoseCarbohydrateID.allCases {
            var bytes = Self.fullPayload
            bytes[4] = id.rawValue
            #expect(try GlucoseMeasurementContext(decoding: bytes).carbohydrate?.id == id)
        }
        for meal in GlucoseMeal.allCases {
            var bytes = Self.fullPayload
            bytes[7] = meal.rawValue
            #expect(try GlucoseMeasurementContext(decoding: bytes).meal == meal)
        }
        for tester in GlucoseTester.allCases {
            for health in GlucoseHealth.allCases {
                var bytes = Self.fullPayload
                bytes[8] = health.rawValue << 4 | tester.rawValue
                let value = try GlucoseMeasurementContext(decoding: bytes)
                #expect(value.testerHealth == GlucoseTesterHealth(tester: tester, health: health))
                #expect(value.encoded() == bytes)
            }
        }
        for id in GlucoseMedicationID.allCases {
            var bytes = Self.fullPayload
            bytes[12] = id.rawValue
            #expect(try GlucoseMeasurementContext(decoding: bytes).medication?.id == id)
        }
    }
}

@Suite struct GlucoseFeatureTests {
    @Test func decodesEveryDefinedBit() throws {
        for (index, (feature, _)) in GlucoseFeature.named.enumerated() {
            let raw = UInt16(1) << UInt16(index)
            #expect(feature.rawValue == raw)
            let value = try GlucoseFeature(decoding: [UInt8(raw & 0xFF), UInt8(raw >> 8)])
            #expect(value == feature)
            #expect(value.encoded() == [UInt8(raw & 0xFF), UInt8(raw >> 8)])
        }
        let all = try GlucoseFeature(decoding: [0xFF, 0x07])
        #expect(all.contains(.multipleBond) && all.contains(.lowBatteryDetection))
        #expect(all.json["supported"] == .array(GlucoseFeature.named.map { .string($0.1) }))
    }

    @Test(arguments: 11..<16)
    func reservedBitIsRefused(_ bit: Int) {
        let raw = UInt16(1) << UInt16(bit) | 0x0001
        #expect(
            GlucoseKit.decodeError(GlucoseFeature.self, [UInt8(raw & 0xFF), UInt8(raw >> 8)])
                == CharacteristicDecodeError(
                    characteristic: "Glucose Feature", field: "glucose_feature", offset: 0,
                    problem: .reservedFlagBits(UInt64(1) << UInt64(bit))))
    }

    @Test func truncationAndTrailingBytes() {
        GlucoseKit.expectTruncationTable(GlucoseFeature.self, [0x03, 0x00], [("glucose_feature", 0, 2)])
        #expect(
            GlucoseKit.decodeError(GlucoseFeature.self, [0x03, 0x00, 0x00])
                == CharacteristicDecodeError(
                    characteristic: "Glucose Feature", field: "end_of_payload", offset: 2,
                    problem: .trailingBytes(count: 1)))
    }

    @Test func detectableSensorStatusFollowsTheFeatures() {
        let feature: GlucoseFeature = [.lowBatteryDetection, .sensorResultHighLowDetection, .timeFault]
        #expect(
            feature.detectableSensorStatus
                == [.deviceBatteryLow, .resultHigherThanDeviceCanProcess, .resultLowerThanDeviceCanProcess, .timeFault])
        #expect(GlucoseFeature(rawValue: 0x03FF).detectableSensorStatus.rawValue == 0x0FFF)
    }
}

@Suite struct GlucoseCatalogAndFuzzTests {
    @Test func catalogKnowsTheGlucoseCharacteristics() throws {
        #expect(CharacteristicCatalog.type(for: BluetoothUUID(0x2A18)) == GlucoseMeasurement.self)
        #expect(CharacteristicCatalog.type(for: BluetoothUUID(0x2A34)) == GlucoseMeasurementContext.self)
        #expect(CharacteristicCatalog.type(for: BluetoothUUID(0x2A51)) == GlucoseFeature.self)
        #expect(CharacteristicCatalog.type(for: BluetoothUUID(0x2A52)) == RecordAccessControlPoint.self)
        let decoded = try CharacteristicCatalog.decode(
            uuid: .glucoseMeasurement, bytes: GlucoseMeasurementTests.fullPayload)
        #expect((decoded as? GlucoseMeasurement)?.sequenceNumber == 7)
    }

    /// Decodes `bytes` as `T`: success must re-encode to exactly the same bytes (decoders keep every bit they
    /// accept), failure must be a CharacteristicDecodeError for this characteristic inside the payload.
    /// Decodes and re-encodes exactly — or, where a reserved part let octets after the known fields be ignored, to
    /// bytes that decode to the same value.
    static func fuzzOnce<T: CharacteristicValue & Equatable>(_ type: T.Type, _ bytes: [UInt8]) -> Bool {
        do {
            let value = try T(decoding: bytes)
            if Self.hasReservedParts(T.self, bytes) {
                #expect((try? T(decoding: value.encoded())) == value, "\(T.name) re-encoding of \(bytes)")
            } else {
                #expect(value.encoded() == bytes, "\(T.name) re-encoding of \(bytes)")
            }
            return true
        } catch {
            #expect(error.characteristic == T.name)
            #expect((0...bytes.count).contains(error.offset), "\(error)")
            #expect(!error.field.isEmpty)
            return false
        }
    }

    static func hasReservedParts<T>(_ type: T.Type, _ bytes: [UInt8]) -> Bool {
        guard let flags = bytes.first else { return false }
        if T.self == GlucoseMeasurement.self { return flags & 0xE0 != 0 }
        if T.self == GlucoseMeasurementContext.self { return flags & 0x80 != 0 && bytes.count > 3 && bytes[3] != 0 }
        return false
    }

    @Test func randomBytesNeverCrashAndEitherDecodeExactlyOrThrow() {
        var random = GlucoseKit.SplitMix64(seed: 0x6C75_636F_7365)
        let seeds: [[UInt8]] = [
            GlucoseMeasurementTests.fullPayload, GlucoseMeasurementContextTests.fullPayload, [0xFF, 0x07],
            [0x01, 0x04, 0x02] + GlucoseKit.sampleTimeBytes + GlucoseKit.sampleTimeBytes, [0x06, 0x00, 0x01, 0x01],
        ]
        var successes = 0
        for iteration in 0..<4000 {
            var bytes: [UInt8]
            if iteration % 2 == 0 {
                bytes = (0..<Int(random.next() % 24)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            } else {
                // Mutate a valid payload: flip one byte, then maybe cut or extend it.
                bytes = seeds[Int(random.next() % UInt64(seeds.count))]
                if !bytes.isEmpty {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
                switch random.next() % 3 {
                case 0: bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count + 1))))
                case 1: bytes.append(UInt8(truncatingIfNeeded: random.next()))
                default: break
                }
            }
            if Self.fuzzOnce(GlucoseMeasurement.self, bytes) { successes += 1 }
            if Self.fuzzOnce(GlucoseMeasurementContext.self, bytes) { successes += 1 }
            if Self.fuzzOnce(GlucoseFeature.self, bytes) { successes += 1 }
            if Self.fuzzOnce(RecordAccessControlPoint.self, bytes) { successes += 1 }
        }
        // The mutated seeds must reach the success paths too, or the loop only exercises the error paths.
        #expect(successes > 200)
    }
}
