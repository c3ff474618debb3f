import BLEGateway
import Foundation
import Logging
import Provenance
import StreamEngine
import TimeSeries

/// The device load of one scenario: a hub's mix of devices, every rate `speed` times its real-world rate.
struct Load: Codable, Sendable {
    var devices: Int
    var seconds: Double
    var speed: Double
    /// Real-world seconds between a cuff's readings (an automatic cuff's 1-minute interval mode).
    var cuffPeriod: Double
    /// Readings each cuff holds when it first connects (indicated at subscription).
    var cuffMemory: Int
    /// Records each glucose meter holds when it first connects (downloaded through RACP).
    var meterRecords: Int
    /// Wall-clock seconds between a meter's syncs (unscaled): after each it takes one reading and reconnects.
    var meterSync: Double

    /// 60 % heart-rate straps, 25 % blood-pressure cuffs, the rest glucose meters (120/50/30 of 200).
    var straps: Int { devices * 60 / 100 }
    var cuffs: Int { devices * 25 / 100 }
    var meters: Int { devices - straps - cuffs }
    /// A strap notifies at 1 Hz in real life.
    var strapInterval: Double { 1 / speed }
    var cuffInterval: Double { cuffPeriod / speed }
    /// A meter sends a stored record about every 20 ms in real life (one per connection event or two).
    var meterRecordInterval: Double { 0.020 / speed }
    /// Connections are spread over the first second, per kind, so 200 discoveries do not start in one instant.
    static let ramp = 1.0
}

/// Where the readings of every connection go.
protocol ReadingSink: Sendable {
    func cursor(_ device: DeviceRecord) async -> UInt16?
    func take(_ pending: PendingReading) async throws
    /// A connection's readings, as the sink takes them (the durable sink as gatewayd does: `StreamEngine.consume`).
    func takeAll(_ readings: PendingReadings, tally: Tally) async throws
    /// Told each move of a meter's cursor as records become durable (as the daemon keeps it).
    func saveCursor(_ device: DeviceRecord, next: UInt16?) async
    /// A connection ended: its cursor is where the next one will read it.
    func connectionEnded() async
}

extension ReadingSink {
    func takeAll(_ readings: PendingReadings, tally: Tally) async throws {
        for try await pending in readings {
            tally.deliveredOne()
            try await take(pending)
        }
    }
}

/// The baseline: the same sessions and collector, every reading acknowledged at once and nothing stored
/// (RACP cursors kept in memory so meters resume like they do against the real pipeline).
struct NoopSink: ReadingSink {
    let tally: Tally
    let cursors = CursorBook()

    func cursor(_ device: DeviceRecord) async -> UInt16? { cursors[device.key] }
    func take(_ pending: PendingReading) async {
        await pending.acknowledge()
        tally.storedOne()
    }
    func saveCursor(_ device: DeviceRecord, next: UInt16?) async { cursors[device.key] = next }
    func connectionEnded() async {}
}

final class CursorBook: @unchecked Sendable {
    private let lock = NSLock()
    private var cursors: [String: UInt16] = [:]
    subscript(key: String) -> UInt16? {
        get { lock.withLock { cursors[key] } }
        set { lock.withLock { cursors[key] = newValue } }
    }
}

/// The pipeline gatewayd runs: the StreamEngine over a TimeSeriesStore, a ReadingArchive and the Provenance
/// ledger; a reading is acknowledged only after it is journaled, appended (fsynced) and chained.
struct DurableSink: ReadingSink {
    let engine: StreamEngine
    let archive: ReadingArchive
    let cursors: RecordCursorWriter
    let tally: Tally

    func cursor(_ device: DeviceRecord) async -> UInt16? { try? archive.recordCursor(deviceKey: device.key) }
    func take(_ pending: PendingReading) async throws {
        count(try await engine.ingest(pending))
    }

    func count(_ outcome: IngestOutcome) {
        switch outcome {
        case .stored: tally.storedOne()
        case .duplicate: tally.duplicateOne()
        case .quarantined: tally.quarantinedOne()
        case .rejected: tally.rejectedOne()
        }
    }

    /// As the daemon feeds a connection: notifications go on without waiting for their batch (64 in flight),
    /// indications and stored records wait for their confirmation.
    func takeAll(_ readings: PendingReadings, tally: Tally) async throws {
        let counted = readings.map { pending in
            tally.deliveredOne()
            return pending
        }
        try await engine.consume(counted, inFlight: 64) { outcome, _ in count(outcome) }
    }
    func saveCursor(_ device: DeviceRecord, next: UInt16?) async {
        cursors.save(deviceKey: device.key, next: next)  // as gatewayd keeps them: off the confirmation's path
    }
    func connectionEnded() async { await cursors.flush() }
}

/// What one scenario measured; the child process prints it as one JSON line.
struct ScenarioResult: Codable {
    var scenario: Scenario
    var elapsedSeconds: Double
    var delivered: Int
    var stored: Int
    var duplicates: Int
    var quarantined: Int
    var rejected: Int
    var malformed: Int
    /// The archive's own count after the run (durable only): must equal `stored`.
    var archived: Int?
    var connections: Int
    var sessionErrorCount: Int
    var sessionErrors: [String]
    var indications: Int
    var p50Millis: Double?
    var p99Millis: Double?
    var maxMillis: Double?
    var peakRSSKiB: Int?
    /// The highest anonymous resident memory sampled (`AnonymousMemoryPeak`).
    var peakAnonymousKiB: Int?

    /// Readings stored (durable) or acknowledged (baseline) per second of the scenario's wall time.
    var readingsPerSecond: Double { Double(stored) / elapsedSeconds }
}

/// Everything a connection needs to know about its run.
struct RunContext: Sendable {
    let start: ContinuousClock.Instant
    let deadline: ContinuousClock.Instant
    let sessionOptions: ProfileSessionOptions
    let mapper: ReadingMapperOptions
    let sink: any ReadingSink
    let tally: Tally

    /// The instant device `index` of `count` of its kind first connects.
    func rampStart(_ index: Int, of count: Int) -> ContinuousClock.Instant {
        start + .seconds(Load.ramp * Double(index) / Double(max(count, 1)))
    }
}

/// One connection, as gatewayd's `collect` runs it: the device on one end of a socketpair, a GATT client and
/// the profile session on the other, every reading into the sink, the RACP cursor saved at the end. The link
/// is closed by the gateway at the deadline if the device has not ended it before.
func connect(_ device: some SimulatedPeripheral, name: String, context: RunContext) async {
    let tally = context.tally
    let bearers: (device: SeqPacketBearer, gateway: SeqPacketBearer)
    do {
        bearers = try SeqPacketBearer.pair()
    } catch {
        tally.failed("\(name): \(error)")
        return
    }
    let serving = Task { await device.serve(bearers.device) }
    let client = GATTClient(bearer: bearers.gateway)
    let receiving = Task { await client.run() }
    let deadline = context.deadline
    let closer = Task {
        try? await Task.sleep(until: deadline, clock: .continuous)
        if !Task.isCancelled { client.close() }
    }
    tally.connected()
    let sink = context.sink
    do {
        let connection = try await DeviceReadings.readings(
            client: client, sessionOptions: context.sessionOptions, mapperOptions: context.mapper,
            cursor: { await sink.cursor($0) }, saveCursor: { await sink.saveCursor($0, next: $1) },
            onMalformed: { _, _ in tally.malformedOne() })
        do {
            try await sink.takeAll(connection.readings, tally: tally)
        } catch let error as ProfileError where error.isOrdinaryEnd {
            // The link closed: what was acknowledged is durable.
        } catch {
            if ContinuousClock.now < deadline { tally.failed("\(name): \(error)") }
        }
        await sink.connectionEnded()
    } catch {
        if ContinuousClock.now < deadline { tally.failed("\(name): \(error)") }
    }
    closer.cancel()
    client.close()
    await receiving.value
    await serving.value
}

extension ProfileError {
    var isOrdinaryEnd: Bool {
        if case .gatt(.linkClosed) = self { return true }
        return false
    }
}

func systemID(_ base: UInt64, _ index: Int) -> SystemID? {
    SystemID(manufacturerIdentifier: base + UInt64(index), organizationallyUniqueIdentifier: 0x00_1B_C5)
}

enum DeviceBase {
    static let cuff: UInt64 = 0x10_0000
    static let meter: UInt64 = 0x20_0000
    static let strap: UInt64 = 0x30_0000
}

/// Runs one scenario in this process and returns what it measured.
func runScenario(_ scenario: Scenario, load: Load, directory: String) async throws -> ScenarioResult {
    let zone = TimeZone(identifier: "UTC")!
    let tally = Tally()
    let recorder = LatencyRecorder()
    var store: TimeSeriesStore?
    var archive: ReadingArchive?
    let sink: any ReadingSink
    switch scenario {
    case .noop:
        sink = NoopSink(tally: tally)
    case .durable:
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "gatewayd.store")
        logger.logLevel = .warning
        let opened = try TimeSeriesStore(directory: directory + "/store", logger: logger)
        let readings = try ReadingArchive(path: directory + "/engine.sqlite")
        let ledger = try Ledger(directory: directory + "/ledger")
        // The daemon's settings (GatewayPipeline): windows revised at most every ten minutes, notifications lingering up
        // to 8 s to share a batch.
        var options = StreamEngineOptions()
        options.notificationLinger = .seconds(8)
        let engine = try StreamEngine(
            store: opened, archive: readings, ledger: LedgerRecorder(ledger: ledger),
            windows: WindowTracker(zones: [:], defaultZone: zone, coalesceMicros: 600_000_000), options: options)
        try await engine.recover()
        // Every device and cuff user has a subject, so nothing is quarantined (mapping is not what is measured).
        for index in 0..<load.cuffs {
            let key = systemID(DeviceBase.cuff, index)?.eui64Text ?? ""
            try await engine.mapSubject(deviceKey: key, userID: 1, subject: "resident-bp-\(index)-1")
            try await engine.mapSubject(deviceKey: key, userID: 2, subject: "resident-bp-\(index)-2")
        }
        for index in 0..<load.meters {
            try await engine.mapSubject(
                deviceKey: systemID(DeviceBase.meter, index)?.eui64Text ?? "", userID: nil,
                subject: "resident-gl-\(index)")
        }
        for index in 0..<load.straps {
            try await engine.mapSubject(
                deviceKey: systemID(DeviceBase.strap, index)?.eui64Text ?? "", userID: nil,
                subject: "resident-hr-\(index)")
        }
        store = opened
        archive = readings
        sink = DurableSink(
            engine: engine, archive: readings, cursors: RecordCursorWriter(archive: readings), tally: tally)
    }

    // The devices, each seeded by its index: the same values in every run and in both scenarios.
    let now = Date()
    var straps: [SimulatedHeartRateStrap] = []
    for index in 0..<load.straps {
        var configuration = SimulatedHeartRateStrap.Configuration()
        configuration.identity.serial = "HR5-\(index)"
        configuration.identity.systemID = systemID(DeviceBase.strap, index)
        configuration.interval = .seconds(load.strapInterval)
        configuration.count = nil
        configuration.seed = UInt64(index + 1)
        configuration.restingRate = 55 + index % 30
        straps.append(SimulatedHeartRateStrap(configuration: configuration))
    }
    var cuffs: [SimulatedBloodPressureMonitor] = []
    for index in 0..<load.cuffs {
        var configuration = SimulatedBloodPressureMonitor.Configuration()
        configuration.identity.serial = "BP2-\(index)"
        configuration.identity.systemID = systemID(DeviceBase.cuff, index)
        configuration.clock = SimulatedClock(reference: now, timeZone: zone)
        configuration.disconnectsWhenDone = false
        configuration.indicatesNewReadingsWhileConnected = true
        configuration.indicationLatencyRecorder = { recorder.record($0) }
        let cuff = SimulatedBloodPressureMonitor(configuration: configuration)
        await SimulatedReadings.fill(
            cuff, count: load.cuffMemory, users: [1, 2], seed: UInt64(index + 1), end: now.addingTimeInterval(-600),
            spacing: 3 * 3600)
        cuffs.append(cuff)
    }
    var meters: [SimulatedGlucoseMeter] = []
    for index in 0..<load.meters {
        var configuration = SimulatedGlucoseMeter.Configuration()
        configuration.identity.serial = "GL1-\(index)"
        configuration.identity.systemID = systemID(DeviceBase.meter, index)
        configuration.clock = SimulatedClock(reference: now, timeZone: zone)
        configuration.recordInterval = .seconds(load.meterRecordInterval)
        let meter = SimulatedGlucoseMeter(configuration: configuration)
        await SimulatedReadings.fill(
            meter, count: load.meterRecords, seed: UInt64(index + 1), end: now.addingTimeInterval(-600),
            spacing: 6 * 3600)
        meters.append(meter)
    }

    let policy = TimePolicy(timeZoneIdentifier: zone.identifier)
    let mapper = ReadingMapperOptions(gateway: GatewayRecord(id: "gw-bench", softwareVersion: "bench")) {
        stamp, offset, received, clocks in
        TimeDecisionRules.decide(
            deviceTimestamp: stamp, deviceTimeOffsetMinutes: offset, receivedMicros: received, comparisons: clocks,
            policy: policy)
    }
    let anonymous = AnonymousMemoryPeak()
    anonymous.start()
    let start = ContinuousClock.now + .milliseconds(50)
    let deadline = start + .seconds(load.seconds)
    let context = RunContext(
        start: start, deadline: deadline,
        sessionOptions: ProfileSessionOptions(deviceTimeZone: zone, link: "socketpair"),
        mapper: mapper, sink: sink, tally: tally)

    await withTaskGroup(of: Void.self) { group in
        for (index, strap) in straps.enumerated() {
            group.addTask {
                try? await Task.sleep(until: context.rampStart(index, of: load.straps), clock: .continuous)
                await connect(strap, name: "strap \(index)", context: context)
            }
        }
        for (index, cuff) in cuffs.enumerated() {
            group.addTask {
                try? await Task.sleep(until: context.rampStart(index, of: load.cuffs), clock: .continuous)
                await connect(cuff, name: "cuff \(index)", context: context)
            }
            // The cuff takes a reading every `cuffInterval`, phases spread over one interval; it indicates each
            // one while connected (`indicatesNewReadingsWhileConnected`).
            group.addTask {
                var random = SplitMix64(seed: 0xB0 &+ UInt64(index))
                var taken = 0
                while true {
                    let phase = Double(index + 1) / Double(load.cuffs) + Double(taken)
                    let at = start + .seconds(load.cuffInterval * phase)
                    guard at < deadline else { break }
                    try? await Task.sleep(until: at, clock: .continuous)
                    let r = random.next()
                    let systolic = Int32(112 + r % 30)
                    let diastolic = Int32(70 + (r >> 8) % 18)
                    await cuff.measure(
                        systolic: .number(mantissa: systolic * 10 + Int32((r >> 16) % 10), exponent: -1),
                        diastolic: .number(mantissa: diastolic, exponent: 0),
                        meanArterialPressure: .number(mantissa: (systolic + 2 * diastolic) / 3, exponent: 0),
                        pulseRate: .number(mantissa: Int32(58 + (r >> 24) % 30), exponent: 0),
                        user: .user(UInt8(1 + taken % 2)))
                    taken += 1
                }
            }
        }
        for (index, meter) in meters.enumerated() {
            // The meter syncs its memory, then every `meterSync` seconds takes one reading and syncs again.
            group.addTask {
                var random = SplitMix64(seed: 0x61 &+ UInt64(index))
                try? await Task.sleep(until: context.rampStart(index, of: load.meters), clock: .continuous)
                while ContinuousClock.now < deadline {
                    await connect(meter, name: "meter \(index)", context: context)
                    let wake = ContinuousClock.now + .seconds(load.meterSync)
                    guard wake < deadline else { break }
                    try? await Task.sleep(until: wake, clock: .continuous)
                    await meter.measure(milligramsPerDeciliter: Int32(85 + random.next() % 70))
                }
            }
        }
    }
    let elapsed = seconds(start.duration(to: .now))

    let archived = try archive?.storedReadingCount()
    store?.close()
    let latencies = recorder.sorted
    let millis = { (nanos: Int64?) in nanos.map { Double($0) / 1e6 } }
    return ScenarioResult(
        scenario: scenario, elapsedSeconds: elapsed, delivered: tally.delivered, stored: tally.stored,
        duplicates: tally.duplicates, quarantined: tally.quarantined, rejected: tally.rejected,
        malformed: tally.malformed,
        archived: archived, connections: tally.connections, sessionErrorCount: tally.sessionErrors.count,
        sessionErrors: Array(tally.sessionErrors.prefix(5)), indications: latencies.count,
        p50Millis: millis(percentile(latencies, 50)), p99Millis: millis(percentile(latencies, 99)),
        maxMillis: millis(latencies.last), peakRSSKiB: peakRSSKiB(), peakAnonymousKiB: anonymous.stop())
}
