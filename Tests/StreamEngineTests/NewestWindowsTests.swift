import Foundation
import Provenance
import TestSupport
import Testing
import TimeSeries

@testable import StreamEngine

/// `newestWindows` (what `gatewayd export` publishes of a person's period) reads the windows' versions and the store,
/// not the revision log, and must agree with the newest revision of each window in the log — also for a late record
/// that revised a window, and for a window whose revision is still owed.
@Suite struct NewestWindowsTests {
    static let tokyo = TimeZone(identifier: "Asia/Tokyo") ?? .gmt

    /// The newest logged revision of each of `subject`'s windows inside `range`, by reading every revision.
    static func scanned(_ archive: ReadingArchive, subject: String, range: Range<Int64>) throws -> Set<WindowRevision> {
        var newest: [String: WindowRevision] = [:]
        for record in try archive.summaryRevisions(after: 0, limit: 100_000)
        where record.revision.series.subject == subject && record.revision.startMicros >= range.lowerBound
            && record.revision.endMicros <= range.upperBound
        {
            let key = "\(record.revision.series)|\(record.revision.width)|\(record.revision.label)"
            if (newest[key]?.version ?? 0) < record.revision.version { newest[key] = record.revision }
        }
        return Set(
            newest.values.map {
                var r = $0
                r.late = false
                return r
            })
    }

    static func current(_ archive: ReadingArchive, subject: String, range: Range<Int64>) throws -> Set<WindowRevision> {
        Set(
            try archive.newestWindows(
                subject: subject, within: range, zone: tokyo, testSubject: false, nowMicros: LateDataTests.saturday8
            ).map {
                var r = $0.revision
                r.late = false
                return r
            })
    }

    @Test func theNewestVersionsAreTheLogsNewestRevisions() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gw-newest-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try TimeSeriesStore(directory: directory + "/store")
        defer { store.close() }
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        // Windows wait an hour before they are revised, so the test decides when the log catches up.
        let engine = try StreamEngine(
            store: store, archive: archive,
            windows: WindowTracker(zones: ["carol": Self.tokyo], coalesceMicros: 3_600_000_000))
        try await engine.recover()
        let tuesday = LateDataTests.tuesday8
        let week = (tuesday - LocalClock.microsPerDay)..<(LateDataTests.saturday8 + LocalClock.microsPerDay)
        for (offset, mgdl, sequence) in [(600, 100, 1), (2_400, 121, 2)] as [(Int64, Int64, UInt16)] {
            _ = try await engine.ingest(
                PendingReading(reading: glucoseReading(tuesday + offset * 1_000_000, mgdl: mgdl, sequence: sequence)) {}
            )
        }
        _ = try await engine.ingest(
            PendingReading(reading: glucoseReading(LateDataTests.saturday8 + 300_000_000, mgdl: 140, sequence: 3)) {})
        // Nothing revised yet: every window is owed its first revision, made of what the store holds.
        let owed = try Self.current(archive, subject: "carol", range: week)
        #expect(owed.count == 4 && owed.allSatisfy { $0.version == 1 })
        #expect(try Self.scanned(archive, subject: "carol", range: week).isEmpty)
        await engine.flushSummaries(all: true)
        #expect(
            try Self.current(archive, subject: "carol", range: week)
                == Self.scanned(archive, subject: "carol", range: week))
        #expect(try Self.current(archive, subject: "carol", range: week) == owed)
        // A late record revises Tuesday's hour and day: version 2, pending, then logged.
        _ = try await engine.ingest(
            PendingReading(reading: glucoseReading(tuesday + 3_000_000_000, mgdl: 90, sequence: 4)) {})
        let revised = try Self.current(archive, subject: "carol", range: week)
        #expect(revised.filter { $0.version == 2 }.count == 2)
        await engine.flushSummaries(all: true)
        let logged = try Self.scanned(archive, subject: "carol", range: week)
        #expect(logged == revised && logged.contains { $0.version == 2 && $0.summary.aggregate.count == 3 })
        // Another person's windows and windows outside the range are not answered.
        #expect(
            try archive.newestWindows(subject: "dave", within: week, zone: Self.tokyo, testSubject: false, nowMicros: 0)
                .isEmpty)
        let saturdayOnly = (LateDataTests.saturday8 - 8 * 3_600_000_000)..<week.upperBound
        #expect(
            try Self.current(archive, subject: "carol", range: saturdayOnly).allSatisfy {
                $0.startMicros >= saturdayOnly.lowerBound
            })
    }
}
