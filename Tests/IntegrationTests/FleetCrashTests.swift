import FHIR
import Foundation
import GRDB
import Provenance
import StreamEngine
import Testing

@testable import GatewayRuntime

/// `gatewayd run` with a hub's fleet — 50 simulated devices over real ATT: straps notifying, two-user cuffs indicating
/// stored and new readings, meters downloading records through RACP — killed with SIGKILL at random instants, round
/// after round. After each round's recovery every stored reading is in the archive once, readable, and in the store
/// once; every meter's RACP cursor is at or behind its last durable record; at the end the ledger verifies and the
/// outbox of a PHR that was down throughout holds every stored reading's Observations exactly once.
///
/// 3 rounds in `swift test`, 10 in `scripts/test`'s full crash campaign (about half a minute);
/// `GATEWAYD_CRASH_ROUNDS=100` for a long one.
@Suite(.serialized) struct FleetCrashTests {
    static let rounds =
        ProcessInfo.processInfo.environment["GATEWAYD_CRASH_ROUNDS"].flatMap(Int.init)
        ?? CrashCampaign.rounds("FleetCrashTests", quick: 3, full: 10)

    /// `count` devices in configuration order: 60 % straps, 25 % two-user cuffs holding readings, the rest meters
    /// holding records; `number` as the configuration gives it (its position), which the device keys follow.
    static func fleet(_ count: Int) -> [SimulatedDeviceSpec] {
        let straps = count * 60 / 100
        let cuffs = count * 25 / 100
        return (0..<count).map { index in
            let number = UInt64(index + 1)
            if index < straps {
                return SimulatedDeviceSpec(
                    profile: .heartRate, name: "strap-\(index + 1)", notifyEverySeconds: 0.5, number: number)
            } else if index < straps + cuffs {
                return SimulatedDeviceSpec(
                    profile: .bloodPressure, name: "cuff-\(index + 1)", users: [1, 2], storedReadings: 6,
                    measureEverySeconds: 0.7, number: number)
            }
            return SimulatedDeviceSpec(
                profile: .glucose, name: "meter-\(index + 1)", storedReadings: 20, measureEverySeconds: 0.9,
                number: number)
        }
    }

    static func configuration(data: String, specs: [SimulatedDeviceSpec]) -> String {
        var devices: [String] = []
        var simulated: [String] = []
        for (index, spec) in specs.enumerated() {
            let key = SimulatedFleet.deviceKey(spec)
            switch spec.profile {
            case .heartRate:
                devices.append("  - { device: \"\(key)\", subject: \(index % 2 == 0 ? "alice" : "bob") }")
                simulated.append("  - { kind: heart_rate, name: \(spec.name), notify_every: 500ms }")
            case .bloodPressure:
                devices.append("  - { device: \"\(key)\", user: 1, subject: alice }")
                devices.append("  - { device: \"\(key)\", user: 2, subject: bob }")
                simulated.append(
                    "  - { kind: blood_pressure, name: \(spec.name), users: [1, 2], stored_readings: 6, measure_every: 700ms }"
                )
            case .glucose:
                devices.append("  - { device: \"\(key)\", subject: \(index % 2 == 0 ? "alice" : "bob") }")
                simulated.append("  - { kind: glucose, name: \(spec.name), stored_readings: 20, measure_every: 900ms }")
            default: Issue.record("the fleet has no \(spec.profile.id) device")
            }
        }
        return """
            data_directory: \(data)
            gateway: { id: gw-fleet, time_zone: Asia/Tokyo, notification_linger: 1s }
            api: { listen: "127.0.0.1:\(FHIRAPITests.freePort())", allow_loopback: true }
            devices:
            \(devices.joined(separator: "\n"))
            simulated_devices:
            \(simulated.joined(separator: "\n"))
            # A PHR that is never up: every reading may leave (simulated readings are test data), so the outbox is fed
            # while the daemon is killed, and must end with each reading queued exactly once.
            sync:
              - name: phr
                url: "http://127.0.0.1:\(FHIRAPITests.freePort())/fhir"
                test_data: true
                interval: 1s
                retry: { initial: 60s, maximum: 60s }
                share:
                  - { subjects: [alice, bob], metrics: ["*"], raw: true }
            """
    }

    @Test func fiftyDevicesKilledAtRandomInstantsLoseAndDuplicateNothing() async throws {
        let dir = try APIHarness.scratch("fleet-crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let specs = Self.fleet(50)
        let config = dir + "/gatewayd.yaml"
        try Self.configuration(data: dir + "/data", specs: specs).write(
            toFile: config, atomically: true, encoding: .utf8)
        let meters = specs.filter { $0.profile == .glucose }.map(SimulatedFleet.deviceKey)
        var generator = SystemRandomNumberGenerator()
        for round in 0...Self.rounds {
            try await DaemonCrashTests.run(
                config: config, for: .milliseconds(Int.random(in: 600...2_200, using: &generator)),
                then: round < Self.rounds ? SIGKILL : SIGTERM)
            try await DaemonCrashTests.checkInvariant(data: dir + "/data", final: round == Self.rounds)
            try Self.checkCursors(data: dir + "/data", meters: meters, round: round)
        }
        let verified = try await FHIRAPITests.run(["verify", "--dir", dir + "/data"])
        #expect(verified.status == 0 && verified.output.contains("intact"), "\(verified.output)")
        try await Self.checkOutbox(config: config, data: dir + "/data")
    }

    /// After the rounds (and one sync pass that feeds what the last run had not), the outbox holds every stored
    /// reading's Observations exactly once: kills mid-feed neither lost a reading's entry nor queued it twice.
    static func checkOutbox(config: String, data: String) async throws {
        let pass = try await FHIRAPITests.run(["sync", "--config", config, "--once"])
        #expect(pass.output.contains("phr:"), "\(pass.output)")
        let archive = try ReadingArchive(path: data + "/engine.sqlite")
        let gateway = DeviceMapper.phgDeviceID(GatewayRecord(id: "gw-fleet", softwareVersion: GatewayVersion.current))
        var expected: [String] = []
        for subject in ["alice", "bob"] {
            for reading in try archive.readings(subject: subject) {
                expected += ObservationMapper.observations(for: reading, gatewayDeviceID: gateway).map(\.reference)
            }
        }
        let queue = try DatabaseQueue(path: data + "/outbox.sqlite")
        let queued = try await queue.read { db in
            try String.fetchAll(
                db, sql: "SELECT resource_key FROM outbox_entry WHERE destination = 'phr' AND category = 'reading'")
        }
        #expect(!queued.isEmpty)
        #expect(queued.count == Set(queued).count, "\(queued.count - Set(queued).count) readings queued twice")
        #expect(
            Set(queued) == Set(expected),
            "\(Set(expected).subtracting(queued).count) stored readings missing from the outbox, \(Set(queued).subtracting(expected).count) queued that are not stored"
        )
    }

    /// A meter's cursor (the next record to ask for) is at most one past the highest record it has durably stored:
    /// never ahead, or a record the meter sent but the gateway lost would never be asked for again.
    static func checkCursors(data: String, meters: [String], round: Int) throws {
        let archive = try ReadingArchive(path: data + "/engine.sqlite")
        var highest: [String: UInt16] = [:]
        for subject in try archive.subjects() {
            for reading in try archive.readings(subject: subject, kind: .glucose) {
                if let sequence = reading.sequenceNumber {
                    highest[reading.device.key] = max(highest[reading.device.key] ?? 0, sequence)
                }
            }
        }
        for meter in meters {
            guard let next = try archive.recordCursor(deviceKey: meter) else { continue }
            let durable = highest[meter] ?? 0
            #expect(
                Int(next) <= Int(durable) + 1,
                "round \(round): meter \(meter) asks from record \(next), but only \(durable) is stored")
        }
    }
}
