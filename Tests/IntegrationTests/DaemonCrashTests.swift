import Foundation
import GRDB
import Provenance
import StreamEngine
import Testing
import TimeSeries

@testable import GatewayRuntime

/// `gatewayd run` itself — a strap notifying, a cuff with two users and stored readings, a meter downloading
/// records — killed with SIGKILL at random moments and started again. After each kill and the start-up recovery,
/// every stored reading reads back (its provenance entry and variation), is in the store exactly once, and the
/// ledger holds together; after a last, clean stop no summary window is left pending.
@Suite(.serialized) struct DaemonCrashTests {
    static func specs() -> [SimulatedDeviceSpec] {
        [
            SimulatedDeviceSpec(
                profile: .bloodPressure, name: "cuff", users: [1, 2], storedReadings: 12, measureEverySeconds: 0.3,
                number: 1),
            SimulatedDeviceSpec(
                profile: .glucose, name: "meter", storedReadings: 30, measureEverySeconds: 0.4, number: 2),
            SimulatedDeviceSpec(profile: .heartRate, name: "strap", notifyEverySeconds: 0.2, number: 3),
        ]
    }

    /// The mapping of `specs()`'s devices to alice and bob (the cuff's two users), as a configuration's `devices:`.
    static var deviceMappings: String {
        let keys = specs().map(SimulatedFleet.deviceKey)
        return """
            devices:
              - { device: "\(keys[0])", user: 1, subject: alice }
              - { device: "\(keys[0])", user: 2, subject: bob }
              - { device: "\(keys[1])", subject: alice }
              - { device: "\(keys[2])", subject: alice }
            """
    }

    /// A `gatewayd run` configuration of `specs()`'s devices, mapped, with the API on a free loopback port.
    static func deviceMixConfiguration(
        data: String, gateway: String, port: Int = FHIRAPITests.freePort(), notifyEvery: String = "200ms"
    ) -> String {
        """
        data_directory: \(data)
        gateway: \(gateway)
        \(deviceMappings)
        api: { listen: "127.0.0.1:\(port)", allow_loopback: true }
        simulated_devices:
          - { kind: blood_pressure, name: cuff, users: [1, 2], stored_readings: 12, measure_every: 300ms }
          - { kind: glucose, name: meter, stored_readings: 30, measure_every: 400ms }
          - { kind: heart_rate, name: strap, notify_every: \(notifyEvery) }
        """
    }

    /// Writes the device mix's configuration to `config` and starts `gatewayd run` on it (the caller stops it).
    static func runDeviceMix(config: String, data: String, gateway: String, port: Int, notifyEvery: String) throws
        -> GatewaydProcess
    {
        try deviceMixConfiguration(data: data, gateway: gateway, port: port, notifyEvery: notifyEvery)
            .write(toFile: config, atomically: true, encoding: .utf8)
        return try GatewaydProcess(["run", "--config", config])
    }

    @Test func sigkillDuringRunLeavesEveryStoredReadingOnceAndReadable() async throws {
        let dir = try APIHarness.scratch("daemon-crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/gatewayd.yaml"
        try Self.deviceMixConfiguration(data: dir + "/data", gateway: "{ id: gw-crash, time_zone: Asia/Tokyo }")
            .write(toFile: config, atomically: true, encoding: .utf8)
        var generator = SystemRandomNumberGenerator()
        let rounds = CrashCampaign.rounds("DaemonCrashTests", quick: 3, full: 6)
        for round in 0...rounds {
            try await Self.run(
                config: config, for: .milliseconds(Int.random(in: 700...2_500, using: &generator)),
                then: round < rounds ? SIGKILL : SIGTERM)
            try await Self.checkInvariant(data: dir + "/data", final: round == rounds)
        }
        let verified = try await FHIRAPITests.run(["verify", "--dir", dir + "/data"])
        #expect(verified.status == 0 && verified.output.contains("intact"), "\(verified.output)")
    }

    /// `gatewayd run --config` for `duration`, then `signal` (SIGKILL: a crash; SIGTERM: a clean stop), waited for.
    static func run(config: String, for duration: Duration, then signal: Int32) async throws {
        let process = Process()
        process.executableURL = CrashRecoveryTests.gatewaydBinary
        process.arguments = ["run", "--config", config]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try await Task.sleep(for: duration)
        kill(process.processIdentifier, signal)
        await ChildProcess.exit(of: process)
    }

    /// After the start-up recovery: each reading once in the archive and once in the store, and readable.
    static func checkInvariant(data: String, final: Bool) async throws {
        guard FileManager.default.fileExists(atPath: data + "/engine.sqlite") else { return }
        let archive = try ReadingArchive(path: data + "/engine.sqlite")
        let database = try DatabaseQueue(path: data + "/engine.sqlite")
        if final {
            // A clean stop revised every pending window (SummaryFlushService at shutdown).
            let pending = try await database.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM window_pending")
            }
            #expect(pending == 0)
        }
        let store = try TimeSeriesStore(directory: data + "/store")
        defer { store.close() }
        // What the daemon's next start does (with its ledger, so recovered readings are recorded there too).
        let ledger = try Ledger(directory: data + "/ledger")
        let engine = try StreamEngine(store: store, archive: archive, ledger: LedgerRecorder(ledger: ledger))
        try await engine.recover()
        // A row is one reading, a span row as many as it spans.
        let rows =
            try await database.read { db in
                try Int.fetchOne(
                    db, sql: "SELECT COALESCE(SUM(COALESCE(span_count, 1)), 0) FROM reading WHERE stored = 1")
            } ?? 0
        var readable = 0
        // One sample of each reading's first component per (subject, device, metric): the store holds it exactly once.
        var expected: [SeriesKey: Int] = [:]
        for subject in try archive.subjects() {
            for reading in try archive.readings(subject: subject) {
                readable += 1
                let first = try #require(reading.components.first)
                expected[
                    SeriesKey(subject: subject, device: reading.device.key, metric: first.metric.rawValue), default: 0] +=
                    1
            }
        }
        #expect(readable == rows, "\(rows - readable) stored readings do not read back")
        if final {
            // Every kind of device got readings through: both cuff users, the meter's records, the strap.
            let stored = Set(expected.keys.map { "\($0.subject)/\($0.metric)" })
            #expect(
                stored.isSuperset(of: ["alice/bp_systolic", "bob/bp_systolic", "alice/glucose", "alice/heart_rate"]),
                "\(stored)")
        }
        for (key, count) in expected {
            let samples =
                try store.existingSeries(key).map { try store.scan($0, range: Int64.min..<Int64.max).samples.count }
                ?? 0
            #expect(samples == count, "\(key): \(samples) samples for \(count) readings")
        }
    }
}
