import BLEGateway
import CBlueZ
import Foundation
import Logging
import Provenance
import ServiceLifecycle
import ServiceLifecycleTestKit
import StreamEngine
import TestSupport
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

    /// The engine's service stops last but one (after the devices and the API): on graceful shutdown it batches what
    /// still waits — notifications that would linger ten minutes here — before it returns, so nothing handed over is
    /// left in the queue when the daemon closes the store.
    @Test(.timeLimit(.minutes(1))) func theEngineServiceBatchesWhatWaitsBeforeItReturns() async throws {
        let dir = try APIHarness.scratch("engine-service")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pipeline = try GatewayPipeline.open(directory: dir + "/data", zone: .gmt, notificationLingerSeconds: 600)
        defer { pipeline.close() }
        let readings = FHIRAPITests.readings()
        let heard = Tally()
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await EngineService(engine: pipeline.engine).run() }
                let (source, continuation) = AsyncStream.makeStream(of: PendingReading.self)
                group.addTask {
                    try await pipeline.engine.consume(source) { _, _ in await heard.add() }
                }
                for reading in readings { continuation.yield(PendingReading(reading: reading, waiter: .nobody) {}) }
                await pipeline.engine.waitUntilQueued(readings.count)
                #expect(await heard.value == 0, "they linger")
                trigger.triggerGracefulShutdown()
                try await group.next()  // the engine's service returned (the source has not ended)
                await heard.wait(for: readings.count)
                #expect(await pipeline.engine.queueDepth == 0)
                continuation.finish()
                try await group.waitForAll()
            }
        }
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

/// The daemon's timers run on an injected clock: with a manual one the test moves time itself and waits for none.
@Suite(.timeLimit(.minutes(1))) struct ServiceTimerTests {
    actor Counter {
        private(set) var count = 0
        func increment() { count += 1 }
    }

    /// `repeatUntilGracefulShutdown` (the watchdog, the summary flush, retention): work at once, then once per interval
    /// of its clock — not before — and the loop ends on graceful shutdown while it sleeps.
    @Test func aTimerFiresOncePerIntervalOfItsClockAndEndsOnGracefulShutdown() async throws {
        let clock = ManualClock()
        let runs = Counter()
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await repeatUntilGracefulShutdown(every: .seconds(30), clock: clock) { await runs.increment() }
                }
                await clock.sleeping(atLeast: 1)
                #expect(await runs.count == 1)
                clock.advance(by: .seconds(29))
                let early = await runs.count
                #expect(clock.sleepers == 1 && early == 1, "it fired before its interval")
                clock.advance(by: .seconds(1))
                await clock.sleeping(atLeast: 1)  // it ran, and sleeps again
                #expect(await runs.count == 2)
                clock.advance(by: .seconds(90))  // one interval's sleep ends however far the clock jumps
                await clock.sleeping(atLeast: 1)  // it ran, and sleeps again
                #expect(await runs.count == 3)
                trigger.triggerGracefulShutdown()
                try await group.next()
            }
        }
        let total = await runs.count
        #expect(total == 3 && clock.sleepers == 0)
    }

    /// The watchdog pings at half systemd's interval, on its clock.
    @Test func theWatchdogPingsAtHalfItsIntervalOnItsClock() async throws {
        let clock = ManualClock()
        let socketPath = FileManager.default.temporaryDirectory.appendingPathComponent(
            "notify-\(UUID().uuidString.prefix(8))"
        ).path
        let listener = try DatagramListener(path: socketPath)
        defer { listener.close() }
        var watchdog = WatchdogService(
            notifier: SystemdNotifier(environment: ["NOTIFY_SOCKET": socketPath]), interval: .seconds(20))
        watchdog.clock = clock
        let service = watchdog
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                await clock.sleeping(atLeast: 1)
                clock.advance(by: .seconds(10))
                #expect(await eventually { clock.sleepers == 1 && listener.received().count == 2 })
                trigger.triggerGracefulShutdown()
                try await group.next()
            }
        }
        #expect(listener.received() == ["WATCHDOG=1", "WATCHDOG=1"])
    }
}

/// A unix datagram socket standing in for systemd's notify socket: what the daemon sent, read without blocking.
final class DatagramListener: @unchecked Sendable {
    let fd: Int32
    let path: String
    private let lock = NSLock()
    private var messages: [String] = []

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard fd >= 0, bound == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    /// Every datagram so far.
    func received() -> [String] {
        lock.withLock {
            var buffer = [UInt8](repeating: 0, count: 512)
            while true {
                let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard count > 0 else { break }
                messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
            }
            return messages
        }
    }

    func close() {
        Glibc.close(fd)
        unlink(path)
    }
}
