import CBlueZ
import FHIR
import Foundation
import StreamEngine
import Testing

@testable import GatewayRuntime

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The real `gatewayd run` and `gatewayd demo` binaries: configuration in, FHIR out, systemd's notify protocol,
/// and a SIGTERM in the middle of ingest that loses nothing acknowledged.
@Suite(.serialized) struct DaemonTests {
    static let token = "daemon-test-token"

    /// A unix datagram socket standing in for systemd's $NOTIFY_SOCKET.
    final class NotifySocket: @unchecked Sendable {
        let fd: Int32
        let path: String

        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in bytes.enumerated() { raw[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard fd >= 0, bound == 0 else { throw APIHarness.HarnessError(description: "cannot bind \(path)") }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }

        private let lock = NSLock()
        private var received: [String] = []

        /// Reads what has arrived (call it often: like systemd, the test must keep the queue short — a unix datagram
        /// socket holds only about ten messages) and returns everything received so far.
        @discardableResult
        func messages() -> [String] {
            var buffer = [UInt8](repeating: 0, count: 4096)
            return lock.withLock {
                while true {
                    let count = recv(fd, &buffer, buffer.count, 0)
                    guard count > 0 else { return received }
                    received.append(String(decoding: buffer[0..<count], as: UTF8.self))
                }
            }
        }

        deinit { close(fd) }
    }

    /// Waits for the process to exit; after `seconds`, kills it (so a hang fails the test instead of stalling CI).
    static func waitForExit(_ process: Process, seconds: Double, notify: NotifySocket? = nil) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline {
            notify?.messages()
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        notify?.messages()
        guard process.isRunning else { return true }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
    }

    static func observationIDs(base: String) async throws -> Set<String> {
        var ids: Set<String> = []
        for subject in ["alice", "bob"] {
            let reply = try await FHIRAPITests.get(base + "/Observation?subject=\(subject)&_count=500", token: token)
            ids.formUnion(FHIRAPITests.entries(reply.json).compactMap { $0["id"] as? String })
        }
        return ids
    }

    /// `retention.raw_age` in `gatewayd run`: readings imported weeks ago go with what they left (rows, provenance,
    /// registry), the ledger records the retirement and `gatewayd verify` still passes; new readings stay.
    @Test func runAppliesRetentionToEverythingOldReadingsLeftAndTheLedgerStillVerifies() async throws {
        let dir = try APIHarness.scratch("retention")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = FHIRAPITests.readings()  // 2026-11-18 and 19: older than 10 days on the machines this runs on
        let cutoff = Int64((Date().timeIntervalSince1970 - 10 * 86_400) * 1_000_000)
        #expect(old.allSatisfy { $0.time.effectiveMicros < cutoff })
        try await APIHarness.importReadings(old, into: dir)
        let port = FHIRAPITests.freePort()
        let config = dir + "/gatewayd.yaml"
        let strap = SimulatedFleet.deviceKey(SimulatedDeviceSpec(profile: .heartRate, name: "strap", number: 1))
        try """
        data_directory: data
        gateway: { id: gw-retention, time_zone: Asia/Tokyo }
        subjects:
          alice: { time_zone: Asia/Tokyo }
        devices:
          - { device: "\(strap)", subject: alice }
        api:
          listen: 127.0.0.1:\(port)
          tokens:
            - { name: test, secret: \(Self.token), scopes: [system/*.read] }
        retention: { raw_age: 10d }
        simulated_devices:
          - { kind: heart_rate, name: strap, notify_every: 100ms }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = CrashRecoveryTests.gatewaydBinary
        process.arguments = ["run", "--config", config]
        FileManager.default.createFile(atPath: dir + "/stderr.log", contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/stderr.log"))
        try process.run()
        var log = ""
        for _ in 0..<300 where !log.contains("retention applied") {
            try await Task.sleep(nanoseconds: 100_000_000)
            log = (try? String(contentsOfFile: dir + "/stderr.log", encoding: .utf8)) ?? ""
        }
        #expect(log.contains("retention applied") && log.contains("\(old.count) readings in"), "\(log.suffix(3000))")
        try await Task.sleep(nanoseconds: 1_500_000_000)  // new notifications arrive after the pass
        process.terminate()
        #expect(await Self.waitForExit(process, seconds: 120))

        let archive = try ReadingArchive(path: dir + "/data/engine.sqlite")
        let kept = try archive.readings(subject: "alice")
        #expect(!kept.isEmpty && kept.allSatisfy { $0.time.effectiveMicros >= cutoff && $0.kind == .heartRate })
        #expect(try archive.readings(subject: "bob").isEmpty)
        #expect(try archive.devices(subjects: ["bob"]).isEmpty)
        let verify = try await FHIRAPITests.run(["verify", "--dir", dir + "/data"])
        #expect(
            verify.status == 0
                && verify.output.contains("\(old.count) readings of earlier entries were removed by retention"),
            "\(verify.output)")
    }

    @Test func runServesFromItsConfigurationTellsSystemdAndLosesNothingOnSIGTERM() async throws {
        let dir = try APIHarness.scratch("daemon")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = FHIRAPITests.freePort()
        let config = dir + "/gatewayd.yaml"
        let cuff = SimulatedFleet.deviceKey(SimulatedDeviceSpec(profile: .bloodPressure, name: "cuff", number: 1))
        let strap = SimulatedFleet.deviceKey(SimulatedDeviceSpec(profile: .heartRate, name: "strap", number: 2))
        try """
        data_directory: data
        gateway: { id: gw-daemon, signing_key_file: gateway.key, time_zone: Asia/Tokyo }
        subjects:
          alice: { time_zone: Asia/Tokyo }
        devices:
          - { device: "\(cuff)", user: 1, subject: alice }
          - { device: "\(strap)", subject: alice }
        api:
          listen: 127.0.0.1:\(port)
          tokens:
            - { name: test, secret: \(Self.token), scopes: [system/*.read] }
        simulated_devices:
          - { kind: blood_pressure, name: cuff, users: [1], stored_readings: 30, measure_every: 300ms }
          - { kind: heart_rate, name: strap, notify_every: 50ms }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let notify = try NotifySocket(path: dir + "/notify.sock")
        let process = Process()
        process.executableURL = CrashRecoveryTests.gatewaydBinary
        process.arguments = ["run", "--config", config]
        // As hw/gatewayd.service runs it: notify socket and a watchdog (here 2 s, so pings come every second).
        process.environment = ProcessInfo.processInfo.environment.merging([
            "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000",
        ]) { $1 }
        // A file, not a pipe: a daemon blocked on a full pipe could never stop.
        FileManager.default.createFile(atPath: dir + "/stderr.log", contents: nil)
        let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/stderr.log"))
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let base = "http://127.0.0.1:\(port)/fhir"
        var up = false
        for _ in 0..<150 where !up {
            notify.messages()
            up = (try? await FHIRAPITests.get(base + "/metadata", token: Self.token)) != nil
            if !up { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        #expect(up, "gatewayd run did not come up")
        // Readings flow; take a snapshot of what the API has served (every one of them was acknowledged).
        var served: Set<String> = []
        for _ in 0..<100 {
            notify.messages()
            served = try await Self.observationIDs(base: base)
            if served.count > 40 { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(served.count > 40)
        // Simulated devices measure nobody: their readings are test data (HTEST), and alice is a real person, so her
        // statistics leave them out and count them.
        let newest = try await FHIRAPITests.get(
            base + "/Observation?subject=alice&_sort=-date&_count=5", token: Self.token)
        for entry in FHIRAPITests.entries(newest.json) {
            #expect(
                Self.securityCodes(entry).contains("HTEST"), "a simulated reading is not labelled test data: \(entry)")
        }
        let stats = try await FHIRAPITests.get(
            base
                + "/Observation/$stats?subject=alice&code=http://loinc.org|8867-4&period=2000-01-01/2100-01-01&statistic=count",
            token: Self.token)
        let statistic = try #require(Self.statistics(stats.json).first, "\(stats.json)")
        #expect(Self.count(statistic) == 0 && Self.excluded(statistic) > 0, "\(statistic)")
        #expect(!Self.securityCodes(statistic).contains("HTEST"))
        let metrics = try await APIHarness.send("GET", "http://127.0.0.1:\(port)/metrics", token: Self.token)
        let metricsText = String(decoding: metrics.data, as: UTF8.self)
        #expect(
            metrics.status == 200 && metricsText.contains("gatewayd_readings_ingested_total"),
            "\(metricsText.prefix(400))")
        // The cuff reconnects for every measurement: after its first link, its table comes from the cache (its Database
        // Hash still matches) instead of a discovery.
        var reconnected = metricsText
        for _ in 0..<100 where !reconnected.contains("gatewayd_gatt_discoveries_total{source=\"cache\"}") {
            try await Task.sleep(nanoseconds: 100_000_000)
            notify.messages()
            reconnected = String(
                decoding: try await APIHarness.send("GET", "http://127.0.0.1:\(port)/metrics", token: Self.token).data,
                as: UTF8.self)
        }
        #expect(
            reconnected.contains("gatewayd_gatt_discoveries_total{source=\"cache\"}"), "\(reconnected.prefix(3000))")
        #expect(try await APIHarness.send("GET", "http://127.0.0.1:\(port)/metrics", token: nil).status == 401)

        process.terminate()  // SIGTERM, mid-ingest: the strap notifies every 50 ms
        let stopped = await Self.waitForExit(process, seconds: 120, notify: notify)
        let log = (try? String(contentsOfFile: dir + "/stderr.log", encoding: .utf8)) ?? ""
        #expect(stopped, "gatewayd run did not stop within 120 s of SIGTERM:\n\(log.suffix(3000))")
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(log.suffix(2000))")
        #expect(log.contains("every acknowledged reading is on disk"), "\(log.suffix(2000))")
        let messages = notify.messages()
        #expect(messages.contains { $0.hasPrefix("READY=1") }, "\(messages)")
        #expect(messages.contains("STOPPING=1"), "\(messages)")
        #expect(messages.contains("WATCHDOG=1"), "\(messages)")

        // Everything served before the stop is still there, stored, and the signed ledger verifies.
        let archive = try ReadingArchive(path: dir + "/data/engine.sqlite")
        let stored = Set(
            try archive.readings(subject: "alice").compactMap { reading in
                reading.identity.map { ResourceIDs.observation($0, of: reading) }
            })
        // A reading's own Observation: its identity, or (anchored on receipt) "t" + its time + identity digits.
        let servedReadings = served.filter {
            $0.count == 64 && (!$0.contains("-") || ResourceIDs.readingLocation(ofObservationID: $0) != nil)
        }
        #expect(
            !servedReadings.isEmpty && servedReadings.isSubset(of: stored),
            "\(servedReadings.subtracting(stored).count) served readings are gone")
        let verify = try await FHIRAPITests.run([
            "verify", "--dir", dir + "/data", "--public-key", dir + "/data/gateway.key.pub",
        ])
        #expect(verify.status == 0, "\(verify.output)")
    }

    @Test func aBadConfigurationIsRefusedWithTheKeyAndLine() async throws {
        let dir = try APIHarness.scratch("badconfig")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "data_directory: data\napi:\n  listen: 127.0.0.1:1\n  tokenz: []\n".write(
            toFile: dir + "/g.yaml", atomically: true, encoding: .utf8)
        let result = try await FHIRAPITests.run(["run", "--config", dir + "/g.yaml"])
        #expect(result.status != 0)
        #expect(result.output.contains("g.yaml:4") && result.output.contains("api.tokenz"), "\(result.output)")
    }

    @Test func demoStartsServesValidFHIRAndStopsCleanly() async throws {
        let dir = try APIHarness.scratch("demo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = FHIRAPITests.freePort()
        // Output is collected as it comes: a read blocking on the pipe would hold one of the few cooperative threads for
        // as long as the demo takes to print its guide, and starve every other test of this process meanwhile.
        let demo = try GatewaydProcess([
            "demo", "--listen", "127.0.0.1:\(port)", "--dir", dir + "/data", "--seconds", "60",
        ])
        let process = demo.process
        defer { if process.isRunning { process.terminate() } }
        // The guide names the token once the API is up and the first readings are in.
        _ = await demo.waitForOutput(timeout: .seconds(60)) { $0.contains("Stop with Ctrl-C") }
        var text = demo.stdout
        let token = try #require(
            text.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("demo-") }.map {
                String($0.prefix { $0 != "'" })
            },
            "\(text)")
        let base = "http://127.0.0.1:\(port)/fhir"
        #expect(text.contains("Provenance?target=Observation/"), "the guide has no real Observation id:\n\(text)")
        let out = dir + "/fhir"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let today = DateText.localDay(Date(), zone: TimeZone(identifier: "Asia/Tokyo") ?? .gmt)
        let urls = [
            "/Observation?subject=alice&_sort=-date&_count=20", "/Observation?subject=bob&_count=20", "/Device",
            "/Observation/$stats?subject=alice&code=http://loinc.org|8867-4&period=\(today)/\(today)&statistic=average,minimum,maximum,count&interval=PT1H",
            "/Observation/$lastn?subject=alice&max=2", "/metadata",
            "/Observation?subject=bob&code=http://loinc.org|8310-5&_count=10",
            "/Observation/$stats?subject=bob&code=http://loinc.org|8310-5&period=\(today)/\(today)&statistic=average,minimum,maximum,count",
            "/Observation?subject=alice&code=http://loinc.org|59408-5&_count=10",
            "/Observation?subject=bob&code=http://loinc.org|29463-7&_count=10",
            "/Observation?subject=alice&code=urn:iso:std:iso:11073:10101|160212&_count=10",
        ]
        for (index, path) in urls.enumerated() {
            let reply = try await APIHarness.send("GET", base + path, token: token)
            #expect(reply.status == 200, "\(path): \(String(decoding: reply.data, as: UTF8.self).prefix(300))")
            try reply.data.write(to: URL(fileURLWithPath: out + "/\(index).json"))
        }
        // The demo's people are test people: their statistics are made of the simulated (test) readings and say so,
        // as their Patients do.
        let stats =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/3.json")))
            as? [String: Any] ?? [:]
        let hours = Self.statistics(stats)
        #expect(!hours.isEmpty && hours.allSatisfy { Self.securityCodes($0).contains("HTEST") }, "\(stats)")
        #expect(hours.contains { Self.count($0) > 0 }, "\(stats)")
        let patient = try await FHIRAPITests.get(base + "/Patient/alice", token: token)
        #expect(Self.securityCodes(patient.json).contains("HTEST"), "\(patient.json)")
        let alice = try await FHIRAPITests.get(base + "/Observation?subject=alice&_count=500", token: token)
        let kinds = Set(
            FHIRAPITests.entries(alice.json).compactMap { ($0["code"] as? [String: Any])?["text"] as? String })
        #expect(
            kinds.contains("Heart rate") && kinds.contains { $0.lowercased().contains("blood pressure") }, "\(kinds)")
        // Bob's thermometer (a fourth profile, from its descriptor alone): its stored temperatures reached FHIR.
        let temperatures =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/6.json")))
            as? [String: Any] ?? [:]
        #expect(!FHIRAPITests.entries(temperatures).isEmpty, "\(temperatures)")
        // Alice's pulse oximeter (a fifth): its stored spot-checks reached FHIR.
        let saturations =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/8.json")))
            as? [String: Any] ?? [:]
        #expect(!FHIRAPITests.entries(saturations).isEmpty, "\(saturations)")
        // The scale's second user slot is bob's: his weighings reached FHIR, with the body composition beside them.
        let weights =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/9.json")))
            as? [String: Any] ?? [:]
        #expect(!FHIRAPITests.entries(weights).isEmpty, "\(weights)")
        // Alice's CGM: its stored records, on the session's timeline, reached FHIR as interstitial glucose.
        let interstitial =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/10.json")))
            as? [String: Any] ?? [:]
        #expect(FHIRAPITests.entries(interstitial).count >= 10, "\(interstitial)")
        if let python = FHIRValidator.python {
            // Waited for off the cooperative pool (the validator takes seconds).
            let (status, report) = await withCheckedContinuation {
                (continuation: CheckedContinuation<(Int32, String), Never>) in
                DispatchQueue.global().async {
                    let validator = Process()
                    validator.executableURL = URL(fileURLWithPath: python)
                    validator.arguments = [
                        FHIRValidator.packageRoot.appendingPathComponent("scripts/validate_fhir.py").path, out,
                    ]
                    let pipe = Pipe()
                    validator.standardOutput = pipe
                    validator.standardError = pipe
                    do { try validator.run() } catch {
                        continuation.resume(returning: (-1, "\(error)"))
                        return
                    }
                    let report = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    validator.waitUntilExit()
                    continuation.resume(returning: (validator.terminationStatus, report))
                }
            }
            #expect(status == 0, "\(report)")
        }
        // `gatewayd pair` while the daemon runs is a client of the daemon's pairing: the demo's new cuff in pairing
        // mode, its six digits accepted (--yes), its stored readings alice's.
        let configPath = try #require(
            text.range(of: "(its configuration: ").map { String(text[$0.upperBound...].prefix { $0 != ")" }) })
        let pair = try GatewaydProcess([
            "pair", "--config", configPath, "--address", "00:5D:E3:00:00:02", "--subject", "alice", "--yes",
        ])
        let paired = await pair.wait(timeout: .seconds(60))
        #expect(paired == 0, "\(pair.stdout)\n\(pair.stderr)")
        for line in [
            "The gateway is running: it pairs the device itself", "Does the device show", "Accepted (--yes).",
            "belongs to alice", "Done: BP-7 new is paired; 3 reading(s) downloaded.",
        ] {
            #expect(pair.stdout.contains(line), "\(line): \(pair.stdout)")
        }
        process.interrupt()  // Ctrl-C
        #expect(await Self.waitForExit(process, seconds: 60), "gatewayd demo did not stop within 60 s of SIGINT")
        // The last lines may reach the pipe's handler just after the exit.
        for _ in 0..<100 where !demo.stdout.contains("gatewayd demo stopped") {
            try? await Task.sleep(for: .milliseconds(50))
        }
        text = demo.stdout
        #expect(process.terminationStatus == 0)
        #expect(text.contains("gatewayd demo stopped"), "\(text.suffix(500))")
    }

    /// The codes of a resource's `meta.security` (HTEST: test data).
    static func securityCodes(_ resource: [String: Any]) -> [String] {
        ((resource["meta"] as? [String: Any])?["security"] as? [[String: Any]] ?? []).compactMap {
            $0["code"] as? String
        }
    }

    /// The statistics Observations of a `$stats` answer.
    static func statistics(_ parameters: [String: Any]) -> [[String: Any]] {
        (parameters["parameter"] as? [[String: Any]] ?? []).filter { $0["name"] as? String == "statistics" }
            .compactMap { $0["resource"] as? [String: Any] }
    }

    /// A statistics Observation's `count` component.
    static func count(_ statistic: [String: Any]) -> Int {
        (statistic["component"] as? [[String: Any]] ?? []).first { component in
            (((component["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String)
                == "count"
        }?["valueInteger"] as? Int ?? -1
    }

    /// How many readings a statistics Observation left out (its excluded-count extension).
    static func excluded(_ statistic: [String: Any]) -> Int {
        (statistic["extension"] as? [[String: Any]] ?? []).first?["valueInteger"] as? Int ?? -1
    }

    /// README's two commands are what CI runs.
    @Test func readmeTestCommandIsWhatCIRuns() throws {
        let root = FHIRValidator.packageRoot
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let ci = try String(contentsOf: root.appendingPathComponent(".ci/run"), encoding: .utf8)
        let block = try #require(
            readme.components(separatedBy: "## Two commands").dropFirst().first?.components(separatedBy: "```")
                .dropFirst().first)
        let commands = block.split(separator: "\n").map {
            $0.split(separator: "#").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        }.filter { !$0.isEmpty && $0 != "sh" }
        #expect(commands == ["scripts/demo", "scripts/test"], "\(commands)")
        // CI runs README's test command, which runs swift test with the FHIR validator, then the real-kernel test bed.
        let ciLines = ci.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty && !$0.hasPrefix("#")
        }
        #expect(ciLines.last == "scripts/test", "\(ciLines.suffix(2))")
        let test = try String(contentsOf: root.appendingPathComponent("scripts/test"), encoding: .utf8)
        #expect(FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("scripts/test").path))
        #expect(
            test.contains("swift test \"$@\"") && test.contains("hw/testbed/run-bluetooth-tests.sh")
                && test.contains("GATEWAYD_FHIR_VALIDATOR"))
        #expect(test.contains("PARTIAL RUN") && test.contains("exit 3"))
        // The format check runs first, with the committed configuration; the pages are tested in a real browser.
        #expect(test.contains("swift format lint --strict"))
        #expect(test.contains("Tests/Browser/pages_in_a_browser.py") && ci.contains("chromium-driver"))
        #expect(FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("scripts/demo").path))
        let demo = try String(contentsOf: root.appendingPathComponent("scripts/demo"), encoding: .utf8)
        #expect(
            demo.contains("gatewayd\" demo") || demo.contains("gatewayd demo"), "scripts/demo must run the demo gateway"
        )
    }
}
