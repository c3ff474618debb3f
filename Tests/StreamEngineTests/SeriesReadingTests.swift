import Foundation
import GRDB
import Provenance
import Testing
import TimeSeries

@testable import StreamEngine

/// Heart-rate notifications kept as their samples only: a span row per batch, stream, device and flags stands for
/// them, and every read rebuilds them — payload included — from the store exactly as they were received.
@Suite struct SeriesReadingTests {
    static let base: Int64 = 1_795_388_800_000_123

    /// A strap notification as the mapper makes it: payload and components agree.
    static func strap(
        _ micros: Int64, bpm: Int, rr: [Int], contact: Bool = true, device: String = "00-1B-C5-00-00-00-00-01"
    ) -> Reading {
        var reading = ProvenanceCatalogTests.readings()[2]
        reading.device.systemID = device
        reading.time.receivedMicros = micros
        reading.time.effectiveMicros = micros
        reading.components = [
            ReadingComponent(
                metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: Int64(bpm), exponent: 0)), unit: "/min")
        ]
        var payload: [UInt8] = [(contact ? 0x06 : 0x04) | (rr.isEmpty ? 0 : 0x10), UInt8(bpm)]
        for ticks in rr {
            reading.components.append(
                ReadingComponent(
                    metric: .rrInterval,
                    value: .quantity(DecimalQuantity(mantissa: Int64(ticks) * 9_765_625, exponent: -10)), unit: "s"))
            payload += [UInt8(ticks & 0xFF), UInt8(ticks >> 8)]
        }
        reading.context.sensorContact = contact ? "detected" : "not_detected"
        reading.flags = contact ? [] : [.noSensorContact]
        reading.rawPayloads = [payload]
        return reading
    }

    /// Two minutes of one strap at 1 Hz — contact lost for a while, one or two RR intervals — plus a second strap of
    /// the same person overlapping it in time.
    static func session() -> [Reading] {
        var readings: [Reading] = []
        for second in 0..<120 {
            let rr = second % 3 == 0 ? [800 + second, 810 + second] : [820 + second]
            readings.append(
                strap(
                    base + Int64(second) * 1_000_000, bpm: 60 + second % 30, rr: rr,
                    contact: !(40..<50).contains(second)))
        }
        for second in stride(from: 30, to: 90, by: 2) {
            readings.append(
                strap(base + Int64(second) * 1_000_000 + 500_000, bpm: 90, rr: [], device: "00-1B-C5-00-00-00-00-02"))
        }
        return readings
    }

    @Test func everyHeartRateEncodingRebuildsExactlyAndAnythingElseStaysARow() throws {
        var wide = Self.strap(Self.base, bpm: 70, rr: [900], contact: true)
        wide.components[0].value = .quantity(DecimalQuantity(mantissa: 300, exponent: 0))
        wide.rawPayloads = [[0x17, 0x2C, 0x01, 0x84, 0x03]]
        var energy = Self.strap(Self.base, bpm: 70, rr: [700])
        energy.components.append(
            ReadingComponent(
                metric: .energyExpended, value: .quantity(DecimalQuantity(mantissa: 513, exponent: 0)), unit: "kJ"))
        energy.rawPayloads = [[0x1E, 70, 0x01, 0x02, 0xBC, 0x02]]
        var reserved = Self.strap(Self.base, bpm: 70, rr: [])
        reserved.rawPayloads = [[0xE6, 70]]  // reserved flag bits are kept in the entry's flags byte
        for reading in [
            Self.strap(Self.base, bpm: 70, rr: []), Self.strap(Self.base, bpm: 70, rr: [1, 65_535]), wide, energy,
            reserved,
        ] {
            let (template, variation) = try #require(SeriesReadings.split(reading))
            #expect(variation.payloads.isEmpty && template.payloadPrefix == [reading.rawPayloads[0][0]])
            let rebuilt = try SeriesReadings.reading(
                template: template, effectiveMicros: variation.effectiveMicros, values: variation.values)
            #expect(rebuilt == reading)
        }
        var trailing = Self.strap(Self.base, bpm: 70, rr: [])
        trailing.rawPayloads[0].append(0)
        var narrow = Self.strap(Self.base, bpm: 70, rr: [])
        narrow.rawPayloads = [[0x07, 70, 0]]  // a 16-bit rate is canonical too
        var shifted = Self.strap(Self.base, bpm: 70, rr: [])
        shifted.time.effectiveMicros -= 1_000  // a corrected receive time: the offset is per reading
        var stamped = Self.strap(Self.base, bpm: 70, rr: [])
        stamped.sequenceNumber = 4
        var absent = Self.strap(Self.base, bpm: 70, rr: [])
        absent.components[0].value = .absent(.notANumber)
        #expect(SeriesReadings.split(narrow) != nil)
        for reading in [trailing, shifted, stamped, absent] { #expect(SeriesReadings.split(reading) == nil) }
    }

    @Test func aSessionIsKeptInAFewSpansAndEveryReadFindsEachNotificationAsReceived() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-series-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try Ledger(directory: directory + "/ledger")
        let pipeline = try await TestPipeline.make(ledger: LedgerRecorder(ledger: ledger), directory: directory)
        defer { pipeline.close() }
        let readings = Self.session()
        // Three batches, the way a file or a linger groups them.
        for part in [readings[0..<50], readings[50..<120], readings[120...]] {
            let outcomes = try await pipeline.engine.ingest(batch: part.map { PendingReading(reading: $0) {} })
            #expect(outcomes.allSatisfy { if case .stored = $0 { true } else { false } })
        }
        let sorted = readings.sorted { $0.time.effectiveMicros < $1.time.effectiveMicros }
        let archive = pipeline.archive
        let rows = try await archive.queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM reading") }
        // The first batch: contact and no contact; the second extends the contact span; the third: the second strap.
        #expect(rows == 3)
        #expect(try archive.storedReadingCount() == readings.count)
        #expect(try archive.readings(subject: "carol") == sorted)
        #expect(
            try archive.readings(subject: "carol", from: Self.base + 45_000_000, to: Self.base + 47_000_000)
                == Array(
                    sorted.filter {
                        (Self.base + 45_000_000..<Self.base + 47_000_000).contains($0.time.effectiveMicros)
                    }))
        #expect(try archive.newestReadings(subject: "carol", limit: 3) == Array(sorted.reversed().prefix(3)))
        #expect(
            try archive.newestReadings(subject: "carol", kind: .heartRate, anyOf: [.noSensorContact], limit: 4)
                == Array(sorted.filter { $0.flags.contains(.noSensorContact) }.reversed().prefix(4)))
        #expect(
            try archive.newestReadings(subject: "carol", device: "00-1B-C5-00-00-00-00-02", limit: 2)
                == Array(sorted.filter { $0.device.key == "00-1B-C5-00-00-00-00-02" }.reversed().prefix(2)))
        // Pages of 7, both ways, through the overlapping straps.
        for descending in [false, true] {
            var paged: [Reading] = []
            var from = Self.base
            var to = Self.base + 200_000_000
            while true {
                let page = try archive.readings(
                    subject: "carol", kind: .heartRate, from: from, to: to, descending: descending, limit: 7)
                paged += page
                guard page.count == 7, let last = page.last?.time.effectiveMicros else { break }
                if descending { to = last } else { from = last + 1 }
            }
            #expect(paged == (descending ? sorted.reversed() : sorted))
        }
        for reading in [sorted[0], sorted[44], sorted[sorted.count - 1]] {
            let identity = try #require(reading.identity)
            #expect(try archive.archived(reading) == reading)
            #expect(try archive.ledgerSequence(of: reading) != nil)
            #expect(
                try archive.readings(
                    effectiveMicros: reading.time.effectiveMicros, identityPrefix: String(identity.hex.prefix(46)),
                    subjects: ["carol"])
                    == [reading])
        }
        // The same readings again are duplicates; the feed and the ledger hold each once.
        let again = try await pipeline.engine.ingest(batch: readings.map { PendingReading(reading: $0) {} })
        #expect(again.allSatisfy { if case .duplicate = $0 { true } else { false } })
        #expect(try archive.storedReadingCount() == readings.count)
        #expect(
            Set(try archive.storedReadings(after: 0, limit: 10_000).map(\.reading.time.effectiveMicros)).count
                == readings.count)
        let report = try ledger.verify(
            lookup: { try archive.reading(identity: $0.hex) },
            batch: { try archive.ledgerItems(ledgerSequence: $0.sequence) }, publicKey: nil)
        #expect(report.isIntact && report.readingsVerified == readings.count)
    }

    /// A hub's straps notify for two and a half hours and each batch holds a minute of them: every strap keeps one span
    /// an hour, extended in place, while each batch still knows its own readings — for `verify`, the feed and the ledger
    /// entry of a reading — and retention past the first hour keeps the ledger intact and the readings after it.
    @Test func strapsKeepOneSpanAnHourAndEachBatchItsOwnReadings() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-series-hub-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try Ledger(directory: directory + "/ledger")
        let pipeline = try await TestPipeline.make(ledger: LedgerRecorder(ledger: ledger), directory: directory)
        defer { pipeline.close() }
        // Two straps interleave as a hub's do; a third would add time, not a case.
        let devices = ["00-1B-C5-00-00-00-00-01", "00-1B-C5-00-00-00-00-02"]
        var all: [Reading] = []
        var batches: [[Reading]] = []
        for minute in 0..<150 {
            var batch: [Reading] = []
            for second in (minute * 60)..<(minute * 60 + 60) {
                for (index, device) in devices.enumerated() {
                    let rr = (second + index) % 4 == 0 ? [] : [700 + (second * 7 + index) % 300]
                    batch.append(
                        Self.strap(
                            Self.base + Int64(second) * 1_000_000 + Int64(index) * 1_000,
                            bpm: 60 + (second / 7 + index) % 40, rr: rr, device: device))
                }
            }
            let outcomes = try await pipeline.engine.ingest(batch: batch.map { PendingReading(reading: $0) {} })
            #expect(outcomes.allSatisfy { if case .stored = $0 { true } else { false } })
            batches.append(batch)
            all += batch
        }
        let archive = pipeline.archive
        let spans = try await archive.queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM reading WHERE span_count IS NOT NULL")
        }
        // Per strap (with RR intervals or without: entries of one span), an hour a span: three each.
        #expect(spans == devices.count * 3)
        #expect(try archive.storedReadingCount() == all.count)
        #expect(try archive.readings(subject: "carol") == all)
        #expect(try archive.newestReadings(subject: "carol", limit: 5) == Array(all.reversed().prefix(5)))
        #expect(try archive.storedReadings(after: 0, limit: 1_000_000).count == all.count)
        for (index, batch) in batches.enumerated() where [0, 59, 60, 61, 149].contains(index) {
            #expect(try archive.ledgerSequence(of: batch[batch.count / 2]) == index + 1)
            #expect(
                try Set(archive.readings(ledgerSequence: index + 1).compactMap(\.identity))
                    == Set(batch.compactMap(\.identity)))
        }
        func verify() throws -> LedgerVerification {
            try ledger.verify(
                lookup: { try archive.reading(identity: $0.hex) },
                batch: { try archive.ledgerItems(ledgerSequence: $0.sequence) }, publicKey: nil)
        }
        let intact = try verify()
        #expect(intact.isIntact && intact.readingsVerified == all.count)

        // Retention at 70 minutes: the batches of the first hour go; the first spans end in the 61st batch, which stays
        // (it begins the second spans), so their rows stay, beginning where that batch's parts begin.
        let hour = Self.base + 3_600_000_000
        let report = try await pipeline.engine.applyRetention(
            olderThan: Self.base + 4_200_000_000, feedReadThrough: nil, summariesReadThrough: nil
        ).archive
        #expect(report.batches == 60 && report.readings == 60 * 60 * devices.count)
        #expect(try archive.readings(subject: "carol") == all.filter { $0.time.effectiveMicros >= hour })
        let after = try verify()
        #expect(after.isIntact, "\(after.summary)")
        #expect(try archive.storedReadingCount() == all.filter { $0.time.effectiveMicros >= hour }.count)
    }

    /// A strap's notifications with one, two or three RR intervals share one provenance entry (its shape repeats the
    /// intervals), so its samples carry one tag; a second notification at the same microsecond stays apart (a row) and
    /// both read back as received, as does everything after a reopen.
    @Test func intervalsOfAnyCountShareOneEntryAndTwoAtOneInstantStayApart() async throws {
        let pipeline = try await TestPipeline.make()
        defer { pipeline.remove() }
        var readings = (0..<30).map {
            Self.strap(
                Self.base + Int64($0) * 1_000_000, bpm: 70 + $0 % 5, rr: Array([850, 860, 870].prefix(1 + $0 % 3)))
        }
        readings.append(Self.strap(Self.base + 7_000_000, bpm: 99, rr: [990]))  // at the instant of readings[7]
        let outcomes = try await pipeline.engine.ingest(batch: readings.map { PendingReading(reading: $0) {} })
        #expect(outcomes.allSatisfy { if case .stored = $0 { true } else { false } })
        let archived = try pipeline.archive.readings(subject: "carol")
        #expect(archived.count == readings.count && Set(archived) == Set(readings))
        for reading in readings { #expect(try pipeline.archive.archived(reading) == reading) }
        let series = try #require(
            pipeline.store.existingSeries(
                SeriesKey(subject: "carol", device: readings[0].device.key, metric: "heart_rate")))
        let tags = try pipeline.store.scan(series, range: Self.base..<(Self.base + 60_000_000)).samples.map(
            \.contextTag)
        #expect(tags.count == 31 && Set(tags.compactMap { $0 }).count == 1 && tags.count { $0 == nil } == 1)
        let intervals = try #require(
            pipeline.store.existingSeries(
                SeriesKey(subject: "carol", device: readings[0].device.key, metric: "rr_interval")))
        #expect(
            try Set(
                pipeline.store.scan(intervals, range: Self.base..<(Self.base + 60_000_000)).samples.compactMap(
                    \.contextTag)
            ).count == 1)
        let rows = try await pipeline.archive.queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM reading WHERE span_count IS NULL")
        }
        #expect(rows == 1)
    }

    /// A file imported again with readings that fall between those already kept: they are kept as rows of their own
    /// (a span's readings are whatever its range holds), so nothing is read twice or lost.
    @Test func readingsInsideASpanAlreadyKeptBecomeRowsAndNothingIsReadTwice() async throws {
        let pipeline = try await TestPipeline.make()
        defer { pipeline.remove() }
        let readings = (0..<40).map { Self.strap(Self.base + Int64($0) * 1_000_000, bpm: 70 + $0 % 5, rr: [850]) }
        let even = readings.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        _ = try await pipeline.engine.ingest(batch: even.map { PendingReading(reading: $0) {} })
        let outcomes = try await pipeline.engine.ingest(batch: readings.map { PendingReading(reading: $0) {} })
        #expect(outcomes.filter { if case .stored = $0 { true } else { false } }.count == 20)
        #expect(try pipeline.archive.readings(subject: "carol") == readings)
        let rows = try await pipeline.archive.queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM reading WHERE span_count IS NULL")
        }
        #expect(rows == 20)  // the odd readings inside the first span's range, and the last one (alone: a row too)
    }

    /// A crash after the span was journaled but before its samples reached the store: its notifications were never
    /// confirmed, so the span goes and nothing is recorded; after the append, recovery records them once.
    @Test(arguments: [false, true])
    func aSpanInterruptedByACrashIsSettledByWhatTheStoreHolds(appended: Bool) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-series-crash-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try Ledger(directory: directory + "/ledger")
        let recorder = LedgerRecorder(ledger: ledger)
        let pipeline = try await TestPipeline.make(ledger: recorder, directory: directory)
        let readings = Self.session()
        _ = try await pipeline.engine.ingest(batch: readings[0..<60].map { PendingReading(reading: $0) {} })
        let interrupted = Array(readings[60..<120])
        let journaled = try pipeline.archive.journal(
            interrupted.map { (try #require($0.identity).hex, $0) }, quarantine: [], released: [])
        if appended {
            var samples: [SeriesSample] = []
            for (reading, tag) in zip(interrupted, journaled.tags) {
                samples += try SampleMapping.seriesSamples(reading, store: pipeline.store, tag: tag)
            }
            try await pipeline.store.append(samples)
        }
        let sequenceBefore = ledger.lastSequence
        pipeline.close()

        let restarted = try await TestPipeline.make(ledger: recorder, directory: directory)
        defer { restarted.close() }
        #expect(try restarted.archive.storedReadingCount() == (appended ? 120 : 60))
        #expect(ledger.lastSequence == sequenceBefore + (appended ? 1 : 0))
        #expect(try restarted.archive.readings(subject: "carol") == Array(readings[0..<(appended ? 120 : 60)]))
        let report = try ledger.verify(
            lookup: { try restarted.archive.reading(identity: $0.hex) },
            batch: { try restarted.archive.ledgerItems(ledgerSequence: $0.sequence) }, publicKey: nil)
        #expect(report.isIntact && report.readingsVerified == (appended ? 120 : 60))
    }
}
