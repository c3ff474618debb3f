import Testing

@testable import BLEGateway

@Suite struct HeartRateTests {
    typealias Kit = CharacteristicTestKit

    /// Every field: UINT16 value 300 bpm, contact detected, 1000 kJ expended, one RR interval of 1024/1024 s.
    static let full: [UInt8] = [
        0x1F,  // flags: uint16 value, contact supported + detected, energy expended, RR intervals
        0x2C, 0x01,  // 300 bpm
        0xE8, 0x03,  // 1000 kJ
        0x00, 0x04,  // RR 1024 ticks = 1 s
    ]

    @Test func decodesSpecificationExampleFieldByField() throws {
        let value = try HeartRateMeasurement(decoding: Self.full)
        #expect(value.heartRate == .uint16(300))
        #expect(value.heartRate.beatsPerMinute == 300)
        #expect(value.sensorContact == .detected)
        #expect(value.energyExpended == 1000)
        #expect(value.rrIntervals == [.init(ticks: 1024)])
        #expect(value.flags == 0x1F)
        #expect(value.encoded() == Self.full)
        let expected =
            #"{"heart_rate_measurement_value":300,"heart_rate_value_format":"uint16","#
            + #""sensor_contact_status":"detected","energy_expended":1000,"#
            + #""rr_intervals":[{"ticks":1024,"seconds":1}]}"#
        #expect(value.json.text == expected)
    }

    @Test func typicalStrapNotification() throws {
        // UINT8 72 bpm, contact detected, two RR intervals (0.5 s and 0.75 s).
        let value = try HeartRateMeasurement(decoding: [0x16, 0x48, 0x00, 0x02, 0x00, 0x03])
        #expect(value.heartRate == .uint8(72))
        #expect(value.energyExpended == nil)
        #expect(value.rrIntervals?.map(\.ticks) == [512, 768])
        #expect(value.rrIntervals?.map(\.seconds) == ["0.5", "0.75"])
    }

    @Test(arguments: [
        (UInt16(1024), "1"), (512, "0.5"), (1, "0.0009765625"), (0, "0"), (3, "0.0029296875"),
        (65535, "63.9990234375"), (1536, "1.5"),
    ])
    func rrIntervalSecondsAreExact(ticks: UInt16, seconds: String) {
        #expect(HeartRateMeasurement.RRInterval(ticks: ticks).seconds == seconds)
    }

    @Test func sensorContactBits() throws {
        let expected: [(UInt8, HeartRateMeasurement.SensorContact)] = [
            (0x00, .notSupported), (0x02, .notSupported), (0x04, .notDetected), (0x06, .detected),
        ]
        for (bits, contact) in expected {
            let value = try HeartRateMeasurement(decoding: [bits, 60])
            #expect(value.sensorContact == contact)
        }
        // 0b01 is the one non-canonical pattern: it means "not supported" and re-encodes as 0b00.
        #expect(try HeartRateMeasurement(decoding: [0x02, 60]).encoded() == [0x00, 60])
        #expect(
            try HeartRateMeasurement(decoding: [0x04, 60]).json["sensor_contact_status"] == .string("not detected"))
    }

    @Test func everyFlagsCombinationRoundTrips() throws {
        for flags in UInt8(0)..<32 {
            var bytes: [UInt8] = [flags]
            bytes += flags & 0x01 != 0 ? [0xC8, 0x00] : [0xC8]  // 200 bpm in either width
            if flags & 0x08 != 0 { bytes += [0x34, 0x12] }
            if flags & 0x10 != 0 { bytes += [0x01, 0x00, 0xFF, 0xFF] }
            let value = try HeartRateMeasurement(decoding: bytes)
            #expect(value.heartRate.beatsPerMinute == 200)
            #expect(value.energyExpended == (flags & 0x08 != 0 ? 0x1234 : nil))
            #expect(value.rrIntervals?.map(\.ticks) == (flags & 0x10 != 0 ? [1, 0xFFFF] : nil))
            var canonical = bytes
            if flags & 0x06 == 0x02 { canonical[0] &= ~0x02 }
            #expect(value.encoded() == canonical, "flags 0x\(String(flags, radix: 16))")
            Kit.expectRoundTrip(value)
        }
    }

    @Test func rrFlagWithoutIntervalsIsTruncated() {
        Kit.expectError(
            HeartRateMeasurement.self, [0x10, 0x48], field: "rr_interval[0]", offset: 2,
            problem: .truncated(needed: 2, available: 0))
        Kit.expectError(
            HeartRateMeasurement.self, [0x10, 0x48, 0x00, 0x04, 0x01], field: "rr_interval[1]", offset: 4,
            problem: .truncated(needed: 2, available: 1))
    }

    @Test func truncationAtEveryLengthAndTrailingBytes() {
        Kit.expectTruncation(
            HeartRateMeasurement.self, full: Self.full,
            layout: [("flags", 1), ("heart_rate_measurement_value", 2), ("energy_expended", 2), ("rr_interval[0]", 2)])
        // With RR intervals, more bytes are more intervals; without, an extra byte is refused.
        Kit.expectTrailingByteRefused(HeartRateMeasurement.self, full: [0x08, 0x48, 0xE8, 0x03])
        Kit.expectTrailingByteRefused(HeartRateMeasurement.self, full: [0x01, 0x48, 0x00])
    }

    /// A reserved flag bit is ignored and kept: the heart rate stands, the value re-encodes as sent, and octets a
    /// newer strap adds (after the known fields, or an odd one after the RR intervals) are ignored.
    @Test(arguments: [UInt8(0x20), 0x40, 0x80])
    func reservedFlagBitsAreIgnoredAndKept(bit: UInt8) throws {
        let value = try HeartRateMeasurement(decoding: [bit | 0x01, 0x48, 0x00])
        #expect(value.heartRate == .uint16(0x48) && value.reservedFlags == bit)
        #expect(value.encoded() == [bit | 0x01, 0x48, 0x00])
        #expect(try HeartRateMeasurement(decoding: [bit, 0x48, 0x07]).heartRate == .uint8(0x48))
        let intervals = try HeartRateMeasurement(decoding: [bit | 0x10, 0x48, 0x00, 0x04, 0x09])
        #expect(intervals.rrIntervals == [.init(ticks: 0x0400)])
    }

    // MARK: Body Sensor Location

    @Test func bodySensorLocations() throws {
        let names = ["Other", "Chest", "Wrist", "Finger", "Hand", "Ear Lobe", "Foot"]
        for raw in 0...255 {
            let bytes = [UInt8(raw)]
            if raw < names.count {
                let location = try BodySensorLocation(decoding: bytes)
                #expect(location.rawValue == UInt8(raw))
                #expect(location.json == .members([("body_sensor_location", .string(names[raw]))]))
                #expect(location.encoded() == bytes)
            } else {
                Kit.expectError(
                    BodySensorLocation.self, bytes, field: "body_sensor_location", offset: 0,
                    problem: .reservedValue(UInt64(raw)))
            }
        }
        #expect(try BodySensorLocation(decoding: [0x01]) == .chest)
        Kit.expectTruncation(BodySensorLocation.self, full: [0x01], layout: [("body_sensor_location", 1)])
        Kit.expectTrailingByteRefused(BodySensorLocation.self, full: [0x01])
    }

    // MARK: Heart Rate Control Point

    @Test func controlPointAcceptsOnlyResetEnergyExpended() throws {
        let reset = try HeartRateControlPoint(decoding: [0x01])
        #expect(reset.opCode == .resetEnergyExpended)
        #expect(reset.encoded() == [0x01])
        #expect(HeartRateControlPoint().encoded() == [0x01])
        for raw in [0, 2, 3, 0x7F, 0xFF] {
            Kit.expectError(
                HeartRateControlPoint.self, [UInt8(raw)], field: "heart_rate_control_point", offset: 0,
                problem: .reservedValue(UInt64(raw)))
        }
        Kit.expectTruncation(HeartRateControlPoint.self, full: [0x01], layout: [("heart_rate_control_point", 1)])
        Kit.expectTrailingByteRefused(HeartRateControlPoint.self, full: [0x01])
    }

    // MARK: Catalog and fuzz

    @Test func catalogFindsTheHeartRateTypes() {
        #expect(Kit.catalogType(0x2A37) == ObjectIdentifier(HeartRateMeasurement.self))
        #expect(Kit.catalogType(0x2A38) == ObjectIdentifier(BodySensorLocation.self))
        #expect(Kit.catalogType(0x2A39) == ObjectIdentifier(HeartRateControlPoint.self))
    }

    @Test func fuzzNeverCrashesAndCanonicalPayloadsReEncodeExactly() {
        let measurement = Kit.fuzz(
            HeartRateMeasurement.self, seed: 0x4852_0001,
            makeBytes: { random in
                var bytes = random.bytes(random.below(16))
                if !bytes.isEmpty, random.chance(60) { bytes[0] &= 0x1F }
                return random.chance(20) ? Kit.mutated(Self.full, &random) : bytes
            },
            // Sensor contact 1 re-encodes as 0; with a reserved flag bit set, ignored octets are not re-encoded.
            isCanonical: { bytes in bytes.first.map { $0 & 0x06 != 0x02 && $0 & 0xE0 == 0 } ?? true })
        #expect(measurement.decoded > 500)
        #expect(measurement.refused > 500)
        for (seed, run) in [
            (1, Kit.fuzz(BodySensorLocation.self, seed: 0x4852_0002) { random in random.bytes(random.below(3)) }),
            (
                2,
                Kit.fuzz(HeartRateControlPoint.self, seed: 0x4852_0003) { random in
                    random.chance(20) ? Kit.mutated([0x01], &random) : random.bytes(random.below(3))
                }
            ),
        ] {
            #expect(run.decoded > 0, "run \(seed)")
            #expect(run.refused > 100, "run \(seed)")
        }
    }
}
