import BLEGateway
import Foundation
import TestSupport
import Testing

@testable import GatewayRuntime

/// bluetoothd running beside gatewayd, on the same kernel and controllers (the hw/testbed guest's second phase starts
/// the system bus and BlueZ's daemon, then runs this suite with BT_BLUETOOTHD=1).
///
/// What it shows: on a link gatewayd opens, the ATT channel is gatewayd's alone — the kernel gives bluetoothd's
/// listening ATT channel no channel on a link that already has a client one ("client fixed channels override server
/// ones", net/bluetooth/l2cap_core.c) — so nobody but gatewayd confirms an indication, and only after the reading is
/// durable. (A device bluetoothd connects itself is the other case: gatewayd's connect then fails with EBUSY, and
/// says so; README "bluetoothd".)
@Suite(
    .serialized,
    .enabled(
        if: BlueZTestbed.current != nil && ProcessInfo.processInfo.environment["BT_BLUETOOTHD"] == "1",
        "needs the hw/testbed guest's bluetoothd phase (run hw/testbed/run-bluetooth-tests.sh)"))
struct BluetoothdBesideTests {
    @Test func indicationsAreConfirmedOnlyByGatewaydWhileBluetoothdRuns() async throws {
        let testbed = try #require(BlueZTestbed.current)
        let bluetoothd = BluetoothDaemonDetector().detect()
        try #require(bluetoothd.isRunning, "bluetoothd is not running in this phase")
        try await BlueZTestbedTests.settle(testbed)
        try await BlueZTestbedTests.advertise(testbed, service: 0x1810, name: "BP-Sim")
        let cuff = SimulatedBloodPressureMonitor()
        await SimulatedReadings.fill(cuff, count: 5, users: [1], end: Date(), spacing: 3600)

        // 1. A client that takes the first indication and never acknowledges it: with bluetoothd running, nobody
        // confirms it — the cuff still holds all five readings when the link ends.
        let first = try BlueZTestbedTests.servePeripheral(testbed) { await cuff.serve($0) }
        let bearer = try await L2CAPSocket.connect(
            local: testbed.central, peer: testbed.peripheral, peerType: .lePublic, security: .low,
            timeout: BlueZTestbedTests.step)
        let client = GATTClient(
            bearer: bearer, options: GATTClientOptions(indicationAcknowledgementTimeout: .seconds(120)))
        client.startReceiving()
        _ = try await client.exchangeMTU()
        let database = try await client.discoverAll()
        let measurement = try #require(database.characteristic(.bloodPressureMeasurement))
        let arrived = Task { () -> Bool in
            for await event in client.events {
                if case .indication(let indication) = event, indication.handle == measurement.valueHandle {
                    return true
                }
            }
            return false
        }
        try await client.configure(measurement, .indications)
        let watchdog = Task {
            try await Task.sleep(for: BlueZTestbedTests.step)
            arrived.cancel()
        }
        #expect(await arrived.value, "the cuff's first indication never arrived")
        watchdog.cancel()
        // Several seconds for anyone else on this machine to confirm it (bluetoothd would at once).
        try await Task.sleep(for: .seconds(5))
        #expect(await cuff.confirmedCount == 0, "someone other than gatewayd confirmed the cuff's indication")
        client.close()
        try? await first.value
        #expect(await cuff.stored.count == 5)

        // 2. The gateway's pipeline: every reading confirmed once it is durable, and kept.
        try await BlueZTestbedTests.settle(testbed)
        try await BlueZTestbedTests.advertise(testbed, service: 0x1810, name: "BP-Sim")
        let (pipeline, dir) = try BlueZTestbedTests.pipeline("beside-bluetoothd")
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let second = try BlueZTestbedTests.servePeripheral(testbed) { await cuff.serve($0) }
        _ = try await BlueZTestbedTests.collect(pipeline, testbed: testbed, peer: testbed.peripheral)
        try await second.value
        let confirmed = await cuff.confirmedCount
        let kept = try pipeline.archive.quarantined().filter { $0.reading.kind == .bloodPressure }.count
        #expect(
            confirmed == 5 && kept == 5,
            "\(confirmed) confirmed by the cuff, \(kept) blood-pressure readings kept by the gateway")
        #expect(await cuff.stored.isEmpty)
    }
}
