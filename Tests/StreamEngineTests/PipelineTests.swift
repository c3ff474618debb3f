import BLEGateway
import Foundation
import Provenance
import StreamEngine
import Testing
import TimeSeries

@Suite struct PipelineTests {
    static func cuff(_ index: Int, resend: Bool = false, batteryChangedHoursAgo: Double? = nil) async
        -> SimulatedBloodPressureMonitor
    {
        var configuration = SimulatedBloodPressureMonitor.Configuration()
        configuration.identity.serial = "BP2-\(index)"
        configuration.identity.systemID = SystemID(
            manufacturerIdentifier: UInt64(0x1000 + index), organizationallyUniqueIdentifier: 0x00_1B_C5)
        configuration.clock = SimulatedClock(reference: pipelineNow, timeZone: pipelineZone)
        if let hours = batteryChangedHoursAgo {
            configuration.clock.batteryChangedAt = pipelineNow.addingTimeInterval(-hours * 3600)
        }
        configuration.resendsStoredReadings = resend
        let cuff = SimulatedBloodPressureMonitor(configuration: configuration, now: { pipelineNow })
        await SimulatedReadings.fill(
            cuff, count: 4, users: [1, 2], seed: UInt64(index), end: pipelineNow.addingTimeInterval(-600),
            spacing: 3 * 3600)
        return cuff
    }

    static func meter(_ index: Int, ignoresFilter: Bool = false, clockOffset: Double = 0) async -> SimulatedGlucoseMeter
    {
        var configuration = SimulatedGlucoseMeter.Configuration()
        configuration.identity.serial = "GL1-\(index)"
        configuration.identity.systemID = SystemID(
            manufacturerIdentifier: UInt64(0x2000 + index), organizationallyUniqueIdentifier: 0x00_1B_C5)
        configuration.clock = SimulatedClock(offset: clockOffset, reference: pipelineNow, timeZone: pipelineZone)
        configuration.recordInterval = .zero
        configuration.ignoresRecordFilter = ignoresFilter
        let meter = SimulatedGlucoseMeter(configuration: configuration, now: { pipelineNow })
        await SimulatedReadings.fill(
            meter, count: 5, seed: UInt64(index), end: pipelineNow.addingTimeInterval(-600), spacing: 3600)
        return meter
    }

    static func strap(_ index: Int) -> SimulatedHeartRateStrap {
        var configuration = SimulatedHeartRateStrap.Configuration()
        configuration.identity.serial = "HR5-\(index)"
        configuration.identity.systemID = SystemID(
            manufacturerIdentifier: UInt64(0x3000 + index), organizationallyUniqueIdentifier: 0x00_1B_C5)
        configuration.interval = .milliseconds(2)
        configuration.count = 5
        configuration.seed = UInt64(index)
        return SimulatedHeartRateStrap(configuration: configuration)
    }

    static func key(_ serialPrefix: UInt64) -> String {
        SystemID(manufacturerIdentifier: serialPrefix, organizationallyUniqueIdentifier: 0x00_1B_C5)?.eui64Text ?? ""
    }

    @Test func fiftyDevicesEveryReadingOnceResendsDeduplicatedUnmappedQuarantinedThenReleased() async throws {
        let pipeline = try await TestPipeline.make(zones: [:])
        defer { pipeline.remove() }
        let engine = pipeline.engine
        let archive = pipeline.archive
        // Subjects: every cuff's user 1 and 2 (except cuff 0's user 2, left unmapped), every meter and strap.
        for index in 0..<20 {
            try await engine.mapSubject(
                deviceKey: Self.key(UInt64(0x1000 + index)), userID: 1, subject: "alice-\(index)")
            if index != 0 {
                try await engine.mapSubject(
                    deviceKey: Self.key(UInt64(0x1000 + index)), userID: 2, subject: "bob-\(index)")
            }
        }
        for index in 0..<15 {
            try await engine.mapSubject(
                deviceKey: Self.key(UInt64(0x2000 + index)), userID: nil, subject: "carol-\(index)")
            try await engine.mapSubject(
                deviceKey: Self.key(UInt64(0x3000 + index)), userID: nil, subject: "dave-\(index)")
        }
        var cuffs: [SimulatedBloodPressureMonitor] = []
        for index in 0..<20 {
            cuffs.append(await Self.cuff(index, resend: index % 2 == 0, batteryChangedHoursAgo: index == 3 ? 24 : nil))
        }
        var meters: [SimulatedGlucoseMeter] = []
        for index in 0..<15 {
            meters.append(await Self.meter(index, ignoresFilter: index % 3 == 0, clockOffset: index == 1 ? 600 : 0))
        }
        let straps = (0..<15).map(Self.strap)

        // Two rounds of connections, all 50 devices at once each round.
        for _ in 0..<2 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for cuff in cuffs { group.addTask { _ = try await collect(cuff, engine: engine, archive: archive) } }
                for meter in meters { group.addTask { _ = try await collect(meter, engine: engine, archive: archive) } }
                for strap in straps { group.addTask { _ = try await collect(strap, engine: engine, archive: archive) } }
                try await group.waitForAll()
            }
        }
        // Cuffs: 4 readings each, each a BP reading + a pulse reading, except the NaN ones (no pulse):
        // SimulatedReadings makes index 5 of 6 NaN, so 4 readings → all with pulse → 8 readings per cuff.
        // Meters: 5 records. Straps: 5 notifications per connection, two connections (no device time: new each time).
        let cuffReadings = 20 * 8
        let meterReadings = 15 * 5
        let strapReadings = 15 * 5 * 2
        let quarantined = try archive.quarantined()
        // Cuff 0's user 2: 2 BP + 2 pulse readings; cuff 0 resends its memory, so the second round holds them again.
        #expect(quarantined.count == 8)
        let stored = try archive.storedReadingCount()
        #expect(stored == cuffReadings - 4 + meterReadings + strapReadings)

        // Every stored reading appears exactly once in the store: count samples per series.
        var samples = 0
        for (key, id) in pipeline.store.allSeries() {
            let scanned = try pipeline.store.scan(id, range: Int64.min..<Int64.max).samples
            samples += scanned.count
            #expect(Set(scanned).count == scanned.count || key.metric == "rr_interval", "duplicate samples in \(key)")
        }
        #expect(samples > stored)

        // The reset cuff's readings are never dated 2000.
        let resetKey = Self.key(0x1003)
        for reading in try archive.readings(subject: "alice-3") where reading.device.key == resetKey {
            #expect(
                reading.time.effectiveMicros > 1_700_000_000_000_000, "a reading dated \(reading.time.effectiveMicros)")
        }

        // Meter 1 runs 10 minutes fast: its records are mapped back by exactly 600 s; meter 2 is in sync: kept.
        let fast = try archive.readings(subject: "carol-1")
        #expect(fast.count == 5)
        for reading in fast {
            guard case .mapped(let correction) = reading.time.decision else {
                Issue.record("meter 1's record was \(reading.time.decision), not mapped")
                continue
            }
            // The clock is read to the second (plus 1/256 s), at a gateway clock that ticks 1 ms per read.
            #expect(abs(correction + 600_000_000) <= 1_000_000, "correction \(correction) µs")
            #expect(reading.flags.contains(.timeCorrected))
        }
        let inSync = try archive.readings(subject: "carol-2")
        #expect(inSync.allSatisfy { $0.time.decision == .kept && $0.time.syncMethod == "cts_read" })
        #expect(zip(fast, inSync).allSatisfy { abs($0.time.effectiveMicros - $1.time.effectiveMicros) <= 1_000_000 })

        // Every reading reads back from its provenance entry and variation exactly: the identity recomputed from what
        // was read (device, subject, kind, device time or sequence, payload hash) is the one it was stored under.
        var identities = 0
        for subject in try archive.subjects() {
            for reading in try archive.readings(subject: subject) {
                let identity = try #require(reading.identity)
                #expect(try archive.archived(reading) == reading)
                if !reading.identityAnchoredOnReceipt {
                    #expect(try archive.reading(identity: identity.hex) == reading)
                }
                // A strap's Body Sensor Location, read once per connection, is on every reading of it.
                if reading.kind == .heartRate { #expect(reading.context.bodySensorLocation == "chest") }
                identities += 1
            }
        }
        #expect(identities == stored)

        // Map the missing user: the held readings are released and stored once.
        let released = try await engine.mapSubject(deviceKey: Self.key(0x1000), userID: 2, subject: "bob-0")
        #expect(released == quarantined.count)
        #expect(try archive.quarantined().isEmpty)
        #expect(try archive.storedReadingCount() == cuffReadings + meterReadings + strapReadings)
    }
}
