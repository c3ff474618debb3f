import Foundation
import Provenance
import Testing

@testable import BLEGateway

/// Pulse Oximeter: every flag combination and special value of both measurements through decode and the simulator's
/// encoder, refusals naming the field and offset, reserved parts kept, the features, and sessions against the
/// simulated oximeter (stored spot-checks through the RACP, deleted only after each was confirmed; continuous values).
@Suite struct PulseOximeterTests {
    typealias Kit = CharacteristicTestKit

    static let stamp = DateTime(year: 2026, month: 12, day: 7, hour: 6, minute: 30, second: 0)
    static let values: [MedicalFloat] = [
        .number(mantissa: 97, exponent: 0), .number(mantissa: 955, exponent: -1), .nan, .nres, .positiveInfinity,
        .negativeInfinity,
    ]

    @Test func everySpotCheckFlagCombinationAndSpecialValueRoundTrips() {
        for flags in 0..<32 {
            for value in Self.values {
                let measurement = PLXSpotCheckMeasurement(
                    value: SpO2PR(spO2: value, pulseRate: .number(mantissa: 64, exponent: 0)),
                    timeStamp: flags & 1 != 0 ? Self.stamp : nil,
                    measurementStatus: flags & 2 != 0 ? [.validatedData, .dataFromMeasurementStorage] : nil,
                    deviceAndSensorStatus: flags & 4 != 0 ? [.lowPerfusionDetected, .sensorDisconnected] : nil,
                    pulseAmplitudeIndex: flags & 8 != 0 ? value : nil, deviceClockNotSet: flags & 16 != 0)
                Kit.expectRoundTrip(measurement)
                let bytes = measurement.encoded()
                #expect(bytes[0] == UInt8(flags))
                #expect(
                    bytes.count == 5 + (flags & 1 != 0 ? 7 : 0) + (flags & 2 != 0 ? 2 : 0) + (flags & 4 != 0 ? 3 : 0)
                        + (flags & 8 != 0 ? 2 : 0))
            }
        }
    }

    @Test func everyContinuousFlagCombinationAndSpecialValueRoundTrips() {
        for flags in 0..<32 {
            for value in Self.values {
                let pair = SpO2PR(spO2: value, pulseRate: .number(mantissa: 71, exponent: 0))
                let measurement = PLXContinuousMeasurement(
                    normal: pair, fast: flags & 1 != 0 ? pair : nil,
                    slow: flags & 2 != 0 ? SpO2PR(spO2: .nres, pulseRate: value) : nil,
                    measurementStatus: flags & 4 != 0 ? [.measurementOngoing] : nil,
                    deviceAndSensorStatus: flags & 8 != 0 ? [.erraticSignalDetected] : nil,
                    pulseAmplitudeIndex: flags & 16 != 0 ? .number(mantissa: 38, exponent: -1) : nil)
                Kit.expectRoundTrip(measurement)
                #expect(measurement.encoded()[0] == UInt8(flags))
            }
        }
    }

    @Test func aKnownSpotCheckDecodesExactly() throws {
        // Flags 0x0F: time stamp, measurement status, device and sensor status, PAI. SpO2 97, PR 64, 2026-12-07
        // 06:30:00, status 0x0280 (validated, from storage), sensor 0x000020 (low perfusion), PAI 4.2.
        let bytes: [UInt8] = [
            0x0F, 0x61, 0x00, 0x40, 0x00, 0xEA, 0x07, 12, 7, 6, 30, 0, 0x80, 0x02, 0x20, 0x00, 0x00, 0x2A, 0xF0,
        ]
        let measurement = try PLXSpotCheckMeasurement(decoding: bytes)
        #expect(measurement.value.spO2.description == "97" && measurement.value.pulseRate.description == "64")
        #expect(measurement.timeStamp == Self.stamp)
        #expect(measurement.measurementStatus == [.validatedData, .dataFromMeasurementStorage])
        #expect(measurement.deviceAndSensorStatus == [.lowPerfusionDetected])
        #expect(measurement.pulseAmplitudeIndex?.description == "4.2")
        #expect(measurement.encoded() == bytes)
        #expect(Kit.catalogType(0x2A5E) == ObjectIdentifier(PLXSpotCheckMeasurement.self))
        #expect(Kit.catalogType(0x2A5F) == ObjectIdentifier(PLXContinuousMeasurement.self))
        #expect(Kit.catalogType(0x2A60) == ObjectIdentifier(PLXFeatures.self))
    }

    @Test func truncationNamesTheFieldAndItsOffset() {
        let spot: [UInt8] = [
            0x0F, 0x61, 0x00, 0x40, 0x00, 0xEA, 0x07, 12, 7, 6, 30, 0, 0x80, 0x02, 0x20, 0x00, 0x00, 0x2A, 0xF0,
        ]
        Kit.expectTruncation(
            PLXSpotCheckMeasurement.self, full: spot,
            layout: [
                ("flags", 1), ("spo2pr_spot_check.spo2", 2), ("spo2pr_spot_check.pr", 2), ("timestamp.year", 2),
                ("timestamp.month", 1), ("timestamp.day", 1), ("timestamp.hours", 1), ("timestamp.minutes", 1),
                ("timestamp.seconds", 1), ("measurement_status", 2), ("device_and_sensor_status", 3),
                ("pulse_amplitude_index", 2),
            ])
        Kit.expectTrailingByteRefused(PLXSpotCheckMeasurement.self, full: spot)
        let continuous: [UInt8] = [0x03, 0x61, 0x00, 0x40, 0x00, 0x60, 0x00, 0x41, 0x00, 0x62, 0x00, 0x3F, 0x00]
        Kit.expectTruncation(
            PLXContinuousMeasurement.self, full: continuous,
            layout: [
                ("flags", 1), ("spo2pr_normal.spo2", 2), ("spo2pr_normal.pr", 2), ("spo2pr_fast.spo2", 2),
                ("spo2pr_fast.pr", 2),
                ("spo2pr_slow.spo2", 2), ("spo2pr_slow.pr", 2),
            ])
        Kit.expectTrailingByteRefused(PLXContinuousMeasurement.self, full: continuous)
        let features: [UInt8] = [0x03, 0x00, 0x80, 0x02, 0x20, 0x00, 0x00]
        Kit.expectTruncation(
            PLXFeatures.self, full: features,
            layout: [
                ("supported_features", 2), ("measurement_status_support", 2), ("device_and_sensor_status_support", 3),
            ])
        Kit.expectTrailingByteRefused(PLXFeatures.self, full: features)
    }

    /// Reserved flag bits are kept (and octets after the known fields then ignored); reserved status bits and feature
    /// bits are kept raw and re-encoded, never a reason to refuse the measurement.
    @Test func reservedPartsAreIgnoredAndKept() throws {
        let newer: [UInt8] = [0x40 | 0x02, 0x61, 0x00, 0x40, 0x00, 0x1F, 0x80, 0xAB]
        let spot = try PLXSpotCheckMeasurement(decoding: newer)
        #expect(spot.reservedFlags == 0x40)
        #expect(
            spot.measurementStatus?.reservedBits == 0x1F
                && spot.measurementStatus?.contains(.invalidMeasurementDetected) == true)
        #expect(spot.encoded() == Array(newer.prefix(7)))
        let sensor = try PLXContinuousMeasurement(decoding: [0x08, 0x61, 0x00, 0x40, 0x00, 0x00, 0x00, 0xFF])
        #expect(sensor.deviceAndSensorStatus?.reservedBits == 0xFF_0000)
        #expect(sensor.encoded() == [0x08, 0x61, 0x00, 0x40, 0x00, 0x00, 0x00, 0xFF])
        let features = try PLXFeatures(decoding: [0x04, 0xF0])
        #expect(features.supported.contains(.spotCheckStorage) && features.supported.rawValue & 0xFF00 == 0xF000)
        #expect(features.encoded() == [0x04, 0xF0])
        #expect(features.json.text.contains("reserved_feature_bits"))
    }

    @Test func fuzzedPayloadsAreRefusedOrSurviveTheirEncoding() {
        let spot = Kit.fuzz(
            PLXSpotCheckMeasurement.self, seed: 0x1822,
            makeBytes: { random in
                Kit.mutated(
                    PLXSpotCheckMeasurement(
                        value: SpO2PR(spO2: .number(mantissa: Int32(random.below(101)), exponent: 0), pulseRate: .nan),
                        timeStamp: random.below(2) == 0 ? nil : Self.stamp,
                        measurementStatus: random.below(2) == 0
                            ? nil : PLXMeasurementStatus(rawValue: UInt16(random.below(65536))),
                        deviceAndSensorStatus: random.below(2) == 0
                            ? nil : PLXDeviceAndSensorStatus(rawValue: UInt32(random.below(1 << 24))),
                        pulseAmplitudeIndex: random.below(2) == 0 ? nil : .nres, deviceClockNotSet: random.below(2) == 0
                    ).encoded(), &random)
            },
            isCanonical: { ($0.first ?? 0) & 0xE0 == 0 })
        #expect(spot.decoded > 0 && spot.refused > 0)
        let continuous = Kit.fuzz(
            PLXContinuousMeasurement.self, seed: 0x2A5F,
            makeBytes: { random in
                let pair = SpO2PR(
                    spO2: .number(mantissa: Int32(random.below(101)), exponent: 0),
                    pulseRate: .number(mantissa: 60, exponent: 0))
                return Kit.mutated(
                    PLXContinuousMeasurement(
                        normal: pair, fast: random.below(2) == 0 ? nil : pair, slow: random.below(2) == 0 ? nil : pair,
                        measurementStatus: random.below(2) == 0 ? nil : [.validatedData],
                        pulseAmplitudeIndex: random.below(2) == 0 ? nil : .number(mantissa: 5, exponent: 0)
                    ).encoded(), &random)
            },
            isCanonical: { ($0.first ?? 0) & 0xE0 == 0 })
        #expect(continuous.decoded > 0 && continuous.refused > 0)
    }

    // MARK: Sessions against the simulated oximeter

    static func oximeter(_ change: (inout SimulatedPulseOximeter.Configuration) -> Void = { _ in })
        -> SimulatedPulseOximeter
    {
        var configuration = SimulatedPulseOximeter.Configuration()
        configuration.clock = SimulatedClock(offset: 0, reference: simulationNow, timeZone: tokyo)
        configuration.continuousInterval = .milliseconds(1)
        change(&configuration)
        return SimulatedPulseOximeter(configuration: configuration, now: { simulationNow })
    }

    /// Stored spot-checks: counted, reported (each confirmed once acknowledged), then deleted; continuous values follow.
    /// Every reading is an SpO2 and a pulse rate; the sensor's low perfusion makes the pair doubtful.
    @Test func storedSpotChecksAreDownloadedThenDeleted() async throws {
        let oximeter = Self.oximeter()
        await oximeter.measure(spO2: .number(mantissa: 97, exponent: 0), pulseRate: .number(mantissa: 64, exponent: 0))
        await oximeter.measure(
            spO2: .number(mantissa: 89, exponent: 0), pulseRate: .number(mantissa: 101, exponent: 0),
            sensor: [.lowPerfusionDetected])
        await oximeter.measure(spO2: .nan, pulseRate: .nan, sensor: [.sensorDisplaced])
        let client = try await connect(oximeter)
        let log = await SessionLog.collect(PulseOximeterSession(client: client, options: sessionOptions()).run())
        #expect(log.error == nil, "\(String(describing: log.error))")
        let spots = log.measurements.compactMap { $0.measurement.as(PLXSpotCheckMeasurement.self) }
        #expect(spots.map(\.value.spO2.description) == ["97", "89", "NaN"])
        #expect(spots.allSatisfy { $0.measurementStatus?.contains(.dataFromMeasurementStorage) == true })
        #expect(log.transfer == StoredRecordTransfer(announced: 3, delivered: 3, responseCode: .success))
        #expect(log.events.contains { if case .storedRecordCount(3) = $0 { true } else { false } })
        let continuous = log.measurements.compactMap { $0.measurement.as(PLXContinuousMeasurement.self) }
        #expect(continuous.count == 3)
        #expect(await oximeter.stored.isEmpty)
        #expect(await oximeter.confirmedSpotChecks.count == 3)
        #expect(
            await oximeter.acceptedRequests == [
                .reportNumberOfStoredRecords(.allRecords), .reportStoredRecords(.allRecords),
                .deleteStoredRecords(.allRecords),
            ])

        let options = ReadingMapperOptions(gateway: GatewayRecord(id: "gw", softwareVersion: "test")) {
            stamp, offset, received, clocks in
            TimeDecisionRules.decide(
                deviceTimestamp: stamp, deviceTimeOffsetMinutes: offset, receivedMicros: received, comparisons: clocks,
                policy: TimePolicy(timeZoneIdentifier: "Asia/Tokyo"))
        }
        let readings = log.measurements.flatMap {
            ReadingMapper.readings(from: $0, identity: DeviceIdentity(link: "test"), clocks: [], options: options)
        }
        #expect(readings.count == 12)  // 3 spot-checks and 3 continuous values, each an SpO2 and a pulse rate
        #expect(readings[0].kind == .oxygenSaturation && readings[1].kind == .oximetryPulseRate)
        #expect(readings[0].components.map(\.metric) == [.oxygenSaturation, .pulseAmplitudeIndex])
        #expect(
            readings[0].components[0]
                == ReadingComponent(
                    metric: .oxygenSaturation, value: .quantity(DecimalQuantity(mantissa: 97, exponent: 0)), unit: "%"))
        #expect(!readings[0].flags.contains(.sensorAnnunciation) && readings[2].flags.contains(.sensorAnnunciation))
        #expect(readings[2].context.statusLabels.contains("low_perfusion_detected"))
        #expect(readings[4].flags.contains(.valueAbsent))
    }

    /// A link lost during the report leaves every record on the oximeter (no delete was sent); the next connection
    /// reports them all again.
    @Test func aTransferCutShortDeletesNothing() async throws {
        let oximeter = Self.oximeter()
        await oximeter.measure(count: 4, users: [], seed: 9, end: simulationNow, spacing: 3600)
        let client = try await connect(oximeter)
        var seen = 0
        for try await event in PulseOximeterSession(client: client, options: sessionOptions()).run() {
            guard case .measurement(let m) = event, m.measurement.as(PLXSpotCheckMeasurement.self) != nil else {
                continue
            }
            seen += 1
            try await m.acknowledgeDurable()
            if seen == 2 {
                client.close()
                break
            }
        }
        #expect(await oximeter.stored.count == 4)
        #expect(!(await oximeter.acceptedRequests.contains(.deleteStoredRecords(.allRecords))))
        let again = try await connect(oximeter)
        let log = await SessionLog.collect(PulseOximeterSession(client: again, options: sessionOptions()).run())
        #expect(log.transfer?.delivered == 4 && log.transfer?.responseCode == .success)
        #expect(await oximeter.stored.isEmpty)
    }

    /// Without storage the oximeter indicates what it holds when the collector subscribes; no RACP is used.
    @Test func anOximeterWithoutStorageIndicatesItsSpotChecks() async throws {
        let oximeter = Self.oximeter {
            $0.storesSpotChecks = false
            $0.continuousCount = 0
        }
        await oximeter.measure(spO2: .number(mantissa: 95, exponent: 0), pulseRate: .number(mantissa: 70, exponent: 0))
        let client = try await connect(oximeter)
        let log = await SessionLog.collect(PulseOximeterSession(client: client, options: sessionOptions()).run())
        #expect(log.error == nil)
        #expect(log.measurements.count == 1 && log.transfer == nil)
        #expect(await oximeter.acceptedRequests.isEmpty)
    }

    @Test func theDescriptorNamesTheProfile() {
        #expect(HealthProfile.named("plx") == .pulseOximeter)
        #expect(HealthProfile.serving(BluetoothUUID(0x1822)) == .pulseOximeter)
        #expect(Appearance(rawValue: 0x0C41).healthProfile == .pulseOximeter)  // 0x031 Pulse Oximeter, fingertip
    }
}
