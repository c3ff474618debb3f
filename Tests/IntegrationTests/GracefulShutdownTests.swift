import BLEGateway
import Foundation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import StreamEngine
import Testing

@testable import GatewayRuntime

/// The daemon's services end on graceful shutdown (SIGTERM, or `gatewayd demo --seconds`), driven here by
/// ServiceLifecycleTestKit's trigger instead of a signal and without sleeping: the devices stop — their links end as
/// a device walking away would — and what they had acknowledged is stored.
@Suite struct GracefulShutdownTests {
    /// Counts readings as the fleet reports them and wakes a waiter at a count.
    actor Tally {
        private var count = 0
        private var waiting: [(Int, CheckedContinuation<Void, Never>)] = []

        func add() {
            count += 1
            let ready = waiting.filter { $0.0 <= count }
            waiting.removeAll { $0.0 <= count }
            for (_, continuation) in ready { continuation.resume() }
        }

        func wait(for target: Int) async {
            if count >= target { return }
            await withCheckedContinuation { waiting.append((target, $0)) }
        }

        var value: Int { count }
    }

    @Test func theDevicesStopOnGracefulShutdownAndWhatTheyAcknowledgedIsStored() async throws {
        let dir = try APIHarness.scratch("graceful")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pipeline = try GatewayPipeline.open(directory: dir + "/data", zone: .gmt)
        defer { pipeline.close() }
        var spec = SimulatedDeviceSpec(profile: .bloodPressure, name: "cuff")
        spec.storedReadings = 4
        spec.measureEverySeconds = 3600  // no new measurement before the shutdown
        let tally = Tally()
        let fleet = SimulatedFleet(
            specs: [spec], pipeline: pipeline, zone: .gmt,
            mapper: GatewayPipeline.mapperOptions(gatewayID: "gw", zone: .gmt), logger: Logger(label: "test")
        ) { outcome, _ in
            if case .quarantined = outcome { await tally.add() }
        }
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await FleetService(fleet: fleet).run() }
                await tally.wait(for: 8)  // four measurements: blood pressure and pulse each
                trigger.triggerGracefulShutdown()
                try await group.next()  // the service returned: its devices stopped
            }
        }
        // Nobody was mapped: all eight wait for a person, each once.
        #expect(try pipeline.archive.quarantineCount() == 8)
        #expect(await tally.value == 8)
    }

    @Test func stopAfterReturnsAtOnceWhenTheGroupIsShuttingDownAnyway() async throws {
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await StopAfterService(duration: .seconds(3600)).run() }
                trigger.triggerGracefulShutdown()
                try await group.next()
            }
        }
    }
}

extension GracefulShutdownTests {
    /// `gatewayd demo --seconds N` ends by itself through the group's graceful shutdown (no signal to its own pid).
    @Test func theDemoStopsByItselfAfterItsSeconds() async throws {
        let dir = try APIHarness.scratch("demo-seconds")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let demo = try GatewaydProcess([
            "demo", "--listen", "127.0.0.1:\(FHIRAPITests.freePort())", "--dir", dir + "/data", "--seconds", "3",
        ])
        let status = await demo.wait(timeout: .seconds(60))
        #expect(status == 0, "\(demo.stdout.suffix(500)) \(demo.stderr.suffix(500))")
        for _ in 0..<100 where !demo.stdout.contains("gatewayd demo stopped") {
            try? await Task.sleep(for: .milliseconds(50))  // the last line may reach the pipe's reader after the exit
        }
        #expect(demo.stdout.contains("gatewayd demo stopped"))
    }
}
