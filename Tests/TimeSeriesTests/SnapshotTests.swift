import Foundation
import TestSupport
import Testing

@testable import TimeSeries

/// A read-only snapshot beside the writing store: what `gatewayd status`, `query` and the API see while the
/// daemon keeps appending.
@Suite struct SnapshotTests {
    static let small = StoreConfiguration(chunkMaxSamples: 500, compressionLevel: 3)

    @Test func snapshotSeesSealedAndUnsealedSamplesWhileTheWriterRuns() async throws {
        let dir = TemporaryDirectory()
        let input = StoreTests.samples(from: 0, count: 1_234, stepMicros: 1_000_000, seed: 7)
        let writer = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
        defer { writer.close() }
        let id = try writer.series(StoreTests.key)
        for batch in stride(from: 0, to: input.count, by: 100) {
            try await writer.append(Array(input[batch..<min(batch + 100, input.count)]), to: id)
        }
        // Two chunks of 500 are sealed, 234 samples are only in the log and the writer's head.
        let snapshot = try TimeSeriesStore(snapshotOf: dir.path, configuration: Self.small)
        #expect(snapshot.isReadOnly)
        let snapshotID = try #require(snapshot.existingSeries(StoreTests.key))
        let seen = try snapshot.scan(snapshotID, range: Int64.min..<Int64.max)
        #expect(seen.samples == ChunkEncoder.stableSorted(input))
        #expect(seen.corruptChunks.isEmpty)

        // The writer goes on (sealing another chunk); the snapshot keeps its view, without counting twice.
        let more = StoreTests.samples(from: 2_000_000_000, count: 400, stepMicros: 1_000_000, seed: 8)
        try await writer.append(more, to: id)
        #expect(try snapshot.scan(snapshotID, range: Int64.min..<Int64.max).samples.count == input.count)
        let windows = try snapshot.windows(
            WindowQuery(
                series: snapshotID, range: 0..<2_000_000_000, widthMicros: 3_600_000_000,
                timeZone: TimeZone(identifier: "UTC")!))
        #expect(windows.windows.reduce(0) { $0 + $1.aggregate.count + $1.excludedCount } == input.count)

        // A new snapshot sees everything.
        let later = try TimeSeriesStore(snapshotOf: dir.path, configuration: Self.small)
        #expect(
            try later.scan(snapshotID, range: Int64.min..<Int64.max).samples == ChunkEncoder.stableSorted(input + more))
        #expect(try later.inspect().series.first?.samples == input.count + more.count)
        // The count status shows comes from the catalog and the heads, reading no chunk, and agrees.
        #expect(try later.sampleCount() == input.count + more.count)
        #expect(try snapshot.sampleCount() == input.count)
        #expect(try writer.sampleCount() == input.count + more.count)
    }

    @Test func snapshotRefusesChangesAndNamesTheStore() async throws {
        let dir = TemporaryDirectory()
        let writer = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
        let id = try writer.series(StoreTests.key)
        try await writer.append(StoreTests.samples(from: 0, count: 10, stepMicros: 1_000_000, seed: 1), to: id)
        let snapshot = try TimeSeriesStore(snapshotOf: dir.path, configuration: Self.small)
        await #expect(throws: StoreError.self) {
            try await snapshot.append([Sample(timestampMicros: 1, value: .init(mantissa: 1, exponent: 0))], to: id)
        }
        #expect(throws: StoreError.self) { try snapshot.series(SeriesKey(subject: "bob", device: "d", metric: "m")) }
        #expect(throws: StoreError.self) { try snapshot.applyRetention(rawOlderThan: 0) }
        do {
            try snapshot.sealAll()
            Issue.record("a snapshot sealed")
        } catch let error as StoreError {
            #expect("\(error)".contains(dir.path) && "\(error)".contains("read-only"))
        }
        // The writer is unaffected, and after it closes a snapshot still opens (the log it left is read as is).
        try await writer.append(
            StoreTests.samples(from: 100_000_000, count: 10, stepMicros: 1_000_000, seed: 2), to: id)
        writer.close()
        let after = try TimeSeriesStore(snapshotOf: dir.path, configuration: Self.small)
        #expect(try after.scan(id, range: Int64.min..<Int64.max).samples.count == 20)
    }

    @Test func noStoreIsAClearError() {
        let dir = TemporaryDirectory()
        do {
            _ = try TimeSeriesStore(snapshotOf: dir.path + "/nothing")
            Issue.record("opened a store that does not exist")
        } catch {
            #expect("\(error)".contains("there is no store in"))
        }
    }
}
