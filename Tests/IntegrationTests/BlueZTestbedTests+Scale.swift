import BLEGateway
import Foundation
import Provenance
import StreamEngine
import Testing

@testable import GatewayRuntime

/// A family scale (Weight Scale with the User Data Service) on the test bed: `gatewayd pair --new-user` registers a
/// user on the scale for a person, and the daemon consents as that user whenever it collects.
extension BlueZTestbedTests {
    @Test func gatewaydPairRegistersAUserOnAFamilyScaleAndTheDaemonConsentsAsIt() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        await Self.unpairAll(testbed)
        let (config, data, dir) = try Self.gatewaydConfiguration("pair-scale")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let agents = try await Self.peerAgents(testbed)
        defer { for agent in agents { agent.management.close() } }
        // Someone registered on the scale with its maker's app (slot 1) weighed last; the gateway has no code for them.
        var settings = SimulatedScale.Configuration()
        settings.usesUserData = true
        settings.consentCodes = [1: 1001]
        let scale = SimulatedScale(configuration: settings)
        await scale.measure(user: 1, weightSteps: 15_700, bodyFatTenths: 230, heightMillimetres: 1750)
        let device = try Self.servePeripheralRepeatedly(testbed) { await scale.serve($0) }
        defer { device.cancel() }
        try await Self.advertise(testbed, service: 0x181D, name: "Scale", instance: 4)

        // 1. Pairing registers a new user for alice; her code is kept, readable by the gateway's owner only.
        let pair = try GatewaydProcess([
            "pair", "--config", config, "--address", "\(testbed.peripheral)", "--new-user", "alice", "--scan-seconds",
            "2",
        ])
        let status = await pair.wait(timeout: .seconds(240))
        Self.stage("gatewayd pair (scale):\n\(pair.stdout)\n\(pair.stderr)")
        #expect(status == 0)
        #expect(pair.stdout.contains("The device registered user 2 for this gateway."))
        #expect(pair.stdout.contains("User 2 belongs to alice"))
        let path = BluetoothSettings.pairedFile(data: data)
        let paired = try PairedDevices(path: path).load()
        let code = try #require(paired.first?.userConsents[2])
        #expect(await scale.consentCodes == [1: 1001, 2: code])
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        #expect(await scale.stored.map(\.weight.userID) == [1], "slot 1's weighing is not the gateway's to take")

        // 2. Alice weighs twice; the daemon consents with her code and collects both, to her; slot 1's weighing stays.
        try await Self.settle(testbed)
        await scale.measure(
            user: 2, weightSteps: 12_460, bodyFatTenths: 251, heightMillimetres: 1600, at: Date() - 120)
        await scale.measure(user: 2, weightSteps: 12_440, bodyFatTenths: 250, heightMillimetres: 1600, at: Date() - 60)
        let daemon = try GatewaydProcess(["run", "--config", config, "--log-level", "info"])
        let advertising = Self.keepAdvertising(testbed, service: 0x181D, name: "Scale")
        // A weighing is done when its body composition (its last indication) is stored and the scale has let go: stopping
        // the daemon at the second weight would cut the second composition off (the scale keeps it for next time).
        let got = await daemon.waitForStderr(timeout: .seconds(240)) {
            Self.count($0, "kind=body_composition", "outcome=stored") >= 2 && Self.count($0, "device done") >= 1
        }
        advertising.cancel()
        daemon.process.terminate()
        let stopped = await daemon.wait(timeout: .seconds(90))
        Self.stage(
            "gatewayd run (scale): "
                + daemon.stderr.split(separator: "\n").filter {
                    $0.contains("connect") || $0.contains("device done") || $0.contains("warning")
                        || $0.contains("outcome=")
                }.joined(separator: "\n"))
        #expect(got, "the daemon did not collect alice's 2 weighings")
        #expect(stopped == 0)
        let pipeline = try GatewayPipeline.open(directory: data, zone: .gmt)
        defer { pipeline.close() }
        let weights = try pipeline.archive.readings(subject: "alice", kind: .bodyWeight)
        #expect(weights.count == 2 && weights.allSatisfy { $0.context.userID == 2 }, "\(weights.count) for alice")
        #expect(try pipeline.archive.readings(subject: "alice", kind: .bodyComposition).count == 2)
        #expect(try pipeline.archive.quarantineCount() == 0)
        // Slot 1's weighing stays on the scale: it was never the gateway's to take; alice's were confirmed, all of them.
        let left = await scale.stored.map(\.weight)
        #expect(left.map(\.userID) == [1], "\(left)")
        #expect(try pipeline.archive.readings(subject: "alice").allSatisfy { $0.context.userID == 2 })
    }
}

extension BlueZTestbedTests {
    /// The profiles added after the first three, each from its simulated device over a real L2CAP link through the
    /// kernel: discovery, the profile's session (indications, notifications, the CGM's RACP by time offset) and the
    /// readings durable in the store.
    @Test(arguments: [
        (HealthProfile.healthThermometer, ReadingKind.bodyTemperature),
        (.pulseOximeter, .oxygenSaturation),
        (.bodyComposition, .bodyComposition),
        (.continuousGlucose, .glucose),
    ])
    func aNewProfileOverARealLink(profile: HealthProfile, kind: ReadingKind) async throws {
        let testbed = try #require(BlueZTestbed.current)
        let recipe = try #require(profile.simulator)
        try await Self.settle(testbed)
        try await Self.advertise(testbed, service: profile.service.shortValue ?? 0, name: recipe.model)
        let (pipeline, dir) = try Self.pipeline("profile-" + profile.id)
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        var settings = SimulatorSettings()
        settings.interval = .milliseconds(200)
        let device = recipe.make(settings)
        await device.measure(count: 3, users: [1], seed: 11, end: nil, spacing: recipe.recordSpacing)
        let serving = try Self.servePeripheral(testbed) { await device.serve($0) }
        let stored = try await Self.collect(pipeline, testbed: testbed, peer: testbed.peripheral) { $0 >= 3 }
        _ = try? await serving.value
        let readings = try pipeline.archive.quarantined().map(\.reading)
        Self.stage("\(profile.id): \(stored) readings, kinds \(Set(readings.map(\.kind.rawValue)).sorted())")
        #expect(stored >= 3 && readings.contains { $0.kind == kind }, "\(profile.id): \(readings.map(\.kind))")
    }
}
