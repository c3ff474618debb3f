import Foundation
import Provenance
import Testing

@testable import BLEGateway

/// Weight Scale and Body Composition: every flag combination and the "measurement unsuccessful" value through decode
/// and the simulator's encoder, refusals naming the field and offset, reserved parts kept, and sessions against the
/// simulated scale: two user slots, body composition in two packets joined, nothing confirmed before it is durable.
@Suite struct WeightScaleTests {
    typealias Kit = CharacteristicTestKit

    static let stamp = DateTime(year: 2026, month: 12, day: 7, hour: 7, minute: 5, second: 0)

    @Test func everyWeightFlagCombinationRoundTrips() {
        for flags in 0..<16 {
            for weight in [ScaleValue(raw: 12_460), .unsuccessful, ScaleValue(raw: 0)] {
                let measurement = WeightMeasurement(
                    units: flags & 1 == 0 ? .si : .imperial, weight: weight,
                    timeStamp: flags & 2 != 0 ? Self.stamp : nil,
                    userID: flags & 4 != 0 ? 2 : nil,
                    bmiAndHeight: flags & 8 != 0 ? (ScaleValue(raw: 243), ScaleValue(raw: 1600)) : nil)
                Kit.expectRoundTrip(measurement)
                #expect(measurement.encoded()[0] == UInt8(flags))
                #expect(
                    measurement.encoded().count == 3 + (flags & 2 != 0 ? 7 : 0) + (flags & 4 != 0 ? 1 : 0)
                        + (flags & 8 != 0 ? 4 : 0))
            }
        }
    }

    @Test func everyBodyCompositionFlagCombinationRoundTrips() {
        for flags in 0..<(1 << 13) {
            var measurement = BodyCompositionMeasurement(
                units: flags & 1 == 0 ? .si : .imperial,
                bodyFatPercentage: flags % 7 == 0 ? .unsuccessful : ScaleValue(raw: 251),
                timeStamp: flags & 2 != 0 ? Self.stamp : nil, userID: flags & 4 != 0 ? 0xFF : nil,
                multiplePacket: flags & 0x1000 != 0)
            for field in BodyCompositionMeasurement.Field.allCases where flags & Int(field.bit) != 0 {
                measurement[field] = ScaleValue(raw: UInt16(1000 + field.rawValue))
            }
            Kit.expectRoundTrip(measurement)
            let bytes = measurement.encoded()
            #expect(UInt16(bytes[0]) | UInt16(bytes[1]) << 8 == UInt16(flags))
        }
    }

    @Test func knownPayloadsDecodeExactly() throws {
        // Weight 62.3 kg (12460 × 0.005), 2026-12-07 07:05:00, user 1, BMI 24.3, height 1.600 m.
        let weightBytes: [UInt8] = [0x0E, 0xAC, 0x30, 0xEA, 0x07, 12, 7, 7, 5, 0, 0x01, 0xF3, 0x00, 0x40, 0x06]
        let weight = try WeightMeasurement(decoding: weightBytes)
        #expect(weight.weight.mass(.si).description == "62.300" && weight.userID == 1)
        #expect(weight.bmi?.tenths.description == "24.3" && weight.height?.length(.si).description == "1.600")
        #expect(weight.encoded() == weightBytes)
        // Imperial: 137.35 lb.
        #expect(try WeightMeasurement(decoding: [0x01, 0xA7, 0x35]).weight.mass(.imperial).description == "137.35")
        // Body composition: body fat 25.1 %, impedance 512.3 Ω, weight 62.3 kg.
        let composition = try BodyCompositionMeasurement(decoding: [0x00, 0x06, 0xFB, 0x00, 0x03, 0x14, 0xAC, 0x30])
        #expect(composition.bodyFatPercentage.tenths.description == "25.1")
        #expect(
            composition.impedance?.tenths.description == "512.3"
                && composition.weight?.mass(.si).description == "62.300")
        #expect(Kit.catalogType(0x2A9D) == ObjectIdentifier(WeightMeasurement.self))
        #expect(Kit.catalogType(0x2A9C) == ObjectIdentifier(BodyCompositionMeasurement.self))
        #expect(Kit.catalogType(0x2A9E) == ObjectIdentifier(WeightScaleFeature.self))
        #expect(Kit.catalogType(0x2A9B) == ObjectIdentifier(BodyCompositionFeature.self))
        let feature = WeightScaleFeature(
            timeStamp: true, multipleUsers: true, bmi: true, weightResolution: 7, heightResolution: 3)
        #expect(try WeightScaleFeature(decoding: feature.encoded()).weightResolution == 7)
        #expect(feature.json.text.contains("0.005 kg or 0.01 lb"))
    }

    @Test func truncationNamesTheFieldAndItsOffset() {
        let weight: [UInt8] = [0x0E, 0xAC, 0x30, 0xEA, 0x07, 12, 7, 7, 5, 0, 0x01, 0xF3, 0x00, 0x40, 0x06]
        Kit.expectTruncation(
            WeightMeasurement.self, full: weight,
            layout: [
                ("flags", 1), ("weight", 2), ("time_stamp.year", 2), ("time_stamp.month", 1), ("time_stamp.day", 1),
                ("time_stamp.hours", 1), ("time_stamp.minutes", 1), ("time_stamp.seconds", 1), ("user_id", 1),
                ("bmi", 2), ("height", 2),
            ])
        Kit.expectTrailingByteRefused(WeightMeasurement.self, full: weight)
        let composition: [UInt8] = [0x0C, 0x18, 0xFB, 0x00, 0x01, 0x0A, 0x00, 0x40, 0x06]
        Kit.expectTruncation(
            BodyCompositionMeasurement.self, full: composition,
            layout: [("flags", 2), ("body_fat_percentage", 2), ("user_id", 1), ("basal_metabolism", 2), ("height", 2)])
        Kit.expectTrailingByteRefused(BodyCompositionMeasurement.self, full: composition)
        Kit.expectTruncation(
            WeightScaleFeature.self, full: [0x07, 0x00, 0x00, 0x00], layout: [("weight_scale_feature", 4)])
    }

    @Test func reservedPartsAreIgnoredAndKept() throws {
        let newer = try WeightMeasurement(decoding: [0x10, 0xAC, 0x30, 0x99])
        #expect(newer.reservedFlags == 0x10 && newer.encoded() == [0x10, 0xAC, 0x30])
        let composition = try BodyCompositionMeasurement(decoding: [0x00, 0x20, 0xFB, 0x00, 0x01])
        #expect(composition.reservedFlags == 0x2000 && composition.encoded() == [0x00, 0x20, 0xFB, 0x00])
        let feature = try WeightScaleFeature(decoding: [0x00, 0x00, 0x00, 0x80])
        #expect(
            feature.json.text.contains("reserved_bits") && feature.encoded() == [0x00, 0x00, 0x00, 0x80])
    }

    @Test func fuzzedPayloadsAreRefusedOrSurviveTheirEncoding() {
        let weight = Kit.fuzz(
            WeightMeasurement.self, seed: 0x181D,
            makeBytes: { random in
                Kit.mutated(
                    WeightMeasurement(
                        units: random.below(2) == 0 ? .si : .imperial,
                        weight: ScaleValue(raw: UInt16(random.below(65536))),
                        timeStamp: random.below(2) == 0 ? nil : Self.stamp,
                        userID: random.below(2) == 0 ? nil : random.byte(),
                        bmiAndHeight: random.below(2) == 0 ? nil : (ScaleValue(raw: 250), ScaleValue(raw: 1700))
                    ).encoded(), &random)
            },
            isCanonical: { ($0.first ?? 0) & 0xF0 == 0 })
        #expect(weight.decoded > 0 && weight.refused > 0)
        let composition = Kit.fuzz(
            BodyCompositionMeasurement.self, seed: 0x181B,
            makeBytes: { random in
                var value = BodyCompositionMeasurement(
                    bodyFatPercentage: ScaleValue(raw: UInt16(random.below(1000))), multiplePacket: random.below(2) == 0
                )
                for field in BodyCompositionMeasurement.Field.allCases where random.below(2) == 0 {
                    value[field] = ScaleValue(raw: UInt16(random.below(65536)))
                }
                return Kit.mutated(value.encoded(), &random)
            },
            isCanonical: { $0.count < 2 || $0[1] & 0xE0 == 0 })
        #expect(composition.decoded > 0 && composition.refused > 0)
    }

    // MARK: Sessions against the simulated scale

    static func scale(_ change: (inout SimulatedScale.Configuration) -> Void = { _ in }) -> SimulatedScale {
        var configuration = SimulatedScale.Configuration()
        configuration.clock = SimulatedClock(offset: 0, reference: simulationNow, timeZone: tokyo)
        change(&configuration)
        return SimulatedScale(configuration: configuration, now: { simulationNow })
    }

    static let options = ReadingMapperOptions(gateway: GatewayRecord(id: "gw", softwareVersion: "test")) {
        stamp, offset, received, clocks in
        TimeDecisionRules.decide(
            deviceTimestamp: stamp, deviceTimeOffsetMinutes: offset, receivedMicros: received, comparisons: clocks,
            policy: TimePolicy(timeZoneIdentifier: "Asia/Tokyo"))
    }

    /// Two users' weighings: each a weight (with BMI and height) and a body composition sent as two packets, joined into
    /// one measurement whose raw bytes are both packets; the first packet is confirmed as it arrives, the second only
    /// when acknowledged.
    @Test func twoUsersWeighingsArriveJoinedAndConfirmedOnlyWhenDurable() async throws {
        let scale = Self.scale()
        await scale.measure(user: 1, weightSteps: 12_460, bodyFatTenths: 251, heightMillimetres: 1600)
        await scale.measure(user: 2, weightSteps: 15_700, bodyFatTenths: 230, heightMillimetres: 1750)
        let client = try await connect(scale)
        let log = await SessionLog.collect(WeightScaleSession(client: client, options: sessionOptions()).run())
        #expect(log.error == nil, "\(String(describing: log.error))")
        let weights = log.measurements.compactMap { $0.measurement.as(WeightMeasurement.self) }
        #expect(weights.map(\.userID) == [1, 2])
        let compositions = log.measurements.filter { $0.measurement.as(BodyCompositionRecord.self) != nil }
        #expect(compositions.count == 2 && compositions.allSatisfy { $0.rawPayloads.count == 2 })
        let joined = try #require(compositions.first?.measurement.as(BodyCompositionRecord.self)?.joined)
        #expect(
            joined.userID == 1 && joined.impedance != nil && joined.basalMetabolism != nil
                && joined.weight?.raw == 12_460)
        #expect(await scale.confirmed.count == 2)
        #expect(await scale.stored.isEmpty)

        let read = log.events.compactMap { if case .characteristicRead(let value) = $0 { value } else { nil } }
        let readings = log.measurements.flatMap {
            ReadingMapper.readings(
                from: $0, identity: DeviceIdentity(link: "test"), clocks: [], options: Self.options,
                connectionValues: read)
        }
        let kinds = readings.map(\.kind)
        // One weight per weighing: the scale's Weight Measurement; the composition's copy is not a second reading.
        #expect(kinds.filter { $0 == .bodyWeight }.count == 2 && kinds.filter { $0 == .bodyHeight }.count == 2)
        #expect(kinds.filter { $0 == .bodyMassIndex }.count == 2 && kinds.filter { $0 == .bodyComposition }.count == 2)
        let first = try #require(readings.first)
        #expect(
            first.components == [
                ReadingComponent(
                    metric: .bodyWeight, value: .quantity(DecimalQuantity(mantissa: 62_300, exponent: -3)), unit: "kg")
            ])
        #expect(first.context.userID == 1)
        let composition = try #require(readings.first { $0.kind == .bodyComposition })
        #expect(
            composition.components.first
                == ReadingComponent(
                    metric: .bodyFat, value: .quantity(DecimalQuantity(mantissa: 251, exponent: -1)), unit: "%"))
        #expect(composition.components.map(\.metric).contains(.impedance) && composition.rawPayloads.count == 2)
        #expect(readings.filter { $0.context.userID == 2 }.count == readings.count / 2)
    }

    /// A link lost after the first packet of a body composition: that measurement stays on the scale (its last packet
    /// was never confirmed) and arrives whole on the next connection.
    @Test func aLinkLostBetweenThePacketsLeavesTheMeasurementOnTheScale() async throws {
        let scale = Self.scale()
        await scale.measure(user: 1, weightSteps: 12_460, bodyFatTenths: 251, heightMillimetres: 1600)
        let client = try await connect(scale)
        for try await event in WeightScaleSession(client: client, options: sessionOptions()).run() {
            guard case .measurement(let m) = event else { continue }
            if m.measurement.as(WeightMeasurement.self) != nil {
                try await m.acknowledgeDurable()
                continue
            }
            client.close()  // the composition arrived, but is not yet durable
            break
        }
        #expect(await scale.stored.count == 1)
        #expect(await scale.confirmed.isEmpty)
        let again = try await connect(scale)
        let log = await SessionLog.collect(WeightScaleSession(client: again, options: sessionOptions()).run())
        let compositions = log.measurements.compactMap { $0.measurement.as(BodyCompositionRecord.self) }
        #expect(compositions.count == 1 && compositions.first?.packets.count == 2)
        #expect(log.measurements.compactMap { $0.measurement.as(WeightMeasurement.self) }.isEmpty)  // confirmed before
        #expect(await scale.confirmed.count == 1)
        #expect(await scale.stored.isEmpty)
    }

    /// A body composition analyser without the Weight Scale Service is its own profile with the same session.
    @Test func aBodyCompositionAnalyserAlone() async throws {
        let analyser = Self.scale {
            $0.hasWeightScaleService = false
            $0.splitsBodyComposition = false
        }
        await analyser.measure(count: 2, users: [1], seed: 3, end: simulationNow, spacing: 86_400)
        let client = try await connect(analyser)
        let log = await SessionLog.collect(WeightScaleSession(client: client, options: sessionOptions()).run())
        #expect(log.measurements.count == 2 && log.measurements.allSatisfy { $0.rawPayloads.count == 1 })
        // Without a Weight Measurement, the weight and height the analysis carries are the weighing's readings.
        let read = log.events.compactMap { if case .characteristicRead(let value) = $0 { value } else { nil } }
        let kinds = log.measurements.flatMap {
            ReadingMapper.readings(
                from: $0, identity: DeviceIdentity(link: "test"), clocks: [], options: Self.options,
                connectionValues: read)
        }.map(\.kind)
        #expect(kinds.filter { $0 == .bodyWeight }.count == 2 && kinds.filter { $0 == .bodyComposition }.count == 2)
        #expect(
            HealthProfile.of(
                try #require(log.events.lazy.compactMap { if case .discovered(let d) = $0 { d } else { nil } }.first))
                == .bodyComposition)
    }

    @Test func theDescriptorNamesTheProfiles() {
        #expect(
            HealthProfile.named("scale") == .weightScale && HealthProfile.named("body_composition") == .bodyComposition)
        #expect(Appearance(rawValue: 0x0300).healthProfile == .weightScale)  // 0x00C Weight Scale
        #expect(HealthProfile.serving(BluetoothUUID(0x181B)) == .bodyComposition)
    }
}
