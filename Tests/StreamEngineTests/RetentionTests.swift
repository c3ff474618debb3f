import Foundation
import GRDB
import Provenance
import Testing
import TimeSeries

@testable import StreamEngine

/// Retention applies to everything a reading left behind, whole ledger entries at a time, with the retirement in the
/// ledger: the device mix of the demo (a cuff with a clock, a meter's stored records, a strap's notifications, two
/// people, an unmapped device), old and new.
private let day: Int64 = 86_400_000_000
private let now: Int64 = 1_795_388_400_000_000
private let cutoff = now - 30 * day

@Suite struct RetentionTests {
    /// Dave's cuff readings (old only), carol's meter records and strap notifications (old and new).
    static func readings() throws -> (old: [Reading], new: [Reading]) {
        let fixtures = ProvenanceCatalogTests.readings()
        let cuff = try #require(fixtures.first { $0.kind == .bloodPressure })
        let strap = try #require(fixtures.first { $0.kind == .heartRate && $0.identityAnchoredOnReceipt })
        var old: [Reading] = []
        var new: [Reading] = []
        for index in 0..<6 {
            var bp = cuff
            bp.subject = "dave"
            bp.device.systemID = "00-1B-C5-00-00-00-33-01"
            bp.rawPayloads = [[0x1E, UInt8(index), 0xF4, 0x50, 0x00, 0xFF, 0x07]]
            bp.time.effectiveMicros = cutoff - 40 * day + Int64(index) * 3_600_000_000
            old.append(bp)
        }
        for index in 0..<8 {
            var beat = strap
            beat.time.receivedMicros = cutoff - 35 * day + Int64(index) * 1_000_000
            beat.time.effectiveMicros = beat.time.receivedMicros
            old.append(beat)
            beat.time.receivedMicros = now - day + Int64(index) * 1_000_000
            beat.time.effectiveMicros = beat.time.receivedMicros
            new.append(beat)
        }
        for index in 0..<4 {
            old.append(
                glucoseReading(
                    cutoff - 31 * day + Int64(index) * 600_000_000, mgdl: 90 + Int64(index), sequence: UInt16(index)))
            new.append(
                glucoseReading(
                    now - 2 * day + Int64(index) * 600_000_000, mgdl: 100 + Int64(index), sequence: UInt16(100 + index))
            )
        }
        return (old, new)
    }

    static func open(_ directory: String, ledger: Ledger) throws -> (TimeSeriesStore, ReadingArchive, StreamEngine) {
        let store = try TimeSeriesStore(directory: directory + "/store")
        let archive = try ReadingArchive(
            path: directory + "/engine.sqlite", catalog: ProvenanceCatalog(lastUseSlack: 1))
        var options = StreamEngineOptions()
        options.clock = { now }
        return (
            store, archive,
            try StreamEngine(store: store, archive: archive, ledger: LedgerRecorder(ledger: ledger), options: options)
        )
    }

    /// A new data directory with a ledger and the engine over it; the caller closes the store and removes the directory.
    static func fresh() throws -> (String, Ledger, TimeSeriesStore, ReadingArchive, StreamEngine) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("retention-\(UUID().uuidString)")
            .path
        let ledger = try Ledger(directory: directory + "/ledger")
        let (store, archive, engine) = try open(directory, ledger: ledger)
        return (directory, ledger, store, archive, engine)
    }

    static func verify(_ ledger: Ledger, _ archive: ReadingArchive) throws -> LedgerVerification {
        try ledger.verify(
            lookup: { try archive.reading(identity: $0.hex) },
            batch: { try archive.ledgerItems(ledgerSequence: $0.sequence) }, publicKey: nil)
    }

    @Test func oldReadingsAndWhatTheyLeftGoWholeEntriesAtATimeAndTheLedgerStillVerifies() async throws {
        let (directory, ledger, store, archive, engine) = try Self.fresh()
        defer {
            store.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let (old, new) = try Self.readings()
        for reading in old + new { _ = try await engine.ingest(PendingReading(reading: reading) {}) }
        let entriesBefore = try await archive.queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM provenance") ?? 0
        }
        #expect(try Self.verify(ledger, archive).readingsVerified == old.count + new.count)

        // A destination that has read only part of the feed keeps the rest.
        let held = try await engine.applyRetention(olderThan: cutoff, feedReadThrough: 3, summariesReadThrough: 0)
            .archive
        #expect(held.heldForSync && held.readings == 3 && held.batches == 3)
        #expect(try Self.verify(ledger, archive).isIntact)

        let report = try await engine.applyRetention(olderThan: cutoff, feedReadThrough: nil, summariesReadThrough: nil)
            .archive
        #expect(!report.heldForSync && report.readings == old.count - 3 && report.ledgerEntry != nil)
        let oldWindows = try await archive.queue.read { db in
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM window_version WHERE label_seconds < ?",
                arguments: [(cutoff - 2 * day) / 1_000_000]) ?? 0
        }
        #expect(oldWindows == 0 && held.windowVersions + report.windowVersions > 0)
        // Flush times: only the one the oldest remaining revision reads is kept from before it.
        let staleFlushes = try await archive.queue.read { db in
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM summary_flush WHERE seq < (SELECT MIN(seq) FROM summary_revision)") ?? 0
        }
        #expect(staleFlushes <= 1)
        #expect(try archive.readings(subject: "dave").isEmpty)
        #expect(
            try archive.readings(subject: "carol") == new.sorted { $0.time.effectiveMicros < $1.time.effectiveMicros })
        for reading in old { #expect(try archive.archived(reading) == nil) }
        // Dave's cuff had only old readings: its registry row and its provenance entry went; carol's are in use.
        #expect(try archive.devices(subjects: ["dave"]).isEmpty && !archive.devices(subjects: ["carol"]).isEmpty)
        let entriesAfter = try await archive.queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM provenance") ?? 0
        }
        #expect(entriesAfter < entriesBefore && entriesAfter >= 2)
        for reading in new { #expect(try archive.archived(reading) == reading) }  // every template they need is there

        // The ledger: every entry checks out, the old ones as retired by the entries that say so.
        let verification = try Self.verify(ledger, archive)
        #expect(verification.isIntact, "\(verification.summary)")
        #expect(verification.readingsVerified == new.count && verification.readingsRetired == old.count)
        #expect(verification.summary.contains("removed by retention"))

        // Removing a reading retention did not retire is still found.
        try await archive.queue.write { db in
            try db.execute(sql: "DELETE FROM reading WHERE id = (SELECT max(id) FROM reading)")
        }
        let tampered = try Self.verify(ledger, archive)
        guard case .batchCountChanged = tampered.problem else {
            Issue.record("\(tampered.summary)")
            return
        }
    }

    @Test func quarantineAndMalformedPayloadsOlderThanTheCutoffGoToo() async throws {
        let (directory, ledger, store, archive, engine) = try Self.fresh()
        defer {
            store.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        var unmapped = glucoseReading(cutoff - 32 * day, mgdl: 80, sequence: 9, subject: nil)
        unmapped.device.systemID = "00-1B-C5-00-00-00-44-01"
        unmapped.time.receivedMicros = cutoff - 32 * day
        var recent = unmapped
        recent.context.glucose?.sequenceNumber = 10
        recent.sequenceNumber = 10
        recent.time.receivedMicros = now
        #expect(try await engine.ingest(PendingReading(reading: unmapped) {}) == .quarantined)
        #expect(try await engine.ingest(PendingReading(reading: recent) {}) == .quarantined)
        try archive.recordMalformed(
            deviceKey: "x", characteristic: "0x2A35", bytes: [0xFF], error: "short", receivedMicros: cutoff - day)
        try archive.recordMalformed(
            deviceKey: "x", characteristic: "0x2A35", bytes: [0xFE], error: "short", receivedMicros: now)
        let report = try await engine.applyRetention(olderThan: cutoff, feedReadThrough: nil, summariesReadThrough: nil)
            .archive
        #expect(report.quarantined == 1 && report.malformed == 1 && report.ledgerEntry == nil)
        #expect(try archive.quarantineCount() == 1 && archive.malformedCount() == 1)
    }

    /// A retirement entry is hashed and chained like any other: changing what it says is found.
    @Test func anAlteredRetirementEntryFailsVerification() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("retention-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let ledger = try Ledger(directory: directory + "/ledger")
            let (store, archive, engine) = try Self.open(directory, ledger: ledger)
            defer { store.close() }
            let (old, new) = try Self.readings()
            for reading in old + new { _ = try await engine.ingest(PendingReading(reading: reading) {}) }
            _ = try await engine.applyRetention(olderThan: cutoff, feedReadThrough: nil, summariesReadThrough: nil)
            #expect(try Self.verify(ledger, archive).isIntact)
        }
        let path = directory + "/ledger/" + Ledger.fileName
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let edited = text.replacingOccurrences(of: #""retired":18"#, with: #""retired":19"#)
        #expect(edited != text)
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        let result = try Ledger.verify(
            directory: directory + "/ledger", lookup: { try archive.reading(identity: $0.hex) },
            batch: { try archive.ledgerItems(ledgerSequence: $0.sequence) }, publicKey: nil)
        #expect(!result.isIntact, "\(result.summary)")
    }
}
