import Foundation
import Provenance
import Testing

@testable import BLEGateway

/// Continuous Glucose Monitoring: the E2E-CRC, every record layout through decode and the simulator's encoder, several
/// records in one notification, refusals that name the record, field and offset, reserved parts kept; sessions against
/// the simulated sensor: the download from the durable cursor, a new session's offsets from 0, the session timeline
/// mapped to UTC.
@Suite struct CGMTests {
    typealias Kit = CharacteristicTestKit

    @Test func theE2ECRCIsCRC16MCRF4XX() {
        #expect(CGMCRC.compute(Array("123456789".utf8)) == 0x6F91)
        #expect(CGMCRC.compute([]) == 0xFFFF)
    }

    @Test func everyRecordLayoutAndSpecialValueRoundTrips() {
        let values: [MedicalFloat] = [
            .number(mantissa: 112, exponent: 0), .nan, .nres, .positiveInfinity, .negativeInfinity,
        ]
        for layout in 0..<64 {
            for value in values {
                var annunciation: CGMSensorStatus = []
                if layout & 4 != 0 { annunciation.insert(.belowHypo) }
                if layout & 8 != 0 { annunciation.insert(.calibrationRecommended) }
                if layout & 16 != 0 { annunciation.insert(.sessionStopped) }
                let record = CGMRecord(
                    glucose: value, timeOffset: UInt16(layout * 5), annunciation: annunciation,
                    trend: layout & 1 != 0 ? .number(mantissa: -12, exponent: -1) : nil,
                    quality: layout & 2 != 0 ? value : nil,
                    crcProtected: layout & 32 != 0)
                Kit.expectRoundTrip(CGMMeasurement(records: [record]))
                let bytes = record.encoded()
                #expect(Int(bytes[0]) == bytes.count)
            }
        }
        // Two records in one notification.
        let pair = CGMMeasurement(records: [
            CGMRecord(glucose: .number(mantissa: 98, exponent: 0), timeOffset: 100, crcProtected: true),
            CGMRecord(glucose: .number(mantissa: 101, exponent: 0), timeOffset: 105, crcProtected: true),
        ])
        Kit.expectRoundTrip(pair)
        #expect(pair.encoded().count == 16)
    }

    @Test func refusalsNameTheRecordTheFieldAndTheOffset() throws {
        let record = CGMRecord(glucose: .number(mantissa: 98, exponent: 0), timeOffset: 100, crcProtected: true)
            .encoded()
        // A damaged CRC.
        var damaged = record
        damaged[2] ^= 0x01
        Kit.expectError(
            CGMMeasurement.self, damaged, field: "e2e_crc", offset: 6,
            problem: .invalidValue(
                "E2E-CRC 0x\(String(UInt16(record[6]) | UInt16(record[7]) << 8, radix: 16)) does not match the value (0x\(String(CGMCRC.compute(damaged.prefix(6)), radix: 16)))"
            ))
        // A second record cut short: named as record 1, at its offset.
        let two = record + Array(record.prefix(5))
        Kit.expectError(
            CGMMeasurement.self, two, field: "record[1]", offset: 8, problem: .truncated(needed: 8, available: 5))
        // A Size below the minimum.
        Kit.expectError(
            CGMMeasurement.self, [0x04, 0x00, 0x62, 0x00], field: "record[0].size", offset: 0,
            problem: .invalidValue("a record is at least 6 octets, not 4"))
        // One octet the flags do not explain.
        Kit.expectError(
            CGMMeasurement.self, [0x07, 0x00, 0x62, 0x00, 0x64, 0x00, 0xAA], field: "record[0]", offset: 6,
            problem: .trailingBytes(count: 1))
    }

    /// A reserved flag bit is kept and octets the known fields do not explain are ignored (a newer field).
    @Test func reservedPartsAreIgnoredAndKept() throws {
        let newer = try CGMMeasurement(decoding: [0x08, 0x04, 0x62, 0x00, 0x64, 0x00, 0xAA, 0xBB])
        #expect(newer.records[0].reservedFlags == 0x04 && newer.records[0].glucose.description == "98")
        let status = try CGMMeasurement(decoding: [0x07, 0x80, 0x62, 0x00, 0x64, 0x00, 0xC1])
        #expect(
            status.records[0].annunciation.contains(.sessionStopped)
                && status.records[0].annunciation.reservedBits == 0xC0)
        #expect(status.encoded() == [0x07, 0x80, 0x62, 0x00, 0x64, 0x00, 0xC1])
    }

    @Test func featureAndSessionStartTimeCarryTheirCRC() throws {
        let feature = CGMFeature(features: CGMFeature.e2eCRCSupported | 1, typeAndLocation: 0x59)
        #expect(try CGMFeature(decoding: feature.encoded()) == feature)
        var bad = feature.encoded()
        bad[4] ^= 0xFF
        #expect(Kit.decodeError(CGMFeature.self, bad)?.field == "e2e_crc")
        let start = CGMSessionStartTime(
            start: DateTime(year: 2026, month: 12, day: 4, hour: 8, minute: 0, second: 0), timeZone: 36,
            crcProtected: true)
        #expect(try CGMSessionStartTime(decoding: start.encoded()) == start)
        #expect(start.utcOffsetMinutes == 540)
        #expect(Kit.catalogType(0x2AA7) == ObjectIdentifier(CGMMeasurement.self))
    }

    /// CGM Status and Session Run Time: with and without the E2E-CRC, every status bit (reserved ones kept), a damaged
    /// CRC and a cut-short value refused with the field and its offset.
    @Test func statusAndSessionRunTimeRoundTripAndNameTheirFaults() throws {
        for crc in [false, true] {
            for bit in 0..<24 {
                Kit.expectRoundTrip(
                    CGMStatus(timeOffset: 1440, status: CGMSensorStatus(rawValue: 1 << UInt32(bit)), crcProtected: crc))
            }
            Kit.expectRoundTrip(CGMSessionRunTime(hours: 336, crcProtected: crc))
            Kit.expectRoundTrip(CGMSessionRunTime(hours: 0xFFFF, crcProtected: crc))
        }
        let stopped = try CGMStatus(decoding: [0xA0, 0x05, 0xC1, 0x00, 0x00])
        #expect(stopped.timeOffset == 1440 && stopped.status.contains(.sessionStopped))
        #expect(stopped.status.reservedBits == 0xC0 && stopped.encoded() == [0xA0, 0x05, 0xC1, 0x00, 0x00])
        var damaged = CGMStatus(timeOffset: 1440, crcProtected: true).encoded()
        damaged[0] ^= 0x01
        #expect(Kit.decodeError(CGMStatus.self, damaged)?.field == "e2e_crc")
        #expect(Kit.decodeError(CGMStatus.self, damaged)?.offset == 5)
        Kit.expectError(
            CGMStatus.self, [0xA0, 0x05, 0x01], field: "cgm_status", offset: 2,
            problem: .truncated(needed: 3, available: 1))
        Kit.expectError(
            CGMSessionRunTime.self, [0x50, 0x01, 0x00], field: "end_of_payload", offset: 2,
            problem: .trailingBytes(count: 1))
        #expect(Kit.catalogType(0x2AA9) == ObjectIdentifier(CGMStatus.self))
        #expect(Kit.catalogType(0x2AAB) == ObjectIdentifier(CGMSessionRunTime.self))
    }

    @Test func fuzzedPayloadsAreRefusedOrSurviveTheirEncoding() {
        let result = Kit.fuzz(
            CGMMeasurement.self, seed: 0x181F,
            makeBytes: { random in
                Kit.mutated(
                    CGMMeasurement(
                        records: (0..<(1 + random.below(2))).map { _ in
                            CGMRecord(
                                glucose: .number(mantissa: Int32(random.below(400)), exponent: 0),
                                timeOffset: UInt16(random.below(65536)),
                                annunciation: CGMSensorStatus(
                                    rawValue: UInt32(random.below(1 << 24)) & ~CGMSensorStatus.reservedMask),
                                trend: random.below(2) == 0 ? nil : .nres,
                                quality: random.below(2) == 0 ? nil : .number(mantissa: 90, exponent: 0),
                                crcProtected: random.below(2) == 0)
                        }
                    ).encoded(), &random)
            },
            isCanonical: { _ in false })
        #expect(result.decoded > 0 && result.refused > 0)
    }

    // MARK: Sessions against the simulated sensor

    static func sensor() -> SimulatedCGM {
        var configuration = SimulatedCGM.Configuration()
        configuration.clock = SimulatedClock(offset: 0, reference: simulationNow, timeZone: tokyo)
        configuration.sessionAge = 86_400
        return SimulatedCGM(configuration: configuration, now: { simulationNow })
    }

    static let options = ReadingMapperOptions(gateway: GatewayRecord(id: "gw", softwareVersion: "test")) {
        stamp, offset, received, clocks in
        TimeDecisionRules.decide(
            deviceTimestamp: stamp, deviceTimeOffsetMinutes: offset, receivedMicros: received, comparisons: clocks,
            policy: TimePolicy(timeZoneIdentifier: "Asia/Tokyo"))
    }

    /// The first download takes every record (two to a notification); the cursor moves as each is acknowledged; the next
    /// connection asks from the last durable record and gets only the new ones. Each reading is interstitial glucose in
    /// kg/L at session start + offset.
    @Test func recordsDownloadFromTheDurableCursorOnTheSessionTimeline() async throws {
        let sensor = Self.sensor()
        await sensor.measure(count: 12, users: [], seed: 4, end: simulationNow, spacing: 300)
        let cursor = StoredRecordCursor(next: nil)
        let client = try await connect(sensor)
        let log = await SessionLog.collect(CGMSession(client: client, cursor: cursor, options: sessionOptions()).run())
        #expect(log.error == nil, "\(String(describing: log.error))")
        let records = log.measurements.compactMap { $0.measurement.as(CGMRecord.self) }
        #expect(records.count == 12 && records.allSatisfy(\.crcProtected))
        #expect(log.transfer?.delivered == 12 && log.transfer?.announced == 12)
        let last = try #require(records.last?.timeOffset)
        #expect(await cursor.next == last &+ 1)
        // Where the session stands and how long it runs, read before the records.
        let read = log.events.compactMap { if case .characteristicRead(let value) = $0 { value } else { nil } }
        #expect(read.compactMap { $0 as? CGMStatus }.map(\.timeOffset) == [1440])
        #expect(read.compactMap { $0 as? CGMSessionRunTime }.map(\.hours) == [336])

        let start = await sensor.sessionStartTime
        let readings = log.measurements.flatMap { received in
            ReadingMapper.readings(
                from: received, identity: DeviceIdentity(link: "test"), clocks: [], options: Self.options,
                connectionValues: [CGMFeature(features: 0, typeAndLocation: 0x59), start])
        }
        #expect(
            readings.count == 12
                && readings.allSatisfy { $0.kind == .glucose && $0.context.glucose?.sampleType == "interstitial_fluid" }
        )
        let newest = try #require(readings.last)
        #expect(newest.components.first?.unit == "kg/L")
        // The newest record is at the sensor's "now": its time is the session's start plus its offset, on Tokyo's clock.
        #expect(abs(newest.time.effectiveMicros - Int64(simulationNow.timeIntervalSince1970 * 1_000_000)) < 60_000_000)

        await sensor.measure(count: 2, users: [], seed: 5, end: simulationNow.addingTimeInterval(600), spacing: 300)
        let again = try await connect(sensor)
        let second = await SessionLog.collect(
            CGMSession(client: again, cursor: cursor, options: sessionOptions()).run())
        #expect(second.measurements.count == 2, "\(second.measurements.map(\.measurement.summary))")
        #expect(second.transfer?.announced == 2)
    }

    /// A new session starts the offsets from 0 again: the sensor no longer holds the last durable record, so the
    /// gateway asks for everything it holds.
    @Test func aNewSessionIsDownloadedFromItsStart() async throws {
        let sensor = Self.sensor()
        await sensor.measure(count: 6, users: [], seed: 4, end: simulationNow, spacing: 300)
        let cursor = StoredRecordCursor(next: nil)
        _ = await SessionLog.collect(
            CGMSession(client: try await connect(sensor), cursor: cursor, options: sessionOptions()).run())
        // Start a new session through the Specific Ops Control Point (E2E-CRC on, as the sensor's Feature says), set
        // and read the communication interval — each answered before the next — then the (now empty) download.
        var options = sessionOptions()
        options.cgmOperations = [
            CGMSpecificOpsControlPoint(.startSession),
            CGMSpecificOpsControlPoint(.setCommunicationInterval, operand: [1]),
            CGMSpecificOpsControlPoint(.getCommunicationInterval),
            try CGMSpecificOpsControlPoint(decoding: [0x05]),  // Get Glucose Calibration Value: not supported
        ]
        let operated = await SessionLog.collect(
            CGMSession(client: try await connect(sensor), cursor: cursor, options: options).run())
        #expect(operated.error == nil, "\(String(describing: operated.error))")
        let answers = operated.events.compactMap { event -> CGMSpecificOpsControlPoint? in
            if case .characteristicRead(let value) = event { value as? CGMSpecificOpsControlPoint } else { nil }
        }
        #expect(answers.map(\.response?.code) == [1, 1, nil, 2])
        #expect(answers.allSatisfy(\.crcProtected) && answers[2].operand == [1])
        #expect(await sensor.communicationIntervalMinutes == 1)
        #expect(operated.measurements.isEmpty)
        #expect(await sensor.records.isEmpty)
        #expect(await sensor.sessionRunning)
        await sensor.measure(count: 3, users: [], seed: 6, end: simulationNow.addingTimeInterval(900), spacing: 300)
        let log = await SessionLog.collect(
            CGMSession(client: try await connect(sensor), cursor: cursor, options: sessionOptions()).run())
        #expect(log.measurements.count == 3)
        #expect(log.transfer?.restartedFromFirstRecord == true)
    }

    @Test func theDescriptorNamesTheProfile() {
        #expect(HealthProfile.named("cgm") == .continuousGlucose)
        #expect(HealthProfile.serving(BluetoothUUID(0x181F)) == .continuousGlucose)
    }
}
