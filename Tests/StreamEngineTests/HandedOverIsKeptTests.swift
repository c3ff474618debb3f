import BLEGateway
import Foundation
import Provenance
import StreamEngine
import Testing
import TimeSeries

/// What a device hands over is kept before it is acknowledged, even when it is not a measurement with a value.
@Suite struct HandedOverIsKeptTests {
    struct DiskRefused: Error, CustomStringConvertible {
        var description: String { "disk I/O error" }
    }

    /// A malformed indication is confirmed only once it is kept: when recording it fails (a full or failing disk), the
    /// cuff is not told, the connection ends with an error that says so, and the next connection brings it again.
    @Test func aMalformedPayloadThatCouldNotBeKeptIsNotConfirmed() async throws {
        let pipeline = try await TestPipeline.make()
        defer { pipeline.remove() }
        var configuration = SimulatedBloodPressureMonitor.Configuration()
        configuration.identity.serial = "BP2-9"
        configuration.identity.systemID = SystemID(
            manufacturerIdentifier: 0x1009, organizationallyUniqueIdentifier: 0x00_1B_C5)
        configuration.clock = SimulatedClock(reference: pipelineNow, timeZone: pipelineZone)
        configuration.faults.malformedEvery = 2  // the 2nd and 4th indications arrive one byte short
        let cuff = SimulatedBloodPressureMonitor(configuration: configuration, now: { pipelineNow })
        await SimulatedReadings.fill(
            cuff, count: 4, users: [1, 2], seed: 9, end: pipelineNow.addingTimeInterval(-600), spacing: 3 * 3600)

        let failure = try await collect(cuff, engine: pipeline.engine, archive: pipeline.archive) { _, _ in
            throw DiskRefused()
        }
        let error = try #require(failure as? MalformedPayloadNotKept, "\(String(describing: failure))")
        #expect(error.description.contains("disk I/O error") && error.description.contains("not confirmed"))
        #expect(await cuff.confirmedCount == 1)  // the reading before it, which was stored
        #expect(try pipeline.archive.malformedCount() == 0)
        // Each cuff measurement is two readings (blood pressure and pulse rate).
        let first = try pipeline.archive.storedReadingCount() + pipeline.archive.quarantineCount()
        #expect(first == 2)

        // The next connection: the cuff sends what it still holds; the malformed payload is kept, then confirmed.
        #expect(try await collect(cuff, engine: pipeline.engine, archive: pipeline.archive) == nil)
        #expect(await cuff.stored.isEmpty)
        #expect(try pipeline.archive.malformedCount() == 1)
        let all = try pipeline.archive.storedReadingCount() + pipeline.archive.quarantineCount()
        #expect(all == 6)
    }

    /// A ledger on a disk that refuses writes: every batch fails after the store took it.
    final class RefusingLedger: BatchLedger {
        func record(_ items: [LedgerEntry.Item], recordedMicros: Int64) throws -> Int { throw DiskRefused() }
        func lastBatch(recorded items: [LedgerEntry.Item]) -> Int? { nil }
        func recordRetirement(through: Int, cutoffMicros: Int64, recordedMicros: Int64) throws -> Int {
            throw DiskRefused()
        }
    }

    /// A cuff's reading whose batch fails is never confirmed, and the link closes as soon as the batch fails — not when
    /// the acknowledgement wait (here two minutes) runs out — so the cuff keeps the reading and can come back soon.
    @Test func aReadingThatCouldNotBeStoredClosesTheLinkAtOnceUnconfirmed() async throws {
        let pipeline = try await TestPipeline.make(ledger: RefusingLedger())
        defer { pipeline.remove() }
        let cuff = await PipelineTests.cuff(5)
        for (user, subject) in [(UInt8(1), "alice"), (2, "bob")] {
            _ = try await pipeline.engine.mapSubject(
                deviceKey: PipelineTests.key(0x1005), userID: user, subject: subject)
        }
        let held = await cuff.stored.count
        let clock = ContinuousClock()
        let started = clock.now
        let failure = try await collect(
            cuff, engine: pipeline.engine, archive: pipeline.archive,
            clientOptions: GATTClientOptions(indicationAcknowledgementTimeout: .seconds(120)), closeOnFailure: true)
        #expect(failure != nil)
        #expect(
            started.duration(to: clock.now) < .seconds(60), "the link stayed open until the acknowledgement wait ended")
        #expect(await cuff.confirmedCount == 0)
        #expect(await cuff.stored.count == held, "the cuff must keep the readings nobody stored")
    }

    /// A stored glucose record with only a sensor status (a strip error, no concentration) becomes a reading without
    /// a value — its reason and annunciations kept — between two ordinary records, none of them lost.
    @Test func aStatusOnlyGlucoseRecordIsKeptAsAReadingWithoutAValue() async throws {
        let pipeline = try await TestPipeline.make()
        defer { pipeline.remove() }
        let meter = await PipelineTests.meter(7)
        await meter.measure(
            milligramsPerDeciliter: 0, status: [.stripInsertionError], statusOnly: true,
            at: pipelineNow.addingTimeInterval(-300))
        await meter.measure(milligramsPerDeciliter: 104, at: pipelineNow.addingTimeInterval(-200))
        #expect(try await collect(meter, engine: pipeline.engine, archive: pipeline.archive) == nil)
        let readings = try pipeline.archive.quarantined().map(\.reading)
        #expect(readings.count == 7)
        let failed = try #require(readings.first { $0.flags.contains(.valueAbsent) })
        #expect(failed.components.first?.value == .absent(.notReported))
        #expect(failed.flags.contains(.sensorAnnunciation))
        #expect(failed.context.statusLabels.contains { $0.contains("strip") }, "\(failed.context.statusLabels)")
    }
}
