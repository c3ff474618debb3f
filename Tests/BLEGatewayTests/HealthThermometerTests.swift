import Foundation
import Provenance
import Testing

@testable import BLEGateway

/// Health Thermometer: every flag combination and special value through decode and the simulator's encoder, refusals
/// that name the field and offset, reserved parts kept, and a whole session against the simulated thermometer.
@Suite struct HealthThermometerTests {
    typealias Kit = CharacteristicTestKit

    static let stamp = DateTime(year: 2026, month: 12, day: 7, hour: 7, minute: 10, second: 0)
    static let specials: [MedicalFloat] = [
        .number(mantissa: 368, exponent: -1), .number(mantissa: 9824, exponent: -2), .number(mantissa: -5, exponent: 0),
        .nan,
        .nres, .positiveInfinity, .negativeInfinity,
    ]

    @Test func everyFlagCombinationAndSpecialValueRoundTrips() {
        for unit in [TemperatureUnit.celsius, .fahrenheit] {
            for timeStamp in [nil, Self.stamp] {
                for site in [
                    nil, TemperatureSite.armpit, .tympanum, TemperatureSite(raw: 0), TemperatureSite(raw: 200),
                ] {
                    for value in Self.specials {
                        let record = TemperatureRecord(unit: unit, value: value, timeStamp: timeStamp, site: site)
                        Kit.expectRoundTrip(TemperatureMeasurement(record: record))
                        Kit.expectRoundTrip(IntermediateTemperature(record: record))
                        // The bytes are the specification's: flags, FLOAT, then the flagged fields in order.
                        let bytes = TemperatureMeasurement(record: record).encoded()
                        #expect(bytes.count == 5 + (timeStamp == nil ? 0 : 7) + (site == nil ? 0 : 1))
                        #expect(
                            bytes[0] == (unit == .fahrenheit ? 1 : 0) | (timeStamp == nil ? 0 : 2)
                                | (site == nil ? 0 : 4))
                    }
                }
            }
        }
    }

    @Test func aKnownPayloadDecodesExactly() throws {
        // Flags 0x06 (°C, time stamp, type), 36.8 = 368 × 10⁻¹ (FLOAT 0xFF000170), 2026-12-07 07:10:00, mouth.
        let bytes: [UInt8] = [0x06, 0x70, 0x01, 0x00, 0xFF, 0xEA, 0x07, 12, 7, 7, 10, 0, 0x06]
        let measurement = try TemperatureMeasurement(decoding: bytes)
        #expect(measurement.record.value.description == "36.8")
        #expect(measurement.record.unit == .celsius)
        #expect(measurement.record.timeStamp == Self.stamp)
        #expect(measurement.record.site == .mouth)
        #expect(measurement.encoded() == bytes)
        #expect(measurement.json.text.contains("\"temperature_measurement_value\":36.8"))
        #expect(Kit.catalogType(0x2A1C) == ObjectIdentifier(TemperatureMeasurement.self))
        #expect(Kit.catalogType(0x2A1D) == ObjectIdentifier(TemperatureType.self))
        #expect(Kit.catalogType(0x2A1E) == ObjectIdentifier(IntermediateTemperature.self))
        #expect(Kit.catalogType(0x2A21) == ObjectIdentifier(MeasurementInterval.self))
    }

    @Test func truncationNamesTheFieldAndItsOffset() {
        let full: [UInt8] = [0x06, 0x70, 0x01, 0x00, 0xFF, 0xEA, 0x07, 12, 7, 7, 10, 0, 0x06]
        Kit.expectTruncation(
            TemperatureMeasurement.self, full: full,
            layout: [
                ("flags", 1), ("temperature_measurement_value", 4), ("time_stamp.year", 2), ("time_stamp.month", 1),
                ("time_stamp.day", 1), ("time_stamp.hours", 1), ("time_stamp.minutes", 1), ("time_stamp.seconds", 1),
                ("temperature_type", 1),
            ])
        Kit.expectTrailingByteRefused(TemperatureMeasurement.self, full: full)
        Kit.expectTruncation(TemperatureType.self, full: [0x01], layout: [("temperature_type", 1)])
        Kit.expectTruncation(MeasurementInterval.self, full: [0x3C, 0x00], layout: [("measurement_interval", 2)])
        Kit.expectTrailingByteRefused(MeasurementInterval.self, full: [0x3C, 0x00])
    }

    /// Reserved flag bits are kept and re-encoded; with one set, octets after the known fields are a newer device's
    /// field and are ignored. A reserved Temperature Type value keeps the measurement and only loses the site.
    @Test func reservedPartsAreIgnoredAndKept() throws {
        let newer: [UInt8] = [0x80 | 0x04, 0x70, 0x01, 0x00, 0xFF, 0x0C, 0xAA, 0xBB]
        let measurement = try TemperatureMeasurement(decoding: newer)
        #expect(measurement.record.reservedFlags == 0x80)
        #expect(measurement.record.site == TemperatureSite(raw: 12))
        #expect(measurement.record.site?.isReserved == true && measurement.record.site?.siteKey == nil)
        #expect(measurement.encoded() == Array(newer.prefix(6)))
        let type = try TemperatureType(decoding: [0x00])
        #expect(type.site.isReserved)
        #expect(type.json.text.contains("reserved"))
        // A month of 13 in the stamp keeps the measurement; the time rules refuse the stamp later.
        let oddStamp = try TemperatureMeasurement(decoding: [0x02, 0x70, 0x01, 0x00, 0xFF, 0xEA, 0x07, 13, 7, 7, 10, 0])
        #expect(oddStamp.record.timeStamp?.month == 13)
    }

    @Test func fuzzedPayloadsAreRefusedOrSurviveTheirEncoding() {
        // With a reserved flag bit set, octets after the known fields are ignored: such payloads re-encode shorter.
        let result = Kit.fuzz(
            TemperatureMeasurement.self, seed: 0x1809,
            makeBytes: { random in
                Kit.mutated(
                    TemperatureMeasurement(
                        record: TemperatureRecord(
                            unit: random.below(2) == 0 ? .celsius : .fahrenheit,
                            value: .number(mantissa: Int32(random.below(500)), exponent: -1),
                            timeStamp: random.below(2) == 0 ? nil : Self.stamp,
                            site: random.below(2) == 0 ? nil : TemperatureSite(raw: random.byte()))
                    ).encoded(), &random)
            },
            isCanonical: { ($0.first ?? 0) & 0xF8 == 0 })
        #expect(result.decoded > 0 && result.refused > 0)
    }

    // MARK: The session against the simulated thermometer

    static func thermometer(_ change: (inout SimulatedThermometer.Configuration) -> Void = { _ in })
        -> SimulatedThermometer
    {
        var configuration = SimulatedThermometer.Configuration()
        configuration.clock = SimulatedClock(offset: 0, reference: simulationNow, timeZone: tokyo)
        change(&configuration)
        return SimulatedThermometer(configuration: configuration, now: { simulationNow })
    }

    /// Stored measurements arrive exact and in order, each confirmed only once acknowledged; the settling values are
    /// notified but make no reading; the site comes from the Temperature Type characteristic.
    @Test func storedMeasurementsArriveAndAreConfirmedOnlyWhenDurable() async throws {
        let thermometer = Self.thermometer { $0.site = .armpit }
        await thermometer.measure(.number(mantissa: 368, exponent: -1))
        await thermometer.measure(.nan)
        await thermometer.measure(.number(mantissa: 385, exponent: -1))
        let client = try await connect(thermometer)
        let log = await SessionLog.collect(HealthThermometerSession(client: client, options: sessionOptions()).run())
        #expect(log.error == nil)
        let finished = log.measurements.compactMap { $0.measurement.as(TemperatureMeasurement.self) }
        #expect(finished.map(\.record.value.description) == ["36.8", "NaN", "38.5"])
        #expect(finished.allSatisfy { $0.record.timeStamp?.description == "2026-11-18T20:06:40" })  // Tokyo wall time
        let settling = log.measurements.filter { $0.measurement.value.isIntermediate }
        #expect(settling.count == 6 && settling.allSatisfy { $0.delivery == .notification })
        #expect(
            log.events.contains {
                if case .characteristicRead(let value) = $0 {
                    (value as? TemperatureType)?.site == .armpit
                } else {
                    false
                }
            })
        #expect(await thermometer.confirmedMeasurements.count == 3)
        #expect(await thermometer.stored.isEmpty)

        // Through the reading mapper: one body-temperature reading each, in °C, taken at the armpit; the NaN kept
        // without a number.
        let options = ReadingMapperOptions(gateway: GatewayRecord(id: "gw", softwareVersion: "test")) {
            stamp, offset, received, clocks in
            TimeDecisionRules.decide(
                deviceTimestamp: stamp, deviceTimeOffsetMinutes: offset, receivedMicros: received, comparisons: clocks,
                policy: TimePolicy(timeZoneIdentifier: "Asia/Tokyo"))
        }
        let readings = log.measurements.flatMap { received in
            ReadingMapper.readings(
                from: received, identity: DeviceIdentity(link: "test"), clocks: [], options: options,
                connectionValues: [TemperatureType(site: .armpit)])
        }
        #expect(readings.count == 3)
        #expect(readings.allSatisfy { $0.kind == .bodyTemperature && $0.context.bodySensorLocation == "armpit" })
        #expect(
            readings[0].components == [
                ReadingComponent(
                    metric: .bodyTemperature, value: .quantity(DecimalQuantity(mantissa: 368, exponent: -1)),
                    unit: "Cel")
            ])
        #expect(readings[1].components.first?.value == .absent(.notANumber) && readings[1].flags.contains(.valueAbsent))
    }

    /// Nothing is confirmed that was not acknowledged: a collector that never acknowledges leaves every measurement on
    /// the thermometer, which sends them again on the next connection.
    @Test func unacknowledgedMeasurementsStayOnTheThermometer() async throws {
        let thermometer = Self.thermometer {
            $0.siteInMeasurement = true
            $0.unit = .fahrenheit
        }
        await thermometer.measure(count: 3, users: [], seed: 5, end: simulationNow, spacing: 3600)
        let client = try await connect(thermometer)
        let session = HealthThermometerSession(client: client, options: sessionOptions()).run()
        var seen = 0
        for try await event in session {
            guard case .measurement(let m) = event, m.measurement.as(TemperatureMeasurement.self) != nil else {
                continue
            }
            seen += 1
            await client.close()  // the link ends before the reading is durable
            break
        }
        #expect(seen == 1)
        #expect(await thermometer.confirmedMeasurements.isEmpty)
        #expect(await thermometer.stored.count == 3)
        let again = try await connect(thermometer)
        let log = await SessionLog.collect(HealthThermometerSession(client: again, options: sessionOptions()).run())
        let values = log.measurements.compactMap { $0.measurement.as(TemperatureMeasurement.self) }
        #expect(values.count == 3 && values.allSatisfy { $0.record.unit == .fahrenheit && $0.record.site == .mouth })
        #expect(await thermometer.confirmedMeasurements.count == 3)
    }

    @Test func theDescriptorNamesTheProfile() {
        #expect(HealthProfile.named("thermo") == .healthThermometer)
        #expect(HealthProfile.named("health_thermometer") == .healthThermometer)
        #expect(HealthProfile.serving(BluetoothUUID(0x1809)) == .healthThermometer)
        #expect(Appearance(rawValue: 0x00C1).healthProfile == .healthThermometer)  // 0x003 Thermometer, ear
        #expect(HealthProfile.serviceList.contains("health thermometer"))
    }
}

/// The decoder fuzzer's seeds select their characteristic by the first byte (an index into the catalog): each seed
/// named after a characteristic must still select it and decode, so registering a profile (appended to the catalog)
/// cannot silently turn the corpus into noise.
@Suite struct DecoderCorpusTests {
    @Test func everySeedSelectsTheCharacteristicItIsNamedAfterAndDecodes() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus/DecoderFuzzer")
        let seeds = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
            !$0.hasPrefix("att-pdu")
        }
        #expect(seeds.count >= 20)
        for seed in seeds {
            let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent(seed)))
            let selector = try #require(bytes.first)
            let type = CharacteristicCatalog.all[Int(selector) % CharacteristicCatalog.all.count]
            let kebab = type.name.lowercased().replacingOccurrences(of: " ", with: "-")
            #expect(seed.hasPrefix(kebab + "-"), "\(seed) selects \(type.name)")
            #expect(
                (try? type.init(decoding: Array(bytes.dropFirst()))) != nil, "\(seed) does not decode as \(type.name)")
        }
    }
}
