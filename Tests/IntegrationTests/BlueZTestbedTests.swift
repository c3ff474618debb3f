import BLEGateway
import Foundation
import Logging
import Provenance
import StreamEngine
import Testing

@testable import GatewayRuntime

/// Real Linux Bluetooth: these run inside the qemu guest of hw/testbed (run-bluetooth-tests.sh), where btvirt
/// emulates three LE controllers — hci0 for BlueZ's own btgatt-server heart-rate peripheral, hci1 for gatewayd's
/// simulated devices serving real ATT on a listening L2CAP socket, hci2 for the gatewayd central — and the
/// fixture exports their addresses. On a machine without them (no AF_BLUETOOTH here) the suite is skipped.
@Suite(
    .serialized,
    .enabled(
        if: BlueZTestbed.current != nil,
        "needs the hw/testbed guest (BT_CENTRAL etc.); run hw/testbed/run-bluetooth-tests.sh"))
struct BlueZTestbedTests {
    /// The generous per-step limit emulation needs (TCG is 10–50× slower than a real machine).
    static let step: Duration = .seconds(60)

    static func pipeline(_ label: String) throws -> (GatewayPipeline, String) {
        let dir = try APIHarness.scratch("bluez-" + label)
        return (try GatewayPipeline.open(directory: dir + "/data", zone: .gmt), dir)
    }

    /// Ends any link the central still has (a closed socket's LE link lingers for a moment, and btvirt mixes up
    /// a second connection made meanwhile) and resets the advertisements, so every test starts from idle controllers.
    static func settle(_ testbed: BlueZTestbed) async throws {
        let management = try BluetoothManagement.open()
        defer { management.close() }
        for peer in [testbed.gattServer, testbed.peripheral] {
            _ = try? await management.send(
                .disconnect(DeviceAddress(peer, type: .lePublic)), index: testbed.centralIndex)
        }
        // The peripheral controller advertises nothing left over from another test; btgatt-server's controller
        // advertises its heart-rate service as the fixture set it up.
        _ = try? await management.removeAdvertising(instance: 0, index: testbed.peripheralIndex)
        _ = try? await management.removeAdvertising(instance: 0, index: 0)
        _ = try? await management.addAdvertising(
            AdvertisingInstance(
                instance: 1, advertisingData: try AdvertisingData.encode(flags: nil, services: [0x180D], name: nil)),
            index: 0)
        try await Task.sleep(for: .seconds(2))
    }

    /// Advertises the peripheral controller as a connectable health device (through our own management code).
    static func advertise(
        _ testbed: BlueZTestbed, service: UInt16, name: String, instance: UInt8 = 1, index: UInt16? = nil,
        ioCapability: IOCapability = .noInputNoOutput
    ) async throws {
        let management = try BluetoothManagement.open()
        defer { management.close() }
        let index = index ?? testbed.peripheralIndex
        try await management.powerOnForLE(index: index, ioCapability: ioCapability)
        _ = try? await management.removeAdvertising(instance: instance, index: index)
        _ = try await management.addAdvertising(
            AdvertisingInstance(
                instance: instance,
                advertisingData: try AdvertisingData.encode(flags: nil, services: [service], name: name)),
            index: index)
    }

    /// Serves `serve` on the peripheral controller's ATT socket for one connection. The listener gives up after
    /// `step` (closing it ends a blocked accept), so a connection that never comes fails the test instead of hanging.
    static func servePeripheral(_ testbed: BlueZTestbed, _ serve: @escaping @Sendable (any ATTBearer) async -> Void)
        throws -> Task<Void, any Error>
    {
        let listener = try L2CAPSocket.Listener(local: testbed.peripheral)
        let watchdog = Task {
            try await Task.sleep(for: step)
            listener.close()
        }
        return Task {
            defer {
                watchdog.cancel()
                listener.close()
            }
            let (bearer, _) = try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<(SeqPacketBearer, BluetoothAddress), any Error>) in
                Thread.detachNewThread {
                    do { continuation.resume(returning: try listener.accept()) } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
            watchdog.cancel()
            await serve(bearer)
        }
    }

    /// Collects from `peer` over L2CAP until `stop` says enough (then closes the link) or the device ends it.
    static func collect(
        _ pipeline: GatewayPipeline, testbed: BlueZTestbed, peer: BluetoothAddress,
        security: L2CAPSocket.Security = .low,
        until stop: @escaping @Sendable (Int) -> Bool = { _ in false }
    ) async throws -> Int {
        let bearer = try await L2CAPSocket.connect(
            local: testbed.central, peer: peer, peerType: .lePublic, security: security, timeout: step)
        let counter = Counter()
        let mapper = GatewayPipeline.mapperOptions(gatewayID: "gw-testbed", zone: .gmt)
        try await pipeline.collect(bearer: bearer, link: "l2cap:\(peer)", zone: .gmt, mapper: mapper) { outcome, _ in
            // Unmapped devices' readings are held in quarantine: kept durably all the same.
            switch outcome {
            case .stored, .quarantined: if stop(counter.increment()) { bearer.close() }
            default: break
            }
        }
        return counter.value
    }

    /// A count shared between tasks (readings stored, prompts answered, links up); never below zero.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func increment() -> Int { add(1) }
        func add(_ delta: Int) -> Int {
            lock.withLock {
                count = max(0, count + delta)
                return count
            }
        }
        var value: Int { lock.withLock { count } }
    }

    @Test func heartRateFromBlueZsOwnPeripheral() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        let (pipeline, dir) = try Self.pipeline("hr")
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let stored = try await Self.collect(pipeline, testbed: testbed, peer: testbed.gattServer) { $0 >= 3 }
        #expect(stored >= 3)
        let readings = try pipeline.archive.readings(subject: "") + (try pipeline.archive.quarantined().map(\.reading))
        #expect(readings.contains { $0.kind == .heartRate }, "no heart-rate reading from btgatt-server")
    }

    @Test func bloodPressureIndicationsAreConfirmedOnlyAfterDurableStorage() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        try await Self.advertise(testbed, service: 0x1810, name: "BP-Sim")
        let (pipeline, dir) = try Self.pipeline("bp")
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let cuff = SimulatedBloodPressureMonitor()
        await SimulatedReadings.fill(cuff, count: 5, users: [1], end: Date(), spacing: 3600)
        let device = try Self.servePeripheral(testbed) { await cuff.serve($0) }
        _ = try await Self.collect(pipeline, testbed: testbed, peer: testbed.peripheral)
        try await device.value
        let confirmed = await cuff.confirmedReadings.count
        #expect(confirmed == 5)
        // Each cuff measurement is a blood-pressure reading and a pulse reading; the cuff's user is nobody's yet,
        // so they are held in quarantine — durably, which is what the confirmation waited for.
        let kept =
            try pipeline.archive.quarantined().filter { $0.reading.kind == .bloodPressure }.count
            + (try pipeline.archive.readings(subject: "")).filter { $0.kind == .bloodPressure }.count
        #expect(
            kept == confirmed, "\(confirmed) confirmed by the cuff, \(kept) blood-pressure readings kept by the gateway"
        )
    }

    @Test func aMeterThatDropsTheLinkMidTransferResumesFromTheDurableCursor() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        try await Self.advertise(testbed, service: 0x1808, name: "GL-Sim")
        let (pipeline, dir) = try Self.pipeline("glucose")
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        var configuration = SimulatedGlucoseMeter.Configuration()
        configuration.disconnectAfterRecords = 3
        let meter = SimulatedGlucoseMeter(configuration: configuration)
        await SimulatedReadings.fill(meter, count: 8, end: Date(), spacing: 3600)
        // First connection: the meter drops the link after 3 records (a person walking away).
        let first = try Self.servePeripheral(testbed) { await meter.serve($0) }
        _ = try await Self.collect(pipeline, testbed: testbed, peer: testbed.peripheral)
        try await first.value
        let afterDrop = try pipeline.archive.quarantineCount() + pipeline.archive.storedReadingCount()
        #expect(afterDrop >= 3 && afterDrop < 8, "\(afterDrop) records after the drop")
        // Reconnection (the meter advertises again): the rest, from the cursor, none twice.
        try await Self.settle(testbed)
        try await Self.advertise(testbed, service: 0x1808, name: "GL-Sim")
        let second = try Self.servePeripheral(testbed) { await meter.serve($0) }
        _ = try await Self.collect(pipeline, testbed: testbed, peer: testbed.peripheral)
        try await second.value
        #expect(try pipeline.archive.quarantineCount() + pipeline.archive.storedReadingCount() == 8)
    }
}

extension BlueZTestbedTests {
    @Test func theManagementSocketListsAndPowersTheControllers() async throws {
        let testbed = try #require(BlueZTestbed.current)
        let management = try BluetoothManagement.open()
        defer { management.close() }
        let controllers = try await management.controllers()
        #expect(controllers.count >= 3, "\(controllers)")
        for index in [testbed.peripheralIndex, testbed.centralIndex] {
            try await management.powerOnForLE(index: index)
            let info = try await management.info(index: index)
            #expect(
                info.currentSettings.contains(.powered) && info.currentSettings.contains(.lowEnergy),
                "\(info.currentSettings)")
        }
        #expect(try await management.info(index: testbed.centralIndex).address == testbed.central)
    }

    @Test func discoveryFindsAnAdvertisingBloodPressureMonitorAndParsesItsAdvertisement() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        let management = try BluetoothManagement.open()
        defer { management.close() }
        try await management.powerOnForLE(index: testbed.peripheralIndex)
        try await management.powerOnForLE(index: testbed.centralIndex)
        let data = try AdvertisingData.encode(flags: nil, services: [0x1810], name: "BP-Disc")
        let events = await management.events()
        try await management.startDiscovery(index: testbed.centralIndex)
        // btvirt reports advertisements only while advertising is (re)switched on after the scan started.
        _ = try? await management.removeAdvertising(instance: 2, index: testbed.peripheralIndex)
        _ = try await management.addAdvertising(
            AdvertisingInstance(instance: 2, advertisingData: data), index: testbed.peripheralIndex)
        var found: DeviceFound?
        let deadline = ContinuousClock.now + Self.step
        // A silent radio must not hang the test: closing the socket after the deadline ends the event stream.
        let guardTask = Task {
            try await Task.sleep(for: Self.step)
            management.close()
        }
        defer { guardTask.cancel() }
        for await packet in events {
            if case .deviceFound(let device) = packet.event, packet.index == testbed.centralIndex,
                device.device.address == testbed.peripheral,
                let advertisement = try? device.advertisingData, advertisement.localName?.text == "BP-Disc"
            {
                found = device
                break
            }
            if ContinuousClock.now > deadline { break }
        }
        _ = try? await management.stopDiscovery(index: testbed.centralIndex)
        let device = try #require(found, "no Device Found for \(testbed.peripheral) advertising BP-Disc")
        let advertisement = try device.advertisingData
        #expect(advertisement.healthProfiles == [.bloodPressure])
        #expect(advertisement.healthProfile == .bloodPressure)
    }

    static func trace(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment["BT_TRACE"] == nil ? .info : .trace
        return logger
    }

    static func stage(_ text: String) {
        FileHandle.standardError.write(Data("[\(Date())] \(text)\n".utf8))
    }

    @Test func pairingIsAnsweredByOurAgentAndTheLinkIsEncrypted() async throws {
        let testbed = try #require(BlueZTestbed.current)
        try await Self.settle(testbed)
        let options = ManagementOptions(commandTimeout: .seconds(20), pairingTimeout: .seconds(90))
        let management = try BluetoothManagement.open(options: options, logger: Self.trace("mgmt.pair"))
        defer { management.close() }
        try await management.powerOnForLE(index: testbed.peripheralIndex)
        try await management.powerOnForLE(index: testbed.centralIndex)
        _ = try? await management.removeAdvertising(instance: 3, index: testbed.peripheralIndex)
        _ = try await management.addAdvertising(
            AdvertisingInstance(
                instance: 3,
                advertisingData: try AdvertisingData.encode(flags: nil, services: [0x1810], name: "BP-Pair")),
            index: testbed.peripheralIndex)
        // Without bluetoothd nobody answers the kernel's User Confirmation Requests but us (both sides, one kernel).
        let prompts = Counter()
        let agent = PairingAgent(management: management) { prompt in
            _ = prompts.increment()
            return await PairingAgent.justWorks(prompt)
        }
        let answering = await agent.startAnswering()
        defer { answering.cancel() }
        let dir = try APIHarness.scratch("bonds")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bonds = try BondStore(path: dir + "/bonds.json")
        let bondEvents = await management.events()
        let follower = Task { await bonds.follow(bondEvents, index: testbed.centralIndex) }
        defer { follower.cancel() }
        _ = try? await management.unpair(address: testbed.peripheral, type: .lePublic, index: testbed.centralIndex)
        Self.stage("pairing")
        let outcome = try await management.pair(
            address: testbed.peripheral, type: .lePublic, index: testbed.centralIndex)
        Self.stage("pairing: \(outcome)")
        #expect(outcome == .paired(identity: DeviceAddress(testbed.peripheral, type: .lePublic)), "\(outcome)")
        #expect(prompts.value == 2, "one confirmation per side")
        // The central's keys reached the gateway's own store (New Long Term Key events), owner-only.
        try await Task.sleep(for: .seconds(1))
        let bond = try #require(await bonds.bond(for: testbed.peripheral), "no bond stored for \(testbed.peripheral)")
        #expect(!bond.longTermKeys.isEmpty)
        #expect(
            try FileManager.default.attributesOfItem(atPath: dir + "/bonds.json")[.posixPermissions] as? Int == 0o600)
        // A restart as the kernel sees it: its key list emptied, then ours loaded again from the file.
        try await Self.settle(testbed)
        try await Self.advertise(testbed, service: 0x1810, name: "BP-Pair")
        try await management.send(.loadLongTermKeys([]), index: testbed.centralIndex)
        try await management.restoreBonds(from: try BondStore(path: dir + "/bonds.json"), index: testbed.centralIndex)
        // An encrypted ATT link to the bonded cuff: the kernel reports security level 2 (medium) or better.
        let cuff = SimulatedBloodPressureMonitor()
        await SimulatedReadings.fill(cuff, count: 2, users: [1], end: Date(), spacing: 3600)
        let device = try Self.servePeripheral(testbed) { await cuff.serve($0) }
        Self.stage("connecting with security medium")
        let bearer = try await L2CAPSocket.connect(
            local: testbed.central, peer: testbed.peripheral, peerType: .lePublic, security: .medium, timeout: Self.step
        )
        let level = L2CAPSocket.securityLevel(of: bearer.fileDescriptor)
        Self.stage("connected, security level \(level.map(String.init) ?? "unknown")")
        #expect((level ?? 0) >= 2, "security level \(level.map(String.init) ?? "unknown")")
        #expect(prompts.value == 2, "encrypted with the restored key: no new pairing")
        bearer.close()
        _ = try? await device.value
        Self.stage("done")
    }
}

/// The controllers the guest's fixture made (hw/testbed/run-bluetooth-tests.sh exports them).
struct BlueZTestbed: Sendable {
    var gattServer: BluetoothAddress
    var peripheral: BluetoothAddress
    var central: BluetoothAddress
    var peripheralIndex: UInt16
    var centralIndex: UInt16

    static let current: BlueZTestbed? = {
        let environment = ProcessInfo.processInfo.environment
        guard let g = environment["BT_GATT_SERVER"], let p = environment["BT_PERIPHERAL"],
            let c = environment["BT_CENTRAL"],
            let gattServer = try? BluetoothAddress(parsing: g), let peripheral = try? BluetoothAddress(parsing: p),
            let central = try? BluetoothAddress(parsing: c)
        else { return nil }
        return BlueZTestbed(
            gattServer: gattServer, peripheral: peripheral, central: central,
            peripheralIndex: UInt16(environment["BT_PERIPHERAL_INDEX"] ?? "1") ?? 1,
            centralIndex: UInt16(environment["BT_CENTRAL_INDEX"] ?? "2") ?? 2)
    }()
}
