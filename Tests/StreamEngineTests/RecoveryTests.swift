import Foundation
import Provenance
import Testing

@testable import StreamEngine
@testable import TimeSeries

/// The crash windows of one batch: journaled only, journaled and appended, and appended and in the ledger
/// but not yet marked stored. Recovery stores each reading once and records it in the ledger once.
@Suite struct RecoveryTests {
    enum CrashWindow: CaseIterable { case journaled, appended, recorded }

    @Test(arguments: CrashWindow.allCases)
    func everyCrashWindowOfABatchRecoversToOneStoredReadingAndOneLedgerRecord(window: CrashWindow) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-rec-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try Ledger(directory: directory + "/ledger")
        let recorder = LedgerRecorder(ledger: ledger)
        let pipeline = try await TestPipeline.make(ledger: recorder, directory: directory)
        let base = Int64(1_795_000_000) * 1_000_000
        // A batch stored before the crash, then the batch the crash interrupts.
        let before = (0..<2).map {
            glucoseReading(base - Int64($0 + 1) * 60_000_000, mgdl: 90, sequence: UInt16(10 + $0))
        }
        for reading in before { _ = try await pipeline.engine.ingest(PendingReading(reading: reading) {}) }
        let readings = (0..<3).map {
            glucoseReading(base + Int64($0) * 60_000_000, mgdl: 100 + Int64($0), sequence: UInt16($0))
        }
        let identities = readings.compactMap { $0.identity?.hex }
        try pipeline.archive.journal(
            readings.enumerated().map { (identities[$0.offset], $0.element) }, quarantine: [], released: [])
        if window != .journaled {
            try await pipeline.store.append(
                try readings.flatMap { try SampleMapping.seriesSamples($0, store: pipeline.store) })
        }
        let sequenceBefore = ledger.lastSequence
        if window == .recorded {
            _ = try recorder.record(
                try readings.reversed().map {
                    try pipeline.archive.ledgerItem(identity: try #require($0.identity).hex, reading: $0)
                }, recordedMicros: base)
        }
        pipeline.close()

        // Opening the pipeline recovers (TestPipeline.make calls `recover()`); a second recovery finds nothing.
        let restarted = try await TestPipeline.make(ledger: recorder, directory: directory)
        defer { restarted.close() }
        let again = try await restarted.engine.recover()
        #expect(again.appended == 0 && again.confirmed == 0)
        #expect(try restarted.archive.storedReadingCount() == 5)
        // One ledger entry for the interrupted batch, whichever window the crash came in.
        #expect(ledger.lastSequence == sequenceBefore + 1)
        #expect(try restarted.archive.readings(ledgerSequence: sequenceBefore + 1).count == 3)
        let report = try ledger.verify(
            lookup: { try restarted.archive.reading(identity: $0.hex) },
            batch: { try restarted.archive.ledgerItems(ledgerSequence: $0.sequence) }, publicKey: nil)
        #expect(report.isIntact && report.readingsVerified == 5)
        for reading in readings {
            let key = SeriesKey(subject: "carol", device: reading.device.key, metric: Metric.glucose.rawValue)
            let samples =
                try restarted.store.existingSeries(key).map {
                    try restarted.store.scan(
                        $0, range: reading.time.effectiveMicros..<(reading.time.effectiveMicros + 1)
                    ).samples
                } ?? []
            #expect(samples.count == 1)
        }
    }

    /// A damaged record in the middle of the store's write-ahead log: the store replays the records after it and
    /// reports the damage; the engine finds the one reading whose sample is gone and appends it again from the
    /// archive, so every stored reading is in the store once — and a second start finds nothing more to do.
    @Test func aDamagedLogRecordIsAppendedAgainFromTheArchive() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-wal-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = Int64(1_795_000_000) * 1_000_000
        let readings = (0..<5).map {
            glucoseReading(base + Int64($0) * 60_000_000, mgdl: 100 + Int64($0), sequence: UInt16($0))
        }
        do {
            let pipeline = try await TestPipeline.make(directory: directory)
            for reading in readings { _ = try await pipeline.engine.ingest(PendingReading(reading: reading) {}) }
            pipeline.close()
        }
        // Damage the third append record (the third reading's sample).
        let wal = directory + "/store/wal"
        let log = try #require(try FileManager.default.contentsOfDirectory(atPath: wal).sorted().last)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: wal + "/" + log)))
        var offset = 0
        var appends: [Int] = []
        while case .record(let record) = LogRecord.read(bytes, at: offset) {
            if record.kind == .append { appends.append(offset) }
            offset += record.length
        }
        try #require(appends.count == 5)
        bytes[appends[2] + LogRecord.headerSize + 2] ^= 0x5A
        try Data(bytes).write(to: URL(fileURLWithPath: wal + "/" + log))

        let restarted = try await TestPipeline.make(directory: directory)
        defer { restarted.close() }
        #expect(restarted.store.walDamage.count == 1)
        for reading in readings {
            let key = SeriesKey(subject: "carol", device: reading.device.key, metric: Metric.glucose.rawValue)
            let id = try #require(restarted.store.existingSeries(key))
            let samples = try restarted.store.scan(
                id, range: reading.time.effectiveMicros..<(reading.time.effectiveMicros + 1)
            ).samples
            #expect(samples.count == 1, "reading at +\((reading.time.effectiveMicros - base) / 60_000_000) min")
        }
        #expect(try await restarted.engine.recover().appended == 0)
    }

    /// A late reading — older than its series' last sealed chunk, so only the log held its sample — whose log record is
    /// damaged: the damage names the sequence numbers it lost, each batch's mark kept its append's number, and the
    /// engine appends that batch's reading again from the archive. (Looking only after the last sealed chunk, as
    /// before, would never have found it.)
    @Test func aDamagedLogRecordOfALateReadingIsAppendedAgainByItsSequenceNumber() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-wal-late-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = Int64(1_795_000_000) * 1_000_000
        let early = (0..<3).map {
            glucoseReading(base + Int64($0) * 60_000_000, mgdl: 100 + Int64($0), sequence: UInt16($0))
        }
        let late = glucoseReading(base + 90_000_000, mgdl: 140, sequence: 10)
        let after = glucoseReading(base + 180_000_000, mgdl: 103, sequence: 3)
        do {
            let pipeline = try await TestPipeline.make(directory: directory)
            for reading in early { _ = try await pipeline.engine.ingest(PendingReading(reading: reading) {}) }
            try pipeline.store.sealAll()
            for reading in [late, after] { _ = try await pipeline.engine.ingest(PendingReading(reading: reading) {}) }
            let key = SeriesKey(subject: "carol", device: late.device.key, metric: Metric.glucose.rawValue)
            let series = try #require(pipeline.store.existingSeries(key))
            let sealed = try #require(try pipeline.store.sealedThrough(series))
            #expect(late.time.effectiveMicros < sealed, "the late reading must be older than the sealed chunk")
            pipeline.close()
        }
        // Damage the log record that holds the late reading's sample.
        let wal = directory + "/store/wal"
        var damaged = false
        for log in try FileManager.default.contentsOfDirectory(atPath: wal).sorted() where log.hasSuffix(".log") {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: wal + "/" + log)))
            var offset = 0
            while case .record(let record) = LogRecord.read(bytes, at: offset) {
                if record.kind == .append,
                    record.entries.contains(where: { $0.sample.timestampMicros == late.time.effectiveMicros })
                {
                    bytes[offset + LogRecord.headerSize + 2] ^= 0x5A
                    try Data(bytes).write(to: URL(fileURLWithPath: wal + "/" + log))
                    damaged = true
                    break
                }
                offset += record.length
            }
        }
        try #require(damaged, "no log record holds the late reading")

        let restarted = try await TestPipeline.make(directory: directory)
        defer { restarted.close() }
        #expect(restarted.store.walDamage.count == 1)
        #expect(restarted.store.walDamage.first?.lostLSNs != nil)
        for reading in early + [late, after] {
            let key = SeriesKey(subject: "carol", device: reading.device.key, metric: Metric.glucose.rawValue)
            let id = try #require(restarted.store.existingSeries(key))
            let samples = try restarted.store.scan(
                id, range: reading.time.effectiveMicros..<(reading.time.effectiveMicros + 1)
            ).samples
            #expect(samples.count == 1, "reading at +\((reading.time.effectiveMicros - base) / 1_000_000) s")
        }
        #expect(try await restarted.engine.recover().appended == 0)
    }
}
