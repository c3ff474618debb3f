import FHIR
import Foundation
import Provenance
import StreamEngine
import Testing

@testable import GatewayRuntime

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// PHR sync between two real gatewayd processes on loopback: a home gateway (`gatewayd sync --config`) and a
/// care-facility hub (`gatewayd serve --config` with api.hub) as its upstream.
@Suite(.serialized) struct SyncTests {
    static let uploadToken = "home-upload-secret"
    static let readToken = "hub-reader-secret"

    static func reading(_ kind: ReadingKind, _ subject: String, atHour hours: Int64, value: Int64) -> Reading {
        switch kind {
        case .bloodPressure:
            return FHIRAPITests.bp(
                subject, user: subject == "alice" ? 1 : 2, atHour: hours,
                systolic: DecimalQuantity(mantissa: value, exponent: 0), diastolic: 80)
        default:
            var device = DeviceRecord(link: "test-\(kind.rawValue)")
            device.systemID = kind == .glucose ? "00-1B-C5-00-00-00-07-01" : "00-1B-C5-00-00-00-09-01"
            let micros = (FHIRAPITests.day1 + hours * 3600) * 1_000_000
            let time = TimeProvenance(
                deviceTimestamp: nil, receivedMicros: micros, clock: nil, clockOffsetMicros: nil, decision: .kept,
                effectiveMicros: micros,
                localOffsetSeconds: 32_400, syncMethod: "none")
            let component =
                kind == .glucose
                ? ReadingComponent(
                    metric: .glucose, value: .quantity(DecimalQuantity(mantissa: value, exponent: -5)), unit: "kg/L")
                : ReadingComponent(
                    metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: value, exponent: 0)), unit: "/min")
            return Reading(
                kind: kind, components: [component], subject: subject, device: device,
                gateway: GatewayRecord(id: "gw-home", softwareVersion: "test"), context: MeasurementContext(),
                time: time, flags: [],
                characteristic: kind == .glucose ? "0x2A18" : "0x2A37",
                rawPayloads: [[UInt8(truncatingIfNeeded: hours), UInt8(truncatingIfNeeded: value)]])
        }
    }

    /// A simulated day of alice's and bob's readings: BP morning and evening, HR every two hours, glucose at meals.
    static func day() -> [Reading] {
        var readings: [Reading] = []
        for hour in stride(from: Int64(0), to: 24, by: 2) {
            readings.append(reading(.heartRate, "alice", atHour: hour, value: 60 + hour))
        }
        for (hour, value) in [(Int64(7), Int64(128)), (21, 131)] {
            readings.append(reading(.bloodPressure, "alice", atHour: hour, value: value))
        }
        for (hour, value) in [(Int64(8), Int64(95)), (13, Int64(140))] {
            readings.append(reading(.glucose, "alice", atHour: hour, value: value))
        }
        readings.append(reading(.bloodPressure, "bob", atHour: 9, value: 118))
        return readings
    }

    struct Setup {
        var dir: String
        var hubPort: Int
        var homeConfig: String
        var hubConfig: String
    }

    static func setup() throws -> Setup {
        let dir = try APIHarness.scratch("sync")
        let port = FHIRAPITests.freePort()
        let hubConfig = dir + "/hub.yaml"
        try """
        # the care-facility hub
        data_directory: hub-data
        gateway: { id: hub-1, time_zone: Asia/Tokyo }
        api:
          listen: 127.0.0.1:\(port)
          hub: true
          tokens:
            - name: home
              secret: \(uploadToken)
              scopes: [system/*.write]
            - name: nurse
              secret: { env: GATEWAYD_TEST_READER }
              scopes: system/*.read
        """.write(toFile: hubConfig, atomically: true, encoding: .utf8)
        let homeConfig = dir + "/home.yaml"
        try """
        data_directory: data
        gateway: { id: gw-home, time_zone: Asia/Tokyo }
        subjects:
          alice: { time_zone: Asia/Tokyo }
          bob: { time_zone: Asia/Tokyo }
        sync:
          - name: hub
            url: http://127.0.0.1:\(port)/fhir
            token: { file: upload.token }
            retry: { initial: 100ms, maximum: 300ms }
            share:
              - subjects: [alice]
                metrics: [blood_pressure, heart_rate]
                raw: true
        """.write(toFile: homeConfig, atomically: true, encoding: .utf8)
        try (uploadToken + "\n").write(toFile: dir + "/upload.token", atomically: true, encoding: .utf8)
        return Setup(dir: dir, hubPort: port, homeConfig: homeConfig, hubConfig: hubConfig)
    }

    static func startHub(_ setup: Setup) async throws -> Process {
        let process = Process()
        process.executableURL = CrashRecoveryTests.gatewaydBinary
        process.arguments = ["serve", "--config", setup.hubConfig]
        process.environment = ProcessInfo.processInfo.environment.merging(["GATEWAYD_TEST_READER": readToken]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if (try? await FHIRAPITests.get("http://127.0.0.1:\(setup.hubPort)/fhir/metadata", token: readToken)) != nil
            {
                return process
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        process.terminate()
        throw APIHarness.HarnessError(description: "the hub did not come up")
    }

    /// Every Observation the hub holds for `subject` (one page of up to 500).
    static func hubObservations(_ setup: Setup, subject: String) async throws -> [[String: Any]] {
        let reply = try await FHIRAPITests.get(
            "http://127.0.0.1:\(setup.hubPort)/fhir/Observation?subject=\(subject)&_count=500", token: readToken)
        #expect(reply.status == 200, "\(reply.json)")
        return FHIRAPITests.entries(reply.json)
    }

    static func sync(_ setup: Setup) async throws -> String {
        let result = try await FHIRAPITests.run(["sync", "--config", setup.homeConfig, "--once"])
        #expect(result.status == 0, "\(result.output)")
        return result.output
    }

    @Test func upstreamDownForADayThenBackLosesAndDuplicatesNothingAndRespectsConsent() async throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        try await APIHarness.importReadings(Self.day(), into: setup.dir)

        // The hub is down: every attempt fails, nothing is lost, the status shows what waits.
        for _ in 0..<3 {
            #expect(try await Self.sync(setup).contains("hub: failed: unreachable"))
            try await Task.sleep(nanoseconds: 350_000_000)
        }
        let waiting = try await FHIRAPITests.run(["status", "--config", setup.homeConfig])
        #expect(waiting.output.contains("hub"), "\(waiting.output)")

        let hub = try await Self.startHub(setup)
        defer {
            hub.terminate()
            hub.waitUntilExit()
        }
        try await Task.sleep(nanoseconds: 350_000_000)
        #expect(try await Self.sync(setup).contains("hub: sent"))

        let alice = try await Self.hubObservations(setup, subject: "alice")
        let identifiers = alice.compactMap { (($0["identifier"] as? [[String: Any]])?.first?["value"]) as? String }
        #expect(identifiers.count == alice.count)
        #expect(Set(identifiers).count == identifiers.count, "an Observation arrived twice")
        // Every consented raw reading is there once: 12 heart rates and 2 blood pressures of alice.
        let home = try APIHarness.localReadings(dataDirectory: setup.dir + "/data", subject: "alice")
        let consented = home.filter { $0.kind == .bloodPressure || $0.kind == .heartRate }
        for reading in consented {
            #expect(
                identifiers.contains(reading.identity?.hex ?? "?"),
                "reading \(reading.kind) at \(reading.time.effectiveMicros) missing upstream")
        }
        // Consent: no glucose, raw or summarised, and nothing of bob.
        let codes = alice.flatMap { (($0["code"] as? [String: Any])?["coding"] as? [[String: Any]]) ?? [] }.compactMap {
            $0["code"] as? String
        }
        #expect(
            !codes.contains("15074-8") && !codes.contains("2339-0") && !codes.contains("160184"),
            "glucose left without consent: \(codes)")
        #expect(try await Self.hubObservations(setup, subject: "bob").isEmpty)
        // Summaries arrived: hourly and daily statistics of alice's series.
        let summaries = alice.filter {
            (($0["identifier"] as? [[String: Any]])?.first?["system"] as? String) == "urn:gatewayd:summary"
        }
        #expect(!summaries.isEmpty)

        // Every batch's part for alice came with its Provenance: its targets are Observations the hub holds, and it
        // names its ledger entry.
        let received = try ReceivedResources(path: setup.dir + "/hub-data/hub.sqlite")
        let provenances = try received.resources(type: "Provenance", subjects: [""])
        #expect(!provenances.isEmpty)
        for provenance in provenances {
            let targets = (provenance.resource.json["target"]?.arrayValue ?? []).compactMap {
                $0["reference"]?.stringValue
            }
            #expect(!targets.isEmpty)
            for target in targets {
                #expect(
                    try received.resource(type: "Observation", id: String(target.dropFirst("Observation/".count)))
                        != nil, "\(target)")
            }
            #expect("\(provenance.resource.json)".contains(ProvenanceMapper.ledgerEntryExtension))
        }

        // Nothing new: a second pass sends nothing and the hub holds the same.
        #expect(try await Self.sync(setup).contains("hub: nothing to send"))
        #expect(try await Self.hubObservations(setup, subject: "alice").count == alice.count)

        // A late blood pressure in the 07:00 hour revises that hour's and the day's summaries: updated upstream, not added.
        try await APIHarness.importReadings(
            [Self.reading(.bloodPressure, "alice", atHour: 7, value: 140)], into: setup.dir)
        #expect(try await Self.sync(setup).contains("hub: sent"))
        let after = try await Self.hubObservations(setup, subject: "alice")
        let summariesAfter = after.filter {
            (($0["identifier"] as? [[String: Any]])?.first?["system"] as? String) == "urn:gatewayd:summary"
        }
        #expect(summariesAfter.count == summaries.count, "a revised summary was added instead of updated")
        #expect(after.count == alice.count + 1, "exactly the one new reading's Observation is new")
        let revised = summariesAfter.filter { (($0["meta"] as? [String: Any])?["versionId"] as? String) == "2" }
        #expect(revised.count >= 2, "the hour's and the day's systolic summaries should be at version 2")
    }
}

extension SyncTests {
    /// The demo's device mix (a cuff in sync, one 10 minutes fast, one reset to 2000, a meter, a strap; two people), a
    /// day's outage (its retries shortened), then the sender killed with SIGKILL while it uploads in small transactions:
    /// every entry arrives exactly once, nothing is refused, and every reference resolves on the hub.
    @Test func aSenderKilledWhileUploadingAfterAnOutageLosesDuplicatesAndDanglesNothing() async throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        let homeText = try String(contentsOfFile: setup.homeConfig, encoding: .utf8)
            .replacingOccurrences(of: "metrics: [blood_pressure, heart_rate]", with: "metrics: \"*\"")
            .replacingOccurrences(
                of: "retry: { initial: 100ms, maximum: 300ms }",
                with: "retry: { initial: 100ms, maximum: 300ms }\n    batch_size: 3\n    interval: 50ms")
        try homeText.write(toFile: setup.homeConfig, atomically: true, encoding: .utf8)
        let readings = FHIRValidationTests.readings()
        try await APIHarness.importReadings(readings, into: setup.dir)
        for _ in 0..<3 {
            #expect(try await Self.sync(setup).contains("hub: failed: unreachable"))
            try await Task.sleep(nanoseconds: 350_000_000)
        }
        let hub = try await Self.startHub(setup)
        defer {
            hub.terminate()
            hub.waitUntilExit()
        }
        let received = try ReceivedResources(path: setup.dir + "/hub-data/hub.sqlite")
        // The sender's own loop, killed the moment the hub holds something of it (a transaction done, the next one
        // under way), then again after a second start: the last two passes finish the job.
        for _ in 0..<2 {
            let sender = Process()
            sender.executableURL = CrashRecoveryTests.gatewaydBinary
            sender.arguments = ["sync", "--config", setup.homeConfig]
            sender.standardOutput = FileHandle.nullDevice
            sender.standardError = FileHandle.nullDevice
            let before = try received.counts()["Observation"] ?? 0
            try sender.run()
            for _ in 0..<400 where (try received.counts()["Observation"] ?? 0) == before {
                try await Task.sleep(nanoseconds: 5_000_000)
            }
            kill(sender.processIdentifier, SIGKILL)
            await ChildProcess.exit(of: sender)
        }
        var finished = false
        for _ in 0..<40 where !finished {
            finished = try await Self.sync(setup).contains("hub: nothing to send")
        }
        #expect(finished)

        // Exactly the Observations the home maps its consented readings to — alice's, every kind — once each.
        let gateway = GatewayRecord(id: "gw-home", softwareVersion: GatewayVersion.current)
        let home = try APIHarness.localReadings(dataDirectory: setup.dir + "/data", subject: "alice")
        #expect(home.count == readings.filter { $0.subject == "alice" }.count)
        // Test data (the meter's control-solution check) stays home: this destination does not take it.
        let (testData, shared) = (
            home.filter { $0.flags.contains(.testData) }, home.filter { !$0.flags.contains(.testData) }
        )
        let expected = Set(
            shared.flatMap {
                ObservationMapper.observations(for: $0, gatewayDeviceID: DeviceMapper.phgDeviceID(gateway))
            }.map(\.id))
        let withheld = Set(
            testData.flatMap {
                ObservationMapper.observations(for: $0, gatewayDeviceID: DeviceMapper.phgDeviceID(gateway))
            }.map(\.id))
        let alice = try await Self.hubObservations(setup, subject: "alice")
        let readingsUpstream = alice.filter {
            (($0["identifier"] as? [[String: Any]])?.first?["system"] as? String) != "urn:gatewayd:summary"
        }
        let ids = readingsUpstream.compactMap { $0["id"] as? String }
        #expect(ids.count == Set(ids).count, "an Observation arrived twice")
        let deviceSubject = Set(try received.resources(type: "Observation", subjects: [""]).map(\.resource.id))
        #expect(
            Set(ids).union(deviceSubject) == expected,
            "missing: \(expected.subtracting(ids).subtracting(deviceSubject)); extra: \(Set(ids).subtracting(expected))"
        )
        #expect(
            !testData.isEmpty && Set(ids).isDisjoint(with: withheld.subtracting(expected)), "test data left for the hub"
        )
        #expect(try await Self.hubObservations(setup, subject: "bob").isEmpty)

        // Every reference of everything the hub holds resolves to a resource it holds.
        for type in ["Observation", "Device", "Provenance", "Patient"] {
            for stored in try received.resources(type: type, subjects: ["", "alice"]) {
                for reference in FHIRReferences.all(in: stored.resource.json) {
                    let parts = reference.split(separator: "/").map(String.init)
                    let target = parts.count == 2 ? try received.resource(type: parts[0], id: parts[1]) : nil
                    #expect(target != nil, "\(type)/\(stored.resource.id) -> \(reference)")
                }
            }
        }
        let outbox = try Outbox(path: setup.dir + "/data/outbox.sqlite").report(destination: "hub")
        #expect(outbox.pending == 0 && outbox.failed == 0, "\(outbox)")
    }
}

extension APIHarness {
    /// The readings a data directory's archive holds for a subject.
    static func localReadings(dataDirectory: String, subject: String) throws -> [Reading] {
        try ReadingArchive(path: dataDirectory + "/engine.sqlite").readings(subject: subject)
    }
}
