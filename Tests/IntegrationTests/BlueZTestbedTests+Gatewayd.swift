import BLEGateway
import Foundation
import StreamEngine
import Testing

@testable import GatewayRuntime

/// The `gatewayd` command itself on the test bed: `gatewayd pair` (non-interactive and interactive) and the daemon
/// reconnecting the devices it paired.
extension BlueZTestbedTests {
    /// A data directory and configuration whose radio is the central controller.
    static func gatewaydConfiguration(_ label: String) throws -> (file: String, data: String, dir: String) {
        let dir = try APIHarness.scratch("bluez-cmd-" + label)
        let port = 18_000 + Int.random(in: 0..<2000)
        let text = """
            data_directory: \(dir)/data
            gateway: { id: gw-testbed }
            subjects:
              alice: {}
              bob: {}
            bluetooth:
              controller: hci\(BlueZTestbed.current?.centralIndex ?? 2)
              connect_timeout: 60s
              reconnect: { initial: 1s, maximum: 8s }
            api: { listen: "127.0.0.1:\(port)", allow_loopback: true }
            """
        try text.write(toFile: dir + "/gatewayd.yaml", atomically: true, encoding: .utf8)
        return (dir + "/gatewayd.yaml", dir + "/data", dir)
    }

    /// The peers' side of pairing: in the guest one kernel runs every controller, and without bluetoothd nobody
    /// answers the peripheral controllers' confirmation requests unless the test does (gatewayd answers only its own).
    static func peerAgents(_ testbed: BlueZTestbed, heard: PromptLog? = nil) async throws -> [PairingAgent] {
        var agents: [PairingAgent] = []
        for index in [UInt16(0), testbed.peripheralIndex] {
            let agent = PairingAgent(management: try BluetoothManagement.open(), index: index) { prompt in
                heard?.add(prompt)
                return await PairingAgent.justWorks(prompt)
            }
            await agent.startAnswering()
            agents.append(agent)
        }
        return agents
    }

    /// Keeps re-announcing a peripheral controller's advertisement (btvirt reports an advertisement to a scan only
    /// when it is switched on after the scan started) while it has no connection — a device that advertises after
    /// each measurement and stops once connected (re-enabling advertising mid-connection upsets btvirt's links).
    static func keepAdvertising(
        _ testbed: BlueZTestbed, service: UInt16, name: String, index: UInt16? = nil,
        ioCapability: IOCapability = .noInputNoOutput
    ) -> Task<Void, Never> {
        let index = index ?? testbed.peripheralIndex
        return Task {
            guard let management = try? BluetoothManagement.open() else { return }
            defer { management.close() }
            let links = Counter()
            let events = await management.events()
            let watcher = Task {
                for await packet in events where packet.index == index {
                    switch packet.event {
                    case .deviceConnected: _ = links.add(1)
                    case .deviceDisconnected: _ = links.add(-1)
                    default: break
                    }
                }
            }
            defer { watcher.cancel() }
            while !Task.isCancelled {
                if links.value == 0 {
                    try? await advertise(
                        testbed, service: service, name: name, instance: 4, index: index, ioCapability: ioCapability)
                }
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// What the peers' side was asked while pairing (the code a device with a display would show).
    final class PromptLog: @unchecked Sendable {
        private let lock = NSLock()
        private var prompts: [PairingPrompt] = []
        func add(_ prompt: PairingPrompt) { lock.withLock { prompts.append(prompt) } }
        var all: [PairingPrompt] { lock.withLock { prompts } }
    }

    /// Serves every connection on the peripheral controller until cancelled (a device that comes back).
    static func servePeripheralRepeatedly(
        _ testbed: BlueZTestbed, _ serve: @escaping @Sendable (any ATTBearer) async -> Void
    ) throws -> Task<Void, Never> {
        let listener = try L2CAPSocket.Listener(local: testbed.peripheral)
        return Task {
            await withTaskCancellationHandler {
                while !Task.isCancelled {
                    let accepted: (SeqPacketBearer, BluetoothAddress)? = await withCheckedContinuation { continuation in
                        Thread.detachNewThread { continuation.resume(returning: try? listener.accept()) }
                    }
                    guard let (bearer, _) = accepted else { return }
                    await serve(bearer)
                    bearer.close()
                }
            } onCancel: {
                listener.close()
            }
        }
    }

    static func stopAdvertising(index: UInt16) async throws {
        let management = try BluetoothManagement.open()
        defer { management.close() }
        try await management.removeAdvertising(instance: 0, index: index)  // 0: every instance
    }

    static func unpairAll(_ testbed: BlueZTestbed) async {
        guard let management = try? BluetoothManagement.open() else { return }
        defer { management.close() }
        for peer in [testbed.gattServer, testbed.peripheral] {
            try? await management.unpair(address: peer, type: .lePublic, index: testbed.centralIndex)
        }
    }

    @Test func gatewaydPairNonInteractivelyMapsATwoUserCuffAndKeepsItsKeys() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        await Self.unpairAll(testbed)
        let (config, data, dir) = try Self.gatewaydConfiguration("pair-cuff")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let agents = try await Self.peerAgents(testbed)
        defer { for agent in agents { agent.management.close() } }
        let cuff = SimulatedBloodPressureMonitor()
        await SimulatedReadings.fill(cuff, count: 4, users: [1, 2], end: Date(), spacing: 3600)
        let device = try Self.servePeripheralRepeatedly(testbed) { await cuff.serve($0) }
        defer { device.cancel() }
        try await Self.advertise(testbed, service: 0x1810, name: "BP-Cuff", instance: 4)
        let pair = try GatewaydProcess([
            "pair", "--config", config, "--address", "\(testbed.peripheral)", "--user", "1=alice", "--user", "2=bob",
            "--scan-seconds", "2",
        ])
        let status = await pair.wait(timeout: .seconds(240))
        Self.stage("gatewayd pair:\n\(pair.stdout)\n\(pair.stderr)")
        #expect(status == 0)
        #expect(pair.stdout.contains("Paired") && pair.stdout.contains("Connected:") && pair.stdout.contains("Done:"))
        #expect(await cuff.confirmedReadings.count == 4)
        // The keys: in the gateway's own store, readable by its owner only.
        let bonds = BluetoothSettings.bondsFile(data: data)
        let mode = try FileManager.default.attributesOfItem(atPath: bonds)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try String(contentsOfFile: bonds, encoding: .utf8).contains("\(testbed.peripheral)"))
        let paired = try PairedDevices(path: BluetoothSettings.pairedFile(data: data)).load()
        #expect(paired.map(\.address) == ["\(testbed.peripheral)"] && paired.first?.kind == "blood_pressure")
        // Each user slot's readings went to its person (none left in quarantine).
        let pipeline = try GatewayPipeline.open(directory: data, zone: .gmt)
        defer { pipeline.close() }
        let alice = try pipeline.archive.readings(subject: "alice", kind: .bloodPressure)
        let bob = try pipeline.archive.readings(subject: "bob", kind: .bloodPressure)
        #expect(alice.count == 2 && bob.count == 2, "alice \(alice.count), bob \(bob.count)")
        #expect(alice.allSatisfy { $0.context.userID == 1 } && bob.allSatisfy { $0.context.userID == 2 })
        #expect(try pipeline.archive.quarantineCount() == 0)
        pipeline.close()

        // Unpair: the kernel's and the gateway's keys go, the device leaves the list; its readings stay.
        let forget = try GatewaydProcess(["pair", "--config", config, "--forget", "\(testbed.peripheral)"])
        #expect(await forget.wait(timeout: .seconds(60)) == 0, "\(forget.stdout) \(forget.stderr)")
        #expect(forget.stdout.contains("Forgot \(testbed.peripheral)"))
        #expect(try !String(contentsOfFile: bonds, encoding: .utf8).contains("\(testbed.peripheral)"))
        #expect(try PairedDevices(path: BluetoothSettings.pairedFile(data: data)).load().isEmpty)
    }

    /// A cuff with a keypad: both sides type the same six digits (passkey entry), the gateway's from --passkey-file.
    /// A wrong code is refused with a message that says so, and nothing is recorded.
    @Test func gatewaydPairWithAPasskeyFromAFile() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        await Self.unpairAll(testbed)
        let (config, data, dir) = try Self.gatewaydConfiguration("pair-passkey")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keypad = PairingAgent(management: try BluetoothManagement.open(), index: testbed.peripheralIndex) {
            prompt in
            if case .passkeyEntry = prompt.request { return .passkey(123_456) }
            return await PairingAgent.justWorks(prompt)
        }
        await keypad.startAnswering()
        defer { keypad.management.close() }
        let cuff = SimulatedBloodPressureMonitor()
        await SimulatedReadings.fill(cuff, count: 1, users: [1], end: Date(), spacing: 3600)
        let device = try Self.servePeripheralRepeatedly(testbed) { await cuff.serve($0) }
        defer { device.cancel() }
        let passkey = dir + "/passkey"

        try "654321\n".write(toFile: passkey, atomically: true, encoding: .utf8)
        try await Self.advertise(testbed, service: 0x1810, name: "BP-Keypad", instance: 4, ioCapability: .keyboardOnly)
        let wrong = try GatewaydProcess([
            "pair", "--config", config, "--address", "\(testbed.peripheral)", "--subject", "alice", "--passkey-file",
            passkey, "--scan-seconds", "2",
        ])
        let wrongStatus = await wrong.wait(timeout: .seconds(180))
        Self.stage("gatewayd pair (wrong passkey):\n\(wrong.stdout)\n\(wrong.stderr)")
        #expect(wrongStatus != 0 && wrongStatus != nil)
        #expect(wrong.stderr.contains("was refused") && wrong.stderr.contains("wrong code"), "\(wrong.stderr)")
        #expect(try PairedDevices(path: BluetoothSettings.pairedFile(data: data)).load().isEmpty)

        try await Self.settle(testbed)
        try "123456\n".write(toFile: passkey, atomically: true, encoding: .utf8)
        try await Self.advertise(testbed, service: 0x1810, name: "BP-Keypad", instance: 4, ioCapability: .keyboardOnly)
        let right = try GatewaydProcess([
            "pair", "--config", config, "--address", "\(testbed.peripheral)", "--subject", "alice", "--passkey-file",
            passkey, "--scan-seconds", "2",
        ])
        let rightStatus = await right.wait(timeout: .seconds(180))
        Self.stage("gatewayd pair (right passkey):\n\(right.stdout)\n\(right.stderr)")
        #expect(rightStatus == 0)
        #expect(try PairedDevices(path: BluetoothSettings.pairedFile(data: data)).load().count == 1)
        // Passkey entry protects against a man in the middle: the kernel marks the key authenticated.
        let keys = try #require(
            await BondStore(path: BluetoothSettings.bondsFile(data: data)).bond(for: testbed.peripheral)
        ).longTermKeys
        #expect(
            !keys.isEmpty && keys.allSatisfy { $0.keyType == .authenticatedLegacy || $0.keyType == .authenticatedP256 },
            "\(keys.map(\.keyType))")
        #expect(await cuff.confirmedReadings.count == 1)
        // "--subject alice" for a cuff with user slots maps the slot it saw too: nothing is left held.
        let pipeline = try GatewayPipeline.open(directory: data, zone: .gmt)
        defer { pipeline.close() }
        #expect(try pipeline.archive.quarantineCount() == 0)
        #expect(try pipeline.archive.readings(subject: "alice", kind: .bloodPressure).count == 1)
    }

    /// Heart rate from gatewayd's own simulated strap over a real L2CAP link (the other peripheral is btgatt-server).
    @Test func heartRateFromOurSimulatedStrap() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        try await Self.advertise(testbed, service: 0x180D, name: "HR-Sim")
        let (pipeline, dir) = try Self.pipeline("hr-sim")
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        var configuration = SimulatedHeartRateStrap.Configuration()
        configuration.interval = .milliseconds(200)
        let strap = SimulatedHeartRateStrap(configuration: configuration)
        let device = try Self.servePeripheral(testbed) { await strap.serve($0) }
        let stored = try await Self.collect(pipeline, testbed: testbed, peer: testbed.peripheral) { $0 >= 5 }
        _ = try? await device.value
        #expect(stored >= 5)
        let readings = try pipeline.archive.quarantined().map(\.reading) + (try pipeline.archive.readings(subject: ""))
        #expect(readings.filter { $0.kind == .heartRate }.count >= 5)
    }
}

extension BlueZTestbedTests {
    /// A person pairs a glucose meter interactively (picks it from the live scan, says whose it is), and BlueZ's own
    /// heart-rate peripheral by address; then the daemon collects from both when they advertise: the meter drops
    /// the link mid-transfer, advertises again, and the rest comes from the durable RACP cursor, none twice.
    @Test func interactivePairingThenTheDaemonReconnectsAndResumes() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        await Self.unpairAll(testbed)
        let (config, data, dir) = try Self.gatewaydConfiguration("daemon")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let heard = PromptLog()
        let agents = try await Self.peerAgents(testbed, heard: heard)
        defer { for agent in agents { agent.management.close() } }
        var configuration = SimulatedGlucoseMeter.Configuration()
        configuration.disconnectAfterRecords = 3
        let meter = SimulatedGlucoseMeter(configuration: configuration)
        await SimulatedReadings.fill(meter, count: 2, end: Date().addingTimeInterval(-7200), spacing: 600)
        let device = try Self.servePeripheralRepeatedly(testbed) { await meter.serve($0) }
        defer { device.cancel() }

        // 1. Interactive: the live scan lists the meter (and btgatt-server's strap); the person types its number.
        let pair = try GatewaydProcess(["pair", "--config", config, "--scan-seconds", "8"])
        // The meter has a display and a yes/no button: LE Secure Connections numeric comparison.
        let advertising = Self.keepAdvertising(testbed, service: 0x1808, name: "GL-Meter", ioCapability: .displayYesNo)
        let listed = await pair.waitForOutput(timeout: .seconds(120)) { $0.contains("Which one is yours?") }
        advertising.cancel()
        Self.stage("gatewayd pair (scan):\n\(pair.stdout)")
        try #require(listed, "no device list: \(pair.stdout) \(pair.stderr)")
        let line = pair.stdout.split(separator: "\n").first { $0.contains(". GL-Meter") }
        let number = try #require(
            line.flatMap { $0.trimmingCharacters(in: .whitespaces).split(separator: ".").first }.map(String.init))
        try await Self.advertise(testbed, service: 0x1808, name: "GL-Meter", instance: 4, ioCapability: .displayYesNo)
        pair.send(number)
        // The person compares the six digits the gateway shows with the meter's display and says yes.
        let compared = await pair.waitForOutput(timeout: .seconds(120)) { $0.contains("Does the device show") }
        try #require(compared, "no numeric comparison: \(pair.stdout) \(pair.stderr)")
        let shown = heard.all.compactMap { prompt -> String? in
            if case .confirmation(let value, false) = prompt.request { return PairingPrompt.sixDigits(value) }
            return nil
        }
        #expect(
            shown.count == 1 && pair.stdout.contains("Does the device show \(shown.first ?? "?")?"),
            "meter showed \(shown)")
        pair.send("y")
        let asked = await pair.waitForOutput(timeout: .seconds(120)) { $0.contains("Whose readings") }
        try #require(asked, "never asked whose: \(pair.stdout) \(pair.stderr)")
        pair.send("1")  // alice, first in the list
        let status = await pair.wait(timeout: .seconds(120))
        Self.stage("gatewayd pair:\n\(pair.stdout)\n\(pair.stderr)")
        #expect(status == 0)
        #expect(pair.stdout.contains("It holds 2 stored reading(s)") && pair.stdout.contains("belongs to alice"))

        // 2. BlueZ's heart-rate peripheral, by address (a peer this project did not write).
        try await Self.settle(testbed)
        let strapAdvertising = Self.keepAdvertising(testbed, service: 0x180D, name: "btgatt-server", index: 0)
        let strap = try GatewaydProcess([
            "pair", "--config", config, "--address", "\(testbed.gattServer)", "--subject", "alice", "--scan-seconds",
            "2",
        ])
        let strapStatus = await strap.wait(timeout: .seconds(180))
        strapAdvertising.cancel()
        Self.stage("gatewayd pair (btgatt-server):\n\(strap.stdout)\n\(strap.stderr)")
        #expect(strapStatus == 0)
        #expect(try PairedDevices(path: BluetoothSettings.pairedFile(data: data)).load().count == 2)

        // 3. The daemon: six new meter records; the meter drops the link after three, advertises again, the rest follow.
        //    Then the strap. One at a time: btvirt's central cannot hold a second LE link (a real controller can).
        try await Self.settle(testbed)
        try await Self.stopAdvertising(index: 0)
        await SimulatedReadings.fill(meter, count: 6, end: Date(), spacing: 600)
        let daemon = try GatewaydProcess(["run", "--config", config, "--log-level", "info"])
        let meterAdvertising = Self.keepAdvertising(testbed, service: 0x1808, name: "GL-Meter")
        let gotGlucose = await daemon.waitForStderr(timeout: .seconds(240)) {
            Self.count($0, "kind=glucose", "outcome=stored") >= 6
        }
        meterAdvertising.cancel()
        try await Task.sleep(for: .seconds(1))
        try await Self.stopAdvertising(index: testbed.peripheralIndex)  // the meter is done: it goes quiet
        try await Task.sleep(for: .seconds(3))
        let strapAdvertising2 = Self.keepAdvertising(testbed, service: 0x180D, name: "btgatt-server", index: 0)
        let gotHeartRate = await daemon.waitForStderr(timeout: .seconds(180)) {
            Self.count($0, "kind=heart_rate", "outcome=stored") >= 3
        }
        strapAdvertising2.cancel()
        daemon.process.terminate()  // SIGTERM
        let stopped = await daemon.wait(timeout: .seconds(90))
        Self.stage(
            "gatewayd run: \(Self.count(daemon.stderr, "kind=glucose", "outcome=stored")) glucose, \(Self.count(daemon.stderr, "kind=heart_rate", "outcome=stored")) heart-rate readings stored; connections:\n"
                + daemon.stderr.split(separator: "\n").filter {
                    $0.contains("connect") || $0.contains("device done") || $0.contains("warning")
                }.joined(separator: "\n"))
        #expect(gotGlucose, "the daemon did not collect the meter's 6 new records")
        #expect(gotHeartRate, "the daemon did not collect 3 heart-rate readings from btgatt-server")
        #expect(stopped == 0)
        #expect(
            Self.count(daemon.stderr, "connected", "\(testbed.peripheral)") >= 2,
            "the meter was not reconnected after it dropped the link")
        let pipeline = try GatewayPipeline.open(directory: data, zone: .gmt)
        defer { pipeline.close() }
        let glucose = try pipeline.archive.readings(subject: "alice", kind: .glucose)
        #expect(glucose.count == 8, "\(glucose.count) glucose readings for alice")
        #expect(Set(glucose.compactMap(\.sequenceNumber)).count == 8, "a record stored twice")
        #expect(try pipeline.archive.readings(subject: "alice", kind: .heartRate).count >= 3)
    }

    static func count(_ log: String, _ needles: String...) -> Int {
        log.split(separator: "\n").filter { line in needles.allSatisfy { line.contains($0) } }.count
    }
}

extension BlueZTestbedTests {
    /// Pairing while the service runs: `gatewayd run` holds the radio and the store, so `gatewayd pair` asks the
    /// daemon to pair (its page's pairing) over loopback; the daemon pairs through the kernel, downloads, maps, and
    /// then collects the cuff's next measurement without a restart.
    @Test func theDaemonPairsWhileItRunsWithGatewaydPairAsItsClient() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        await Self.unpairAll(testbed)
        let (config, data, dir) = try Self.gatewaydConfiguration("daemon-pairs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let agents = try await Self.peerAgents(testbed)
        defer { for agent in agents { agent.management.close() } }
        let cuff = SimulatedBloodPressureMonitor()
        await SimulatedReadings.fill(cuff, count: 2, users: [1], end: Date(), spacing: 3600)
        let device = try Self.servePeripheralRepeatedly(testbed) { await cuff.serve($0) }
        defer { device.cancel() }
        let daemon = try GatewaydProcess(["run", "--config", config, "--log-level", "info"])
        defer { if daemon.process.isRunning { daemon.process.terminate() } }
        let listening = await daemon.waitForStderr(timeout: .seconds(60)) {
            $0.contains("waiting for paired devices to advertise")
        }
        try #require(listening, "the daemon did not start: \(daemon.stderr)")
        try await Self.advertise(testbed, service: 0x1810, name: "BP-Cuff", instance: 4)
        let pair = try GatewaydProcess([
            "pair", "--config", config, "--address", "\(testbed.peripheral)", "--subject", "alice", "--scan-seconds",
            "3",
        ])
        let status = await pair.wait(timeout: .seconds(240))
        Self.stage("gatewayd pair (client of the daemon):\n\(pair.stdout)\n\(pair.stderr)")
        #expect(status == 0)
        #expect(pair.stdout.contains("The gateway is running: it pairs the device itself"))
        #expect(pair.stdout.contains("Paired") && pair.stdout.contains("Done:") && pair.stdout.contains("alice"))
        #expect(await cuff.confirmedReadings.count == 2)
        #expect(try PairedDevices(path: BluetoothSettings.pairedFile(data: data)).load().count == 1)

        // The next measurement: the daemon knows the cuff now and collects it when it advertises.
        try await Self.settle(testbed)
        await SimulatedReadings.fill(cuff, count: 1, users: [1], end: Date(), spacing: 60)
        let advertising = Self.keepAdvertising(testbed, service: 0x1810, name: "BP-Cuff")
        let collected = await daemon.waitForStderr(timeout: .seconds(120)) {
            Self.count($0, "kind=blood_pressure", "outcome=stored") >= 1
        }
        advertising.cancel()
        daemon.process.terminate()
        let stopped = await daemon.wait(timeout: .seconds(90))
        Self.stage(
            "gatewayd run:\n"
                + daemon.stderr.split(separator: "\n").filter {
                    $0.contains("pair") || $0.contains("connect") || $0.contains("warning")
                }.joined(separator: "\n"))
        #expect(collected, "the daemon did not collect the newly paired cuff's next measurement")
        #expect(stopped == 0)
        #expect(daemon.stderr.contains("device paired"))
        let pipeline = try GatewayPipeline.open(directory: data, zone: .gmt)
        defer { pipeline.close() }
        #expect(try pipeline.archive.readings(subject: "alice", kind: .bloodPressure).count == 3)
        #expect(try pipeline.archive.quarantineCount() == 0)
    }
}

extension PairingAgent {
    /// (The test bed's peers) answers from now on in a task of its own, which ends when the agent's management socket
    /// closes or the task is cancelled; the gateway's own agents are child tasks of the radio's owner instead.
    @discardableResult
    func startAnswering() async -> Task<Void, Never> {
        let events = await management.events()
        return Task { await self.run(events) }
    }
}
