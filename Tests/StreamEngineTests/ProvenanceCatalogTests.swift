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
            ReadingComponent(
                metric: .systolicPressure, value: .quantity(DecimalQuantity(mantissa: 1205, exponent: -1)),
                unit: "mm[Hg]"),
            ReadingComponent(
                metric: .diastolicPressure, value: .quantity(DecimalQuantity(mantissa: 80, exponent: 0)), unit: "mm[Hg]"
            ),
            ReadingComponent(metric: .meanArterialPressure, value: .absent(.notANumber), unit: "mm[Hg]"),
        ]
        bp.flags = [.bodyMovement, .improperPosition, .valueAbsent, .timeCorrected]
        bp.time = TimeProvenance(
            deviceTimestamp: DeviceWallClock(year: 2026, month: 11, day: 21, hour: 8, minute: 3, second: 0),
            receivedMicros: 1_795_388_500_000_000,
            clock: ClockComparison(
                deviceTime: DeviceWallClock(year: 2026, month: 11, day: 21, hour: 8, minute: 4, second: 40),
                deviceUTCOffsetMinutes: 540,
                gatewayMicros: 1_795_388_499_000_000, roundTripMicros: 41_000, afterSet: false),
            clockOffsetMicros: 180_000_000, decision: .mapped(correctionMicros: -180_000_000),
            effectiveMicros: 1_795_388_400_000_000,
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
            ReadingComponent(
                metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: 71, exponent: 0)), unit: "/min"),
            ReadingComponent(
                metric: .rrInterval, value: .quantity(DecimalQuantity(mantissa: 845 * 9_765_625, exponent: -10)),
                unit: "s"),
            ReadingComponent(
                metric: .rrInterval, value: .quantity(DecimalQuantity(mantissa: 851 * 9_765_625, exponent: -10)),
                unit: "s"),
        ]
        strap.time = TimeProvenance(
            deviceTimestamp: nil, receivedMicros: 1_795_388_800_000_123, clock: nil, clockOffsetMicros: nil,
            decision: .receiveTime,
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
            // The stored body gives back the same variation; a strap's notification takes a few dozen bytes.
            let body = variation.encoded()
            #expect(try ReadingVariation(decoding: body, effectiveMicros: reading.time.effectiveMicros) == variation)
            if reading.kind == .heartRate { #expect(body.count <= 32) }
            // A damaged body is an error that names what is wrong, never a different reading.
            for cut in [1, body.count / 2, body.count - 1] {
                #expect(throws: ReadingSplitError.self) {
                    try ReadingVariation(decoding: Array(body.prefix(cut)), effectiveMicros: 0)
                }
            }
        }
        // Notifications of one strap share their template; only the variation differs.
        let strap = Self.readings()[2]
        var next = strap
        next.time.receivedMicros += 1_000_000
        next.time.effectiveMicros += 1_000_000
        next.components[0].value = .quantity(DecimalQuantity(mantissa: 72, exponent: 0))
        #expect(strap.split().0 == next.split().0)
        // A cuff's connections differ in their clock comparison and time decision: those go with the reading, so its
        // connections share one template; a refused time and its reason come back too.
        let cuff = Self.readings()[0]
        #expect(cuff.time.clock != nil && cuff.split().1.timeEvidence != nil && cuff.split().1.encoded().count <= 64)
        var later = cuff
        let day: Int64 = 86_400_000_000
        later.time.receivedMicros += day
        later.time.effectiveMicros += day
        later.time.clock?.gatewayMicros += day
        later.time.clock?.afterSet = true
        later.time.clock?.deviceUTCOffsetMinutes = nil
        later.time.clockOffsetMicros = -2_000_000
        later.time.decision = .refused(reason: "clock reset to 2000-01-01")
        #expect(cuff.split().0 == later.split().0)
        let (template, variation) = later.split()
        let decoded = try ReadingVariation(decoding: variation.encoded(), effectiveMicros: later.time.effectiveMicros)
        #expect(try Reading(template: template, variation: decoded) == later)
        // A correction other than the offset undone comes back too.
        var skewed = cuff
        skewed.time.decision = .mapped(correctionMicros: -170_000_123)
        let (skewedTemplate, skewedVariation) = skewed.split()
        let skewedDecoded = try ReadingVariation(
            decoding: skewedVariation.encoded(), effectiveMicros: skewed.time.effectiveMicros)
        #expect(try Reading(template: skewedTemplate, variation: skewedDecoded) == skewed)
        // Series readings keep it in the template (their variation is not stored).
        #expect(cuff.split(evidenceInVariation: false).0.time.clock == cuff.time.clock)
    }

    /// A cuff's clock comparison is written as seconds from its timestamp, and a meter's context sequence number is not
    /// written again when it is the measurement's; anything those forms cannot give back exactly is written whole.
    @Test func clockTimesAndContextSequencesTakeAFewBytesAndComeBackExactly() throws {
        let cuff = Self.readings()[0]
        let compact = cuff.split().1.encoded()
        var unusual: [Reading] = []
        for clock in [
            DeviceWallClock(year: nil, month: 11, day: 21, hour: 8, minute: 4, second: 40),  // no year: whole
            DeviceWallClock(year: 2026, month: 11, day: 21, hour: 25, minute: 4, second: 40),  // no such hour: whole
            // reset clock: far, still exact
            DeviceWallClock(year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 0),
        ] {
            var reading = cuff
            reading.time.clock?.deviceTime = clock
            unusual.append(reading)
        }
        var stampless = cuff
        stampless.time.deviceTimestamp = DeviceWallClock(year: 2026, month: 2, day: 30, hour: 8, minute: 3, second: 0)
        unusual.append(stampless)
        for reading in unusual {
            let (template, variation) = reading.split()
            let body = variation.encoded()
            #expect(
                try Reading(
                    template: template,
                    variation: ReadingVariation(decoding: body, effectiveMicros: reading.time.effectiveMicros))
                    == reading)
            if reading.time.clock?.deviceTime.year == 2000 {
                #expect(body.count < compact.count + 4)
            } else {
                #expect(body.count > compact.count)
            }
        }
        let meter = Self.readings()[1]
        #expect(meter.context.glucose?.sequenceNumber == meter.sequenceNumber)
        var renumbered = meter
        renumbered.context.glucose?.sequenceNumber = 514
        for reading in [meter, renumbered] {
            let (template, variation) = reading.split()
            let body = variation.encoded()
            #expect(
                try Reading(
                    template: template,
                    variation: ReadingVariation(decoding: body, effectiveMicros: reading.time.effectiveMicros))
                    == reading)
        }
        #expect(renumbered.split().1.encoded().count == meter.split().1.encoded().count + 2)
    }

    @Test func theArchiveStoresEachTemplateOnce() async throws {
        let pipeline = try await TestPipeline.make(zones: ["carol": TimeZone(identifier: "Asia/Tokyo")!])
        defer { pipeline.remove() }
        var readings = Self.readings()
        for index in 1..<50 {
            var next = readings[2]
            next.time.receivedMicros += Int64(index) * 1_000_000
            next.time.effectiveMicros += Int64(index) * 1_000_000
            // What a strap sends: the payload encodes the values (so the notification is kept as samples only).
            next.rawPayloads = [[0x16, UInt8(60 + index % 20), 0x4D, 0x03, 0x53, 0x03]]
            next.components[0].value = .quantity(DecimalQuantity(mantissa: Int64(60 + index % 20), exponent: 0))
            readings.append(next)
        }
        for reading in readings { _ = try await pipeline.engine.ingest(PendingReading(reading: reading) {}) }
        let templates = try await pipeline.archive.queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM provenance")
        }
        #expect(templates == 4)  // the cuff, the meter, the strap with contact, the strap without
        let read = try pipeline.archive.readings(subject: "carol")
        #expect(read == readings.sorted { $0.time.effectiveMicros < $1.time.effectiveMicros })

    }

    /// A directory written before the compact rows (v8: template + JSON variation; before v8: whole JSON) opens
    /// and converts on first start, losing nothing: the same readings, feed positions and ledger sequences.
    @Test func rowsWrittenBeforeTheCompactFormatAreConverted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("compact-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/engine.sqlite"
        let readings = Self.readings()
        do {
            let queue = try DatabaseQueue(path: path)
            try ReadingArchive.migrator(catalog: ProvenanceCatalog(), path: path)
                .migrate(queue, upTo: "v8: provenance catalog; readings as template id + variation")
            try await queue.write { db in
                for (index, reading) in readings.enumerated() {
                    let identity = try #require(reading.identity).hex
                    var json = try ReadingArchive.encoder.encode(reading)
                    var provenance: Int64?
                    var body: Data?
                    if index % 2 == 0 {
                        // As v8 wrote it: a template without shape, the variation as JSON naming metric and unit.
                        var (template, _) = reading.split(evidenceInVariation: false)
                        template.shape = []
                        try db.execute(
                            sql: "INSERT INTO provenance (digest, body) VALUES (?, ?)",
                            arguments: [Data(identity.utf8), try ReadingArchive.encoder.encode(template)])
                        provenance = db.lastInsertedRowID
                        body = try ReadingArchive.encoder.encode(Self.legacyVariation(of: reading))
                        json = Data()
                    }
                    try db.execute(
                        sql: """
                            INSERT INTO reading (identity, subject, device_key, kind, effective_micros, received_micros, flags, stored,
                                ledger_sequence, json, provenance_id, body)
                            VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
                            """,
                        arguments: [
                            identity, reading.subject, reading.device.key, reading.kind.rawValue,
                            reading.time.effectiveMicros,
                            reading.time.receivedMicros, Int(reading.flags.rawValue), index + 7, json, provenance, body,
                        ])
                    try db.execute(
                        sql: "INSERT INTO reading_feed (seq, identity, stored_micros) VALUES (?, ?, ?)",
                        arguments: [index * 10 + 3, identity, 42])
                }
                // A row that does not decode is kept aside, not lost and not blocking the rest.
                try db.execute(
                    sql: """
                        INSERT INTO reading (identity, subject, device_key, kind, effective_micros, received_micros, flags, stored, json)
                        VALUES ('\(String(repeating: "ab", count: 32))', 'carol', 'x', 'heart_rate', 1, 1, 0, 1, X'7B')
                        """)
            }
        }
        let archive = try ReadingArchive(path: path)
        #expect(
            try archive.readings(subject: "carol")
                == readings.sorted { $0.time.effectiveMicros < $1.time.effectiveMicros })
        for (index, reading) in readings.enumerated() {
            let identity = try #require(reading.identity).hex
            #expect(try archive.archived(reading) == reading)
            if !reading.identityAnchoredOnReceipt { #expect(try archive.reading(identity: identity) == reading) }
            #expect(try archive.ledgerSequence(of: reading) == index + 7)
        }
        let feed = try archive.storedReadings(after: 0)
        #expect(feed.map(\.sequence) == readings.indices.map { Int64($0 * 10 + 3) })
        #expect(feed.map(\.reading) == readings)
        #expect(try archive.feedPositions().readings == Int64((readings.count - 1) * 10 + 3))
        let kept = try await archive.queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM reading_unconverted")
        }
        #expect(kept == 1)

        // Readings stored after the conversion continue the feed: one position per stored batch, after the old ones.
        var later = readings[3]
        later.time.receivedMicros += 60_000_000
        later.time.effectiveMicros += 60_000_000
        var latest = later
        latest.time.receivedMicros += 1_000_000
        latest.time.effectiveMicros += 1_000_000
        let batch = try [later, latest].map { (try #require($0.identity).hex, $0) }
        let journaled = try archive.journal(batch, quarantine: [], released: [])
        try archive.markStored(rows: journaled.rows, ledgerSequence: 99)
        try archive.markStored(rows: journaled.rows, ledgerSequence: 99)  // a repeated mark feeds nothing twice
        let fed = try archive.storedReadings(after: Int64((readings.count - 1) * 10 + 3))
        #expect(
            fed.map(\.reading) == [later, latest] && Set(fed.map(\.sequence)) == [Int64((readings.count - 1) * 10 + 4)])
        #expect(try archive.feedPositions().readings == Int64((readings.count - 1) * 10 + 4))
        #expect(try archive.storedReadings(after: Int64((readings.count - 1) * 10 + 4)).isEmpty)
        #expect(try archive.storedReadings(after: 0).count == readings.count + 2)
        #expect(try archive.readings(ledgerSequence: 99) == [later, latest])
    }

    /// The JSON variation migration v8 wrote.
    static func legacyVariation(of reading: Reading) -> LegacyReadingVariation {
        LegacyReadingVariation(
            e: reading.time.effectiveMicros, r: reading.time.receivedMicros - reading.time.effectiveMicros,
            c: reading.components.map { component in
                switch component.value {
                case .quantity(let q):
                    [
                        .text(component.metric.rawValue), .text(component.unit), .number(q.mantissa),
                        .number(Int64(q.exponent)),
                    ]
                case .absent(let reason):
                    [.text(component.metric.rawValue), .text(component.unit), .text(reason.rawValue)]
                }
            },
            p: reading.rawPayloads.map { Data($0).base64EncodedString() }, s: reading.sequenceNumber,
            d: reading.time.deviceTimestamp,
            o: reading.time.deviceTimeOffsetMinutes, g: reading.context.glucose?.sequenceNumber)
    }

    /// A cuff's readings with different measurement status each bring a provenance entry; entries after a device's
    /// keyframe are stored against it, a few dozen bytes each, and every one gives back its template exactly.
    @Test func entriesOfADeviceAreStoredAgainstItsKeyframe() async throws {
        let pipeline = try await TestPipeline.make()
        defer { pipeline.remove() }
        let cuff = Self.readings()[0]
        var readings: [Reading] = []
        for connection in 0..<40 {
            var reading = cuff
            let shift = Int64(connection) * 3_600_000_000
            reading.time.receivedMicros += shift
            reading.time.effectiveMicros += shift
            reading.time.clock?.gatewayMicros += shift
            reading.time.clockOffsetMicros = 180_000_000 + Int64(connection) * 1_000_000
            reading.context.rawStatus = UInt16(connection)
            reading.time.deviceTimestamp?.day = 1 + connection % 28
            reading.time.deviceTimestamp?.hour = connection / 28
            readings.append(reading)
        }
        for reading in readings { _ = try await pipeline.engine.ingest(PendingReading(reading: reading) {}) }
        let entries = try await pipeline.archive.queue.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, base_id, json_length, length(body) AS stored FROM provenance ORDER BY id")
        }
        #expect(entries.count == 40)
        // The first and the 33rd are keyframes; the others are stored against the keyframe before them.
        #expect(entries.filter { ($0["base_id"] as Int64?) == nil }.count == 2)
        let deltas = entries.filter { ($0["base_id"] as Int64?) != nil }
        #expect(deltas.allSatisfy { ($0["stored"] as Int) * 5 < ($0["json_length"] as Int) })
        let reopened = try ReadingArchive(path: pipeline.directory + "/engine.sqlite")
        #expect(try reopened.readings(subject: "carol") == readings)
        // Only keyframes name their device and an entry keeps 8 bytes of its digest (v17); the device's readings are
        // still found by it, and a connection seen again after a reopen finds its entry by content.
        let keyed = try await pipeline.archive.queue.read { db in
            try Row.fetchAll(db, sql: "SELECT device_key, length(digest_key) AS key FROM provenance ORDER BY id")
        }
        #expect(
            keyed.allSatisfy { ($0["key"] as Int) == 8 }
                && keyed.filter { ($0["device_key"] as String?) != nil }.count == 2)
        #expect(
            try reopened.newestReadings(subject: "carol", device: cuff.device.key, limit: 50) == readings.reversed())
        #expect(try reopened.newestReadings(subject: "carol", device: "00-00-00-00-00-00-00-00", limit: 50).isEmpty)
        let seventh = readings[7].split().0
        let again = try await reopened.queue.write { db in try reopened.catalog.entry(of: seventh, db).id }
        #expect(again == entries[7]["id"] as Int64)

        // A damaged keyframe is named for the readings that need it; another device's readings are still served.
        _ = try await pipeline.engine.ingest(PendingReading(reading: Self.readings()[1]) {})
        try await pipeline.archive.queue.write { db in
            try db.execute(sql: "UPDATE provenance SET body = X'00' WHERE id = (SELECT MIN(id) FROM provenance)")
        }
        let damaged = try ReadingArchive(path: pipeline.directory + "/engine.sqlite")
        #expect(try damaged.readings(subject: "carol") == [Self.readings()[1]] + readings[32...])
        #expect(throws: (any Error).self) { try damaged.reading(identity: try #require(readings[5].identity).hex) }
        // A new reading whose template is the damaged entry's gets a sound entry of its own; ingest does not fail.
        pipeline.close()
        let pipelineAfter = try await TestPipeline.make(directory: pipeline.directory)
        defer { pipelineAfter.close() }
        var sameTemplate = readings[0]
        sameTemplate.time.receivedMicros += 86_400_000_000 * 60
        sameTemplate.time.effectiveMicros += 86_400_000_000 * 60
        sameTemplate.time.clock?.gatewayMicros += 86_400_000_000 * 60
        sameTemplate.time.deviceTimestamp?.month = 3
        let outcome = try await pipelineAfter.engine.ingest(PendingReading(reading: sameTemplate) {})
        guard case .stored = outcome else {
            Issue.record("expected stored, got \(outcome)")
            return
        }
        #expect(try pipelineAfter.archive.archived(sameTemplate) == sameTemplate)
    }

    @Test func aDamagedRowIsLeftOutAndTheRestIsServed() async throws {
        let pipeline = try await TestPipeline.make()
        defer { pipeline.remove() }
        let readings = Self.readings()
        for reading in readings { _ = try await pipeline.engine.ingest(PendingReading(reading: reading) {}) }
        let damaged = try #require(readings[1].identity).hex
        try await pipeline.archive.queue.write { db in
            try db.execute(
                sql: "UPDATE reading SET body = ? WHERE identity = ?",
                arguments: [Data("{\"e\": ".utf8), IdentityKey.of(damaged)])
        }
        #expect(try pipeline.archive.readings(subject: "carol").count == readings.count - 1)
        #expect(throws: (any Error).self) { try pipeline.archive.reading(identity: damaged) }
    }
}
