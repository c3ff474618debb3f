import Foundation
import Provenance
import Testing

@testable import BLEGateway

@Suite struct BloodPressureTests {
    typealias Kit = CharacteristicTestKit

    /// Every field present, mmHg: 120/80 mmHg, MAP 93.3, 2024-03-15 08:30:05, pulse 72, user 1, status irregular
    /// pulse + pulse rate above the upper limit (0x000C).
    static let full: [UInt8] = [
        0x1E,  // flags: time stamp, pulse rate, user ID, measurement status; units mmHg
        0x78, 0x00,  // systolic 120 (SFLOAT 0x0078)
        0x50, 0x00,  // diastolic 80
        0xA5, 0xF3,  // MAP 93.3 (SFLOAT 0xF3A5: exponent −1, mantissa 933)
        0xE8, 0x07, 0x03, 0x0F, 0x08, 0x1E, 0x05,  // 2024-03-15 08:30:05
        0x48, 0x00,  // pulse rate 72
        0x01,  // user 1
        0x0C, 0x00,  // status: irregular pulse, pulse rate exceeds upper limit
    ]

    static func layout(firstField: String) -> [(String, Int)] {
        [
            ("flags", 1), (firstField, 2), ("diastolic", 2), ("mean_arterial_pressure", 2), ("time_stamp.year", 2),
            ("time_stamp.month", 1), ("time_stamp.day", 1), ("time_stamp.hours", 1), ("time_stamp.minutes", 1),
            ("time_stamp.seconds", 1), ("pulse_rate", 2), ("user_id", 1), ("measurement_status", 2),
        ]
    }

    @Test func decodesSpecificationExampleFieldByField() throws {
        let value = try BloodPressureMeasurement(decoding: Self.full)
        #expect(value.unit == .millimetresOfMercury)
        #expect(value.systolic == .number(mantissa: 120, exponent: 0))
        #expect(value.diastolic == .number(mantissa: 80, exponent: 0))
        #expect(value.meanArterialPressure == .number(mantissa: 933, exponent: -1))
        #expect(value.timeStamp == DateTime(year: 2024, month: 3, day: 15, hour: 8, minute: 30, second: 5))
        #expect(value.pulseRate == .number(mantissa: 72, exponent: 0))
        #expect(value.userID == .user(1))
        let status = try #require(value.measurementStatus)
        #expect(!status.bodyMovementDetected)
        #expect(!status.cuffTooLoose)
        #expect(status.irregularPulseDetected)
        #expect(status.pulseRateRange == .exceedsUpperLimit)
        #expect(!status.improperMeasurementPosition)
        #expect(status.reservedBits == 0)
        #expect(status.concerns == ["irregular pulse detected", "pulse rate exceeds upper limit"])
        #expect(value.record.flags == 0x1E)
        #expect(value.encoded() == Self.full)
    }

    @Test func jsonUsesSpecificationNamesAndExactDecimals() throws {
        let value = try BloodPressureMeasurement(decoding: Self.full)
        let expected =
            #"{"units":"mmHg","systolic":120,"diastolic":80,"mean_arterial_pressure":93.3,"#
            + #""time_stamp":{"year":2024,"month":3,"day":15,"hours":8,"minutes":30,"seconds":5},"#
            + #""pulse_rate":72,"user_id":1,"measurement_status":{"body_movement_detected":false,"#
            + #""cuff_too_loose":false,"irregular_pulse_detected":true,"pulse_rate_range":"exceeds upper limit","#
            + #""improper_measurement_position":false,"reserved_bits":0}}"#
        #expect(value.json.text == expected)
    }

    @Test func minimalKilopascalMeasurementWithSpecialValues() throws {
        // kPa, systolic 16.0 (0xF0A0), diastolic NaN, MAP NRes.
        let value = try BloodPressureMeasurement(decoding: [0x01, 0xA0, 0xF0, 0xFF, 0x07, 0x00, 0x08])
        #expect(value.unit == .kilopascals)
        #expect(value.unit.ucum == "kPa")
        #expect(value.systolic.description == "16.0")
        #expect(value.diastolic == .nan)
        #expect(value.meanArterialPressure == .nres)
        #expect(value.timeStamp == nil && value.pulseRate == nil && value.userID == nil)
        #expect(value.measurementStatus == nil)
        #expect(
            value.json.text
                == #"{"units":"kPa","systolic":16.0,"diastolic":"NaN","mean_arterial_pressure":"NRes"}"#)
    }

    @Test func unknownUserStaysDistinct() throws {
        var bytes: [UInt8] = [0x08, 0x78, 0x00, 0x50, 0x00, 0x5D, 0x00, 0xFF]
        let unknown = try BloodPressureMeasurement(decoding: bytes)
        #expect(unknown.userID == .unknown)
        #expect(unknown.json["user_id"] == .string("unknown user"))
        #expect(unknown.encoded() == bytes)
        bytes[7] = 0xFE
        #expect(try BloodPressureMeasurement(decoding: bytes).userID == .user(254))
        bytes[7] = 0x00
        #expect(try BloodPressureMeasurement(decoding: bytes).userID == .user(0))
    }

    @Test func everyFlagsCombinationRoundTrips() throws {
        for flags in UInt8(0)..<32 {
            let record = BloodPressureRecord(
                unit: flags & 0x01 != 0 ? .kilopascals : .millimetresOfMercury,
                systolic: .number(mantissa: 1215, exponent: -1), diastolic: .number(mantissa: 79, exponent: 0),
                meanArterialPressure: .nan,
                timeStamp: flags & 0x02 != 0
                    ? DateTime(year: nil, month: 1, day: 2, hour: 3, minute: 4, second: 5) : nil,
                pulseRate: flags & 0x04 != 0 ? .number(mantissa: 64, exponent: 0) : nil,
                userID: flags & 0x08 != 0 ? .unknown : nil,
                measurementStatus: flags & 0x10 != 0
                    ? BloodPressureMeasurementStatus(cuffTooLoose: true, reservedBits: 0x8000) : nil)
            let expectedLength =
                7 + (flags & 0x02 != 0 ? 7 : 0) + (flags & 0x04 != 0 ? 2 : 0) + (flags & 0x08 != 0 ? 1 : 0)
                + (flags & 0x10 != 0 ? 2 : 0)
            for value in [
                BloodPressureMeasurement(record: record).encoded(), IntermediateCuffPressure(record: record).encoded(),
            ] {
                #expect(value.first == flags)
                #expect(value.count == expectedLength)
            }
            Kit.expectRoundTrip(BloodPressureMeasurement(record: record))
            Kit.expectRoundTrip(IntermediateCuffPressure(record: record))
        }
    }

    @Test func truncationAtEveryLength() {
        Kit.expectTruncation(
            BloodPressureMeasurement.self, full: Self.full, layout: Self.layout(firstField: "systolic"))
        Kit.expectTruncation(
            IntermediateCuffPressure.self, full: Self.full, layout: Self.layout(firstField: "current_cuff_pressure"))
    }

    @Test func extraByteIsRefused() {
        Kit.expectTrailingByteRefused(BloodPressureMeasurement.self, full: Self.full)
        Kit.expectTrailingByteRefused(IntermediateCuffPressure.self, full: Self.full)
        Kit.expectTrailingByteRefused(BloodPressureMeasurement.self, full: [0x00, 0x78, 0x00, 0x50, 0x00, 0x5D, 0x00])
    }

    /// The Bluetooth rule for reserved parts: a reserved flag bit is ignored for the layout and kept (the value
    /// re-encodes to the bytes sent); octets after the known fields — a field a newer monitor adds — are ignored then.
    @Test(arguments: [UInt8(0x20), 0x40, 0x80])
    func reservedFlagBitsAreIgnoredAndKept(bit: UInt8) throws {
        var bytes = Self.full
        bytes[0] |= bit
        let measurement = try BloodPressureMeasurement(decoding: bytes)
        let clean = try BloodPressureMeasurement(decoding: Self.full)
        #expect(measurement.record.reservedFlags == bit)
        #expect(
            measurement.record.systolic == clean.record.systolic
                && measurement.record.measurementStatus == clean.record.measurementStatus)
        #expect(measurement.encoded() == bytes)
        #expect(measurement.json["reserved_flags"] == .integer(bit))
        #expect(try IntermediateCuffPressure(decoding: bytes).record.reservedFlags == bit)
        let newer = try BloodPressureMeasurement(decoding: bytes + [0x01, 0x02])
        #expect(newer.record.systolic == clean.record.systolic && newer.record.reservedFlags == bit)
        // The known layout must still be there.
        #expect(throws: CharacteristicDecodeError.self) { try BloodPressureMeasurement(decoding: [bit]) }
    }

    /// Pulse-rate range 3 is reserved: the pressures are kept, the range is unknown, and the reading says so.
    @Test func aReservedPulseRateRangeKeepsTheReading() throws {
        var bytes = Self.full
        bytes[17] = 0x18  // bits 3-4 = 3
        let measurement = try BloodPressureMeasurement(decoding: bytes)
        let status = try #require(measurement.measurementStatus)
        #expect(status.pulseRateRange == .reserved && status.hasConcern)
        #expect(status.concerns == ["pulse rate unknown (reserved value 3)"])
        #expect(measurement.record.systolic == (try BloodPressureMeasurement(decoding: Self.full)).record.systolic)
        #expect(measurement.encoded() == bytes)
    }

    @Test func everyPulseRateRangeValue() throws {
        let expected: [(UInt8, BloodPressureMeasurementStatus.PulseRateRange)] = [
            (0x00, .withinRange), (0x08, .exceedsUpperLimit), (0x10, .lessThanLowerLimit),
        ]
        for (raw, range) in expected {
            var bytes = Self.full
            bytes[17] = raw
            let status = try #require(try BloodPressureMeasurement(decoding: bytes).measurementStatus)
            #expect(status.pulseRateRange == range)
            #expect(status.hasConcern == (range != .withinRange))
        }
    }

    @Test func reservedStatusBitsAreKeptNotRefused() throws {
        var bytes = Self.full
        bytes[17] = 0xC0  // bits 6-7
        bytes[18] = 0xFF  // bits 8-15
        let value = try BloodPressureMeasurement(decoding: bytes)
        let status = try #require(value.measurementStatus)
        #expect(status.reservedBits == 0xFFC0)
        #expect(status.pulseRateRange == .withinRange)
        #expect(status.hasConcern)
        #expect(status.concerns == ["reserved status bits set"])
        #expect(value.encoded() == bytes)
        #expect(value.json["measurement_status"]?["reserved_bits"] == .number("65472"))
    }

    @Test func eachStatusBitIsItsOwnConcern() throws {
        let bits: [(UInt16, String)] = [
            (0x0001, "body movement detected"), (0x0002, "cuff fit too loose"), (0x0004, "irregular pulse detected"),
            (0x0010, "pulse rate less than lower limit"), (0x0020, "improper measurement position"),
        ]
        for (raw, concern) in bits {
            var bytes = Self.full
            bytes[17] = UInt8(raw & 0xFF)
            let status = try #require(try BloodPressureMeasurement(decoding: bytes).measurementStatus)
            #expect(status.concerns == [concern])
            #expect(status.rawValue == raw)
        }
    }

    /// Through the reading mapper: the cuff's reading is kept, its pressures intact, on its receive time, the stamp
    /// refused as not a date and time (timeRefused: doubtful, left out of summaries), the bytes kept as sent.
    @Test func aReservedMonthGivesTheReadingItsReceiveTime() throws {
        var bytes = Self.full
        bytes[9] = 13
        let received = ReceivedMeasurement(
            measurement: Measurement(try BloodPressureMeasurement(decoding: bytes)),
            characteristic: .bloodPressureMeasurement,
            rawPayloads: [bytes], receivedAt: Date(timeIntervalSince1970: 1_795_000_000), delivery: .indication,
            contextMissing: false,
            acknowledgement: .none)
        let policy = TimePolicy(timeZoneIdentifier: "Asia/Tokyo")
        let options = ReadingMapperOptions(gateway: GatewayRecord(id: "gw", softwareVersion: "test")) {
            stamp, offset, received, clocks in
            TimeDecisionRules.decide(
                deviceTimestamp: stamp, deviceTimeOffsetMinutes: offset, receivedMicros: received, comparisons: clocks,
                policy: policy)
        }
        let readings = ReadingMapper.readings(
            from: received, identity: DeviceIdentity(link: "test"), clocks: [], options: options)
        let pressure = try #require(readings.first { $0.kind == .bloodPressure })
        #expect(pressure.components.first?.value == .quantity(DecimalQuantity(mantissa: 120, exponent: 0)))
        #expect(pressure.flags.contains(.timeRefused))
        #expect(pressure.time.effectiveMicros == 1_795_000_000_000_000)
        if case .refused(let reason) = pressure.time.decision {
            #expect(reason.contains("invalid_timestamp"), "\(reason)")
        } else {
            Issue.record("expected the stamp refused, got \(pressure.time.decision)")
        }
        #expect(pressure.rawPayloads == [bytes])
    }

    /// A time stamp with a reserved value (month 13) does not discard the measurement: the pressures are kept, the
    /// stamp is kept as sent (and re-encoded exactly) but is not valid, so the time rules give the reading its
    /// receive time, flagged.
    @Test func aReservedValueInTheTimeStampKeepsTheMeasurement() throws {
        var bytes = Self.full
        bytes[9] = 13
        let value = try BloodPressureMeasurement(decoding: bytes)
        #expect(value.record.systolic == (try BloodPressureMeasurement(decoding: Self.full)).record.systolic)
        #expect(value.record.timeStamp?.month == 13 && value.record.timeStamp?.isValid == false)
        #expect(value.encoded() == bytes)
        #expect(try BloodPressureMeasurement(decoding: Self.full).record.timeStamp?.isValid == true)
    }

    // MARK: Intermediate Cuff Pressure

    @Test func intermediateCuffPressureUsesTheSystolicSlot() throws {
        let bytes: [UInt8] = [0x00, 0x91, 0x00, 0xFF, 0x07, 0xFF, 0x07]
        var value = try IntermediateCuffPressure(decoding: bytes)
        #expect(value.currentCuffPressure == .number(mantissa: 145, exponent: 0))
        #expect(value.diastolic == .nan)
        #expect(
            value.json.text
                == #"{"units":"mmHg","current_cuff_pressure":145,"diastolic":"NaN","mean_arterial_pressure":"NaN"}"#)
        value.currentCuffPressure = .number(mantissa: 150, exponent: 0)
        #expect(value.record.systolic == .number(mantissa: 150, exponent: 0))
        #expect(value.encoded() == [0x00, 0x96, 0x00, 0xFF, 0x07, 0xFF, 0x07])
        Kit.expectError(
            IntermediateCuffPressure.self, [0x00, 0x91, 0x00], field: "diastolic", offset: 3,
            problem: .truncated(needed: 2, available: 0))
    }

    // MARK: Blood Pressure Feature

    @Test func featureDecodesEveryAssignedBit() throws {
        let all = try BloodPressureFeature(decoding: [0xFF, 0x01])
        #expect(
            all
                == BloodPressureFeature(
                    bodyMovementDetection: true, cuffFitDetection: true, irregularPulseDetection: true,
                    pulseRateRangeDetection: true, measurementPositionDetection: true, multipleBond: true, e2eCRC: true,
                    userDataService: true, userFacingTime: true))
        let some = try BloodPressureFeature(decoding: [0x25, 0x00])  // bits 0, 2, 5
        #expect(some.bodyMovementDetection && some.irregularPulseDetection && some.multipleBond)
        #expect(!some.cuffFitDetection && !some.e2eCRC && !some.userFacingTime)
        #expect(some.json["multiple_bond_support"] == .bool(true))
        #expect(some.json["user_facing_time_support"] == .bool(false))
        let onlyUserFacingTime = try BloodPressureFeature(decoding: [0x00, 0x01])
        #expect(onlyUserFacingTime.userFacingTime && !onlyUserFacingTime.userDataService)
    }

    @Test func everyFeatureCombinationRoundTrips() throws {
        for raw in UInt16(0)..<0x200 {
            let bytes = [UInt8(raw & 0xFF), UInt8(raw >> 8)]
            let value = try BloodPressureFeature(decoding: bytes)
            #expect(value.rawValue == raw)
            #expect(value.encoded() == bytes)
        }
    }

    @Test func featureReservedBitsTruncationAndTrailing() {
        for bit in 9..<16 {
            let raw = UInt16(1) << UInt16(bit)
            Kit.expectError(
                BloodPressureFeature.self, [UInt8(raw & 0xFF), UInt8(raw >> 8)], field: "blood_pressure_feature",
                offset: 0, problem: .reservedFlagBits(UInt64(raw)))
        }
        Kit.expectTruncation(BloodPressureFeature.self, full: [0x01, 0x00], layout: [("blood_pressure_feature", 2)])
        Kit.expectTrailingByteRefused(BloodPressureFeature.self, full: [0x01, 0x00])
    }

    // MARK: Catalog and fuzz

    @Test func catalogFindsTheBloodPressureTypes() throws {
        #expect(Kit.catalogType(0x2A35) == ObjectIdentifier(BloodPressureMeasurement.self))
        #expect(Kit.catalogType(0x2A36) == ObjectIdentifier(IntermediateCuffPressure.self))
        #expect(Kit.catalogType(0x2A49) == ObjectIdentifier(BloodPressureFeature.self))
        let decoded = try CharacteristicCatalog.decode(uuid: .bloodPressureMeasurement, bytes: Self.full)
        #expect(decoded as? BloodPressureMeasurement == (try BloodPressureMeasurement(decoding: Self.full)))
    }

    static func randomPayload(_ random: inout CharacteristicTestKit.SplitMix64) -> [UInt8] {
        var bytes = random.bytes(random.below(24))
        // Half the time keep the flags inside the known bits so the decoder gets past the first byte.
        if !bytes.isEmpty, random.chance(50) { bytes[0] &= 0x1F }
        return random.chance(30) ? Kit.mutated(Self.full, &random) : bytes
    }

    static func noReservedFlags(_ bytes: [UInt8]) -> Bool { bytes.first.map { $0 & 0xE0 == 0 } ?? true }

    @Test func fuzzNeverCrashesAndCanonicalPayloadsReEncodeExactly() {
        for (index, run) in [
            // With a reserved flag bit set, octets after the known fields are ignored: such payloads re-encode without them.
            Kit.fuzz(
                BloodPressureMeasurement.self, seed: 0xB9_0001, makeBytes: Self.randomPayload,
                isCanonical: Self.noReservedFlags),
            Kit.fuzz(
                IntermediateCuffPressure.self, seed: 0xB9_0002, makeBytes: Self.randomPayload,
                isCanonical: Self.noReservedFlags),
            Kit.fuzz(BloodPressureFeature.self, seed: 0xB9_0003) { random in
                var bytes = random.bytes(random.below(4))
                if bytes.count > 1, random.chance(60) { bytes[1] &= 0x01 }
                return bytes
            },
        ].enumerated() {
            #expect(run.decoded > 100, "run \(index)")
            #expect(run.refused > 100, "run \(index)")
        }
    }
}
