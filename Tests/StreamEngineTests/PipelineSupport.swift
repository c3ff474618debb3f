import BLEGateway
import Foundation
import Provenance
import StreamEngine
import TimeSeries

/// A temporary data directory with a store, an archive and an engine, torn down by the caller.
struct TestPipeline {
    let directory: String
    let store: TimeSeriesStore
    let archive: ReadingArchive
    let engine: StreamEngine

    static func make(zones: [String: TimeZone] = [:], ledger: (any BatchLedger)? = nil, directory: String? = nil)
        async throws -> TestPipeline
    {
        let directory =
            directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("gw-engine-\(UUID().uuidString.prefix(8))")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try TimeSeriesStore(directory: directory + "/store")
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        let engine = try StreamEngine(
            store: store, archive: archive, ledger: ledger, windows: WindowTracker(zones: zones))
        try await engine.recover()
        return TestPipeline(directory: directory, store: store, archive: archive, engine: engine)
    }

    func close() {
        store.close()
    }

    func remove() {
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

let pipelineNow = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18T11:06:40Z

/// A gateway clock that starts at `pipelineNow` and advances 1 ms per reading of it, so notifications from
/// devices without clocks get distinct receive times, deterministically.
final class TickingClock: @unchecked Sendable {
    private let lock = NSLock()
    private var ticks = 0
    func now() -> Date {
        lock.lock()
        defer { lock.unlock() }
        ticks += 1
        return pipelineNow.addingTimeInterval(Double(ticks) / 1000)
    }
}
let pipelineClock = TickingClock()
let pipelineZone = TimeZone(identifier: "Asia/Tokyo")!

/// The mapper options the tests use: the PHD IG time rules in Tokyo, simulated devices' readings not
/// marked as test data (the tests check clinical flags, not HTEST).
func mapperOptions() -> ReadingMapperOptions {
    let policy = TimePolicy(timeZoneIdentifier: "Asia/Tokyo")
    return ReadingMapperOptions(gateway: GatewayRecord(id: "gw-test", softwareVersion: "test")) {
        stamp, offset, received, clocks in
        TimeDecisionRules.decide(
            deviceTimestamp: stamp, deviceTimeOffsetMinutes: offset, receivedMicros: received, comparisons: clocks,
            policy: policy)
    }
}

/// Connects to a simulated device over a socketpair, runs its profile session and feeds the engine; the
/// device's stored-record cursor comes from and goes back to the archive. Returns the session's error.
@discardableResult
func collect(
    _ device: some SimulatedPeripheral, engine: StreamEngine, archive: ReadingArchive,
    clientOptions: GATTClientOptions = GATTClientOptions(), onMalformed: ReadingCollector.MalformedHandler? = nil,
    closeOnFailure: Bool = false
) async throws -> (any Error)? {
    let (deviceEnd, gatewayEnd) = try SeqPacketBearer.pair()
    Task { await device.serve(deviceEnd) }
    let client = GATTClient(bearer: gatewayEnd, options: clientOptions)
    client.startReceiving()
    defer { client.close() }
    let sessionOptions = ProfileSessionOptions(
        setDeviceClockWhenOffBy: nil, deviceTimeZone: pipelineZone, clock: GatewayClock { pipelineClock.now() },
        link: "socketpair")
    let connection = try await DeviceReadings.readings(
        client: client, sessionOptions: sessionOptions, mapperOptions: mapperOptions(),
        cursor: { device in try? archive.recordCursor(deviceKey: device.key) },
        saveCursor: { device, next in
            // As gatewayd keeps them (RecordCursorWriter), but written at once: the tests read the cursor right after.
            try? archive.setRecordCursor(deviceKey: device.key, to: next)
        },
        onMalformed: { payload, identity in
            if let onMalformed { return try await onMalformed(payload, identity) }
            try archive.recordMalformed(
                deviceKey: identity.map { ReadingMapper.deviceRecord($0).key } ?? "unknown",
                characteristic: payload.characteristic.description,
                bytes: payload.bytes, error: payload.error.description,
                receivedMicros: Int64(payload.receivedAt.timeIntervalSince1970 * 1_000_000))
        })
    var failure: (any Error)?
    do {
        // As gatewayd does: a reading that could not be stored closes the link at once (`closeOnFailure`).
        let onFailure: (@Sendable (any Error) -> Void)? = closeOnFailure ? { @Sendable _ in client.close() } : nil
        try await engine.consume(connection.readings, onFailure: onFailure)
    } catch {
        failure = error
    }
    return failure
}
