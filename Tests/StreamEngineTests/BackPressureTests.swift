import Foundation
import Provenance
import StreamEngine
import Testing
import TimeSeries

@Suite struct BackPressureTests {
    @Test func sourcesWaitWhenTheQueueIsFullAndMemoryStaysBounded() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-bp-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try TimeSeriesStore(directory: directory + "/store")
        defer { store.close() }
        var options = StreamEngineOptions()
        options.queueCapacity = 8
        options.batchSize = 4
        let engine = try StreamEngine(
            store: store, archive: try ReadingArchive(path: directory + "/engine.sqlite"), options: options)
        let base = Int64(1_795_000_000) * 1_000_000
        let sampler = Task {
            var deepest = 0
            while !Task.isCancelled {
                deepest = max(deepest, await engine.queueDepth)
                await Task.yield()
            }
            return deepest
        }
        let outcomes = try await withThrowingTaskGroup(of: IngestOutcome.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await engine.ingest(
                        PendingReading(
                            reading: glucoseReading(
                                base + Int64(index) * 60_000_000, mgdl: 90 + Int64(index % 50), sequence: UInt16(index)),
                            waiter: .transfer
                        ) {})
                }
            }
            var all: [IngestOutcome] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        sampler.cancel()
        let deepest = await sampler.value
        #expect(outcomes.count == 200)
        #expect(outcomes.allSatisfy { if case .stored = $0 { true } else { false } })
        #expect(deepest <= 8, "the queue held \(deepest) readings, more than its capacity of 8")
        #expect(await engine.queueDepth == 0)
    }
}
