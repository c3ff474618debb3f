import Foundation
import Provenance
import Testing
import TimeSeries

@testable import StreamEngine

/// The crash windows of one batch: journaled only, journaled and appended, and appended and in the ledger
/// but not yet marked stored. Recovery stores each reading once and records it in the ledger once.
@Suite struct RecoveryTests {
    @Test func everyCrashWindowOfABatchRecoversToOneStoredReadingAndOneLedgerRecord() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gw-rec-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try Ledger(directory: directory + "/ledger")
        let recorder = LedgerRecorder(ledger: ledger)
        let pipeline = try await TestPipeline.make(ledger: recorder, directory: directory)
        let base = Int64(1_795_000_000) * 1_000_000
        let readings = (0..<3).map { glucoseReading(base + Int64($0) * 60_000_000, mgdl: 100 + Int64($0), sequence: UInt16($0)) }
        let identities = readings.compactMap { $0.identity?.hex }
        // Crash windows: (a) journaled only; (b) journaled and in the store; (c) in the store and the ledger, not marked.
        try pipeline.archive.journal(readings.enumerated().map { (identities[$0.offset], $0.element) }, quarantine: [], released: [])
        try await pipeline.store.append(try readings[1...].flatMap { try SampleMapping.seriesSamples($0, store: pipeline.store) })
        let sequence = try recorder.record([readings[2]], recordedMicros: base)
        pipeline.close()

        // Opening the pipeline recovers (TestPipeline.make calls `recover()`); a second recovery finds nothing.
        let restarted = try await TestPipeline.make(ledger: recorder, directory: directory)
        defer { restarted.close() }
        let again = try await restarted.engine.recover()
        #expect(again.appended == 0 && again.confirmed == 0)
        #expect(try restarted.archive.storedReadingCount() == 3)
        // One more ledger entry (for the two not in it yet), not two.
        #expect(ledger.lastSequence == sequence + 1)
        let report = try ledger.verify(lookup: { try restarted.archive.reading(identity: $0.hex) }, publicKey: nil)
        #expect(report.isIntact && report.readingsVerified == 3)
        for reading in readings {
            let key = SeriesKey(subject: "carol", device: reading.device.key, metric: Metric.glucose.rawValue)
            let samples = try restarted.store.existingSeries(key).map { try restarted.store.scan($0, range: reading.time.effectiveMicros..<(reading.time.effectiveMicros + 1)).samples } ?? []
            #expect(samples.count == 1)
        }
    }
}
