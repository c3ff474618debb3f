import Foundation
import GRDB
import Provenance
import Testing
import TimeSeries

@testable import StreamEngine

/// Readings are stored as a shared provenance entry (content-addressed) plus what varies per reading; both halves
/// must give back exactly the reading, whatever it carries, and rows written before the catalog are converted.
@Suite struct ProvenanceCatalogTests {
    /// One reading of each shape the gateway stores: a cuff with a clock comparison and a mapped time and an absent
    /// mean pressure, a meter record with every context field, strap notifications with and without RR intervals.
    static func readings() -> [Reading] {
        var bp = glucoseReading(1_795_388_400_000_000, mgdl: 0, sequence: 0)
        bp.kind = .bloodPressure
        bp.characteristic = "0x2A35"
        bp.sequenceNumber = nil
        bp.context = MeasurementContext()
        bp.context.userID = 2
        bp.context.rawStatus = 0x0021
        bp.context.statusLabels = ["body_movement_detected", "improper_measurement_position"]
        bp.context.pulseRateRange = "within_range"
        bp.components = [
            ReadingComponent(metric: .systolicPressure, value: .quantity(DecimalQuantity(mantissa: 1205, exponent: -1)), unit: "mm[Hg]"),
            ReadingComponent(metric: .diastolicPressure, value: .quantity(DecimalQuantity(mantissa: 80, exponent: 0)), unit: "mm[Hg]"),
            ReadingComponent(metric: .meanArterialPressure, value: .absent(.notANumber), unit: "mm[Hg]"),
        ]
        bp.flags = [.bodyMovement, .improperPosition, .valueAbsent, .timeCorrected]
        bp.time = TimeProvenance(
            deviceTimestamp: DeviceWallClock(year: 2026, month: 11, day: 21, hour: 8, minute: 3, second: 0), receivedMicros: 1_795_388_500_000_000,
            clock: ClockComparison(
                deviceTime: DeviceWallClock(year: 2026, month: 11, day: 21, hour: 8, minute: 4, second: 40), deviceUTCOffsetMinutes: 540,
                gatewayMicros: 1_795_388_499_000_000, roundTripMicros: 41_000, afterSet: false),
            clockOffsetMicros: 180_000_000, decision: .mapped(correctionMicros: -180_000_000), effectiveMicros: 1_795_388_400_000_000,
            localOffsetSeconds: 32_400, syncMethod: "cts_read")
        bp.rawPayloads = [[0x1E, 0xB5, 0xF4, 0x50, 0x00, 0xFF, 0x07]]

        var glucose = glucoseReading(1_795_388_700_000_000, mgdl: 97, sequence: 513, flags: [.sensorAnnunciation])
        glucose.context.glucose?.sampleType = "capillary_plasma"
        glucose.context.glucose?.sampleLocation = "finger"
        glucose.context.glucose?.meal = "postprandial"
        glucose.context.glucose?.tester = "self"
        glucose.context.glucose?.health = "minor_health_issues"
        glucose.context.glucose?.exerciseDurationSeconds = 1800
        glucose.context.glucose?.exerciseIntensityPercent = 40
        glucose.context.glucose?.carbohydrateID = "lunch"
        glucose.context.glucose?.carbohydrateKilograms = DecimalQuantity(mantissa: 55, exponent: -3)
        glucose.context.glucose?.medicationID = "rapid_acting_insulin"
        glucose.context.glucose?.medicationQuantity = DecimalQuantity(mantissa: 4, exponent: -6)
        glucose.context.glucose?.medicationUnit = "kg"
        glucose.context.glucose?.hba1cPercent = DecimalQuantity(mantissa: 62, exponent: -1)
        glucose.time.deviceTimestamp = DeviceWallClock(year: nil, month: nil, day: nil, hour: 8, minute: 5, second: 0)
        glucose.time.deviceTimeOffsetMinutes = -15
        glucose.rawPayloads.append([0x01, 0x02, 0x03])

        var strap = glucoseReading(1_795_388_800_000_000, mgdl: 0, sequence: 0)
        strap.kind = .heartRate
        strap.characteristic = "0x2A37"
        strap.sequenceNumber = nil
        strap.context = MeasurementContext()
        strap.context.sensorContact = "detected"
        strap.components = [
            ReadingComponent(metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: 71, exponent: 0)), unit: "/min"),
            ReadingComponent(metric: .rrInterval, value: .quantity(DecimalQuantity(mantissa: 845 * 9_765_625, exponent: -10)), unit: "s"),
            ReadingComponent(metric: .rrInterval, value: .quantity(DecimalQuantity(mantissa: 851 * 9_765_625, exponent: -10)), unit: "s"),
        ]
        strap.time = TimeProvenance(
            deviceTimestamp: nil, receivedMicros: 1_795_388_800_000_123, clock: nil, clockOffsetMicros: nil, decision: .receiveTime,
            effectiveMicros: 1_795_388_800_000_123, localOffsetSeconds: 32_400, syncMethod: "none")
        strap.rawPayloads = [[0x16, 71, 0x4D, 0x03, 0x53, 0x03]]
        var bare = strap
        bare.components = [strap.components[0]]
        bare.time.receivedMicros += 1_000_000
        bare.time.effectiveMicros += 1_000_000
        bare.context.sensorContact = "not_detected"
        bare.flags = [.noSensorContact]
        bare.rawPayloads = [[0x04, 70]]
        return [bp, glucose, strap, bare]
    }

    @Test func templateAndVariationGiveBackEveryReadingExactly() throws {
        for reading in Self.readings() {
            let (template, variation) = reading.split()
            #expect(try Reading(template: template, variation: variation) == reading)
        }
        // Notifications of one strap share their template; only the variation differs.
        let strap = Self.readings()[2]
        var next = strap
        next.time.receivedMicros += 1_000_000
        next.time.effectiveMicros += 1_000_000
        next.components[0].value = .quantity(DecimalQuantity(mantissa: 72, exponent: 0))
        #expect(strap.split().0 == next.split().0)
    }

    @Test func theArchiveStoresEachTemplateOnceAndConvertsRowsWrittenBeforeTheCatalog() async throws {
        let pipeline = try await TestPipeline.make(zones: ["carol": TimeZone(identifier: "Asia/Tokyo")!])
        defer { pipeline.remove() }
        var readings = Self.readings()
        for index in 1..<50 {
            var next = readings[2]
            next.time.receivedMicros += Int64(index) * 1_000_000
            next.time.effectiveMicros += Int64(index) * 1_000_000
            next.rawPayloads = [[0x16, UInt8(60 + index % 20), 0x4D, 0x03]]
            readings.append(next)
        }
        for reading in readings { _ = try await pipeline.engine.ingest(PendingReading(reading: reading) {}) }
        let templates = try await pipeline.archive.queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM provenance") }
        #expect(templates == 4)  // the cuff, the meter, the strap with contact, the strap without
        let read = try pipeline.archive.readings(subject: "carol")
        #expect(read == readings.sorted { $0.time.effectiveMicros < $1.time.effectiveMicros })

        // Rows as the archive wrote them before the catalog (whole JSON): converted on the next open, losing nothing.
        let written = readings
        try await pipeline.archive.queue.write { db in
            for reading in written {
                let identity = try #require(reading.identity).hex
                try db.execute(
                    sql: "UPDATE reading SET json = ?, provenance_id = NULL, body = NULL WHERE identity = ?",
                    arguments: [try ReadingArchive.encoder.encode(reading), identity])
            }
            try db.execute(sql: "DELETE FROM provenance")
        }
        let reopened = try ReadingArchive(path: pipeline.directory + "/engine.sqlite")
        let legacy = try await reopened.queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM reading WHERE provenance_id IS NULL OR length(json) > 0") }
        #expect(legacy == 0)
        #expect(try reopened.readings(subject: "carol") == read)
        for reading in readings { #expect(try reopened.reading(identity: try #require(reading.identity).hex) == reading) }
    }

    @Test func aDamagedRowIsLeftOutAndTheRestIsServed() async throws {
        let pipeline = try await TestPipeline.make()
        defer { pipeline.remove() }
        let readings = Self.readings()
        for reading in readings { _ = try await pipeline.engine.ingest(PendingReading(reading: reading) {}) }
        let damaged = try #require(readings[1].identity).hex
        try await pipeline.archive.queue.write { db in
            try db.execute(sql: "UPDATE reading SET body = ? WHERE identity = ?", arguments: [Data("{\"e\": ".utf8), damaged])
        }
        #expect(try pipeline.archive.readings(subject: "carol").count == readings.count - 1)
        #expect(throws: (any Error).self) { try pipeline.archive.reading(identity: damaged) }
    }
}
