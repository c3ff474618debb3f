import BLEGateway
import Foundation
import Logging
import TestSupport
import Testing

@testable import GatewayRuntime

/// The radio-facing parts of the `gatewayd` command that need no radio: the `bluetooth:` section, the reconnection
/// backoff, the paired-device list, what a scan shows a person, and `gatewayd pair`'s refusals. (The same code on a
/// real kernel: BlueZTestbedTests in hw/testbed.)
@Suite struct BluetoothCommandTests {
    static func parse(_ bluetooth: String) throws(ConfigError) -> GatewayConfiguration {
        try GatewayConfiguration.parse(
            "data_directory: /tmp/x\n" + bluetooth, file: "/etc/gatewayd/gatewayd.yaml", environment: [:])
    }

    @Test func theBluetoothSectionNamesTheControllerAndTheBackoff() throws {
        let configuration = try Self.parse(
            """
            bluetooth:
              controller: hci1
              load_bonds: "no"
              connect_timeout: 45s
              reconnect: { initial: 5s, maximum: 10m }
            """)
        let bluetooth = try #require(configuration.bluetooth)
        #expect(bluetooth.controller == 1 && bluetooth.loadBonds == .no)
        #expect(
            bluetooth.connectTimeoutSeconds == 45 && bluetooth.reconnectInitialSeconds == 5
                && bluetooth.reconnectMaximumSeconds == 600)
        #expect(try Self.parse("bluetooth: { controller: 0 }").bluetooth?.controller == 0)
        #expect(try Self.parse("api: { listen: 127.0.0.1:1 }").bluetooth == nil)
    }

    @Test func aBadBluetoothSectionIsNamedWithItsLine() {
        #expect(throws: ConfigError.self) { try Self.parse("bluetooth: { controller: bt0 }") }
        do {
            _ = try Self.parse("bluetooth:\n  controller: hci0\n  load_bond: yes\n")
            Issue.record("an unknown key was accepted")
        } catch {
            #expect("\(error)".contains("gatewayd.yaml:4") && "\(error)".contains("load_bond"), "\(error)")
        }
        do {
            _ = try Self.parse("bluetooth:\n  controller: hci0\n  load_bonds: maybe\n")
            Issue.record("load_bonds: maybe was accepted")
        } catch {
            #expect("\(error)".contains("'maybe' is not auto, yes or no"), "\(error)")
        }
    }

    @Test func reconnectionBacksOffAfterFailuresAndWaitsLongestForAQuietDevice() {
        var schedule = ReconnectSchedule(initialSeconds: 2, maximumSeconds: 20)
        #expect(schedule.mayTry("A", now: 0))
        let waits = (0..<6).map { _ in schedule.failed("A", now: 100) }
        #expect(waits == [2, 4, 8, 16, 20, 20])
        #expect(!schedule.mayTry("A", now: 119) && schedule.mayTry("A", now: 120))
        #expect(schedule.mayTry("B", now: 100), "one device's failures do not hold back another")
        schedule.succeeded("A", now: 200, readings: 3)
        #expect(schedule.mayTry("A", now: 202) && !schedule.mayTry("A", now: 201.9), "readings came: back soon")
        #expect(schedule.failed("A", now: 300) == 2, "a success resets the doubling")
        schedule.succeeded("A", now: 400, readings: 0)
        #expect(
            !schedule.mayTry("A", now: 419) && schedule.mayTry("A", now: 420), "nothing new: leave it alone longest")
    }

    @Test func onlyOneConnectionAttemptAtATime() async {
        let state = ReconnectState(schedule: ReconnectSchedule(initialSeconds: 1, maximumSeconds: 4))
        #expect(await state.begin("A", now: 0))
        #expect(await !state.begin("B", now: 0), "B waits while A is being connected")
        await state.connected()
        #expect(await state.begin("B", now: 0), "A is connected (collecting): B may be tried")
        #expect(await !state.begin("A", now: 0), "A is busy")
        _ = await state.failed("B", now: 0, whileConnecting: true)
        #expect(await !state.isConnecting)
        await state.succeeded("A", now: 0, readings: 1)
        #expect(await state.begin("A", now: 1))
    }

    /// A pairing waits for the daemon's running connection to end, but no longer than its patience on the clock.
    @Test(.timeLimit(.minutes(1))) func aPairingWaitsForTheRunningConnectionAtMostItsPatience() async {
        let clock = ManualClock()
        let state = ReconnectState(schedule: ReconnectSchedule(initialSeconds: 1, maximumSeconds: 4), clock: clock)
        #expect(await state.begin("A", now: 0))
        await state.connected()
        let patient = Task { await state.hold(patience: .seconds(20)) }
        await clock.sleeping(atLeast: 1)
        clock.advance(by: .seconds(19))
        #expect(clock.sleepers == 1)
        clock.advance(by: .seconds(1))
        await patient.value
        #expect(await !state.begin("B", now: 0), "the pairing holds the radio")
        await state.release()

        // The connection ends first: the pairing goes on at once, and its timer ends with the wait.
        let second = Task { await state.hold(patience: .seconds(20)) }
        await clock.sleeping(atLeast: 1)
        await state.succeeded("A", now: 0, readings: 1)
        await second.value
        #expect(clock.sleepers == 0)
        #expect(clock.now.offset == .seconds(20))
    }

    @Test func thePairedDeviceListIsReplacedWholeAndRefusesGarbage() throws {
        let dir = try APIHarness.scratch("paired")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let list = PairedDevices(path: dir + "/bluetooth/paired.json")
        #expect(try list.load().isEmpty)
        let cuff = PairedDevice(
            address: "00:AA:01:01:00:01", addressType: "le-public", kind: "blood_pressure", name: "BP", deviceKey: "k",
            pairedAt: Date(timeIntervalSince1970: 0), encrypted: true)
        try list.save(cuff)
        var renamed = cuff
        renamed.name = "BP again"
        try list.save(renamed)
        try list.save(
            PairedDevice(
                address: "00:AA:01:00:00:00", addressType: "le-random", kind: "heart_rate", pairedAt: Date(),
                encrypted: false))
        let loaded = try list.load()
        #expect(loaded.map(\.address) == ["00:AA:01:00:00:00", "00:AA:01:01:00:01"])
        let expected = DeviceAddress(try BluetoothAddress(parsing: "00:AA:01:01:00:01"), type: .lePublic)
        #expect(loaded.last?.name == "BP again" && loaded.last?.deviceAddress == expected)
        #expect(try list.remove(address: "00:aa:01:01:00:01"))
        #expect(try !list.remove(address: "00:aa:01:01:00:01"))
        try "not json".write(toFile: dir + "/bluetooth/paired.json", atomically: true, encoding: .utf8)
        #expect { try list.load() } throws: { "\($0)".contains("is not a paired-device list") }
    }

    @Test func aScanShowsNameKindAndSignalOfHealthDevicesOnly() throws {
        let address = try BluetoothAddress(parsing: "00:AA:01:01:00:01")
        let cuff = DeviceFound(
            device: DeviceAddress(address, type: .lePublic), rawRSSI: -52,
            eir: try AdvertisingData.encode(flags: nil, services: [0x1810], name: "BP-7"))
        let sighting = try #require(Sighting(cuff))
        #expect(sighting.line == "BP-7 — blood-pressure monitor — 00:AA:01:01:00:01 — signal strong (-52 dBm)")
        let far = DeviceFound(
            device: DeviceAddress(address, type: .lePublic), rawRSSI: -91,
            eir: try AdvertisingData.encode(flags: nil, services: [0x1808], name: nil))
        #expect(
            try #require(Sighting(far)).line
                == "(no name) — glucose meter — 00:AA:01:01:00:01 — signal weak, bring it closer (-91 dBm)")
        let speaker = DeviceFound(
            device: DeviceAddress(address, type: .lePublic), rawRSSI: -40,
            eir: try AdvertisingData.encode(flags: nil, services: [0x110B], name: "Speaker"))
        #expect(Sighting(speaker) == nil, "not a health device")
        #expect(
            Sighting(DeviceFound(device: DeviceAddress(address, type: .lePublic), rawRSSI: 127, eir: [0x05, 0x09]))
                == nil, "malformed advertisement")
        let list = SightingList()
        #expect(list.update(sighting) == true)
        #expect(list.update(sighting) == nil, "nothing new to show")
        var renamed = sighting
        renamed.name = "BP-7 (Alice)"
        #expect(list.update(renamed) == false)
        #expect(list.all.count == 1)
    }

    @Test func gatewaydPairRefusesWhatItCannotDoAndSaysWhy() async throws {
        let dir = try APIHarness.scratch("pair-cmd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plain = dir + "/plain.yaml"
        try "data_directory: \(dir)/data\nsubjects: { alice: {} }\n".write(
            toFile: plain, atomically: true, encoding: .utf8)
        let radio = dir + "/radio.yaml"
        try "data_directory: \(dir)/data\nsubjects: { alice: {} }\nbluetooth: { controller: hci0 }\n".write(
            toFile: radio, atomically: true, encoding: .utf8)

        let noSection = try await APIHarness.run(["pair", "--config", plain])
        #expect(noSection.status != 0 && noSection.stderr.contains("no bluetooth: section"), "\(noSection.stderr)")
        let nobody = try await APIHarness.run(["--pair", "--config", radio, "--address", "00:AA:01:01:00:01"])
        #expect(nobody.status != 0 && nobody.stderr.contains("--address needs --subject"), "\(nobody.stderr)")
        let stranger = try await APIHarness.run([
            "pair", "--config", radio, "--address", "00:AA:01:01:00:01", "--subject", "mallory",
        ])
        #expect(
            stranger.status != 0 && stranger.stderr.contains("--subject: 'mallory' is not one of the subjects"),
            "\(stranger.stderr)")
        let slot = try await APIHarness.run([
            "pair", "--config", radio, "--address", "00:AA:01:01:00:01", "--user", "one=alice",
        ])
        #expect(slot.status != 0 && slot.stderr.contains("expected SLOT=SUBJECT"), "\(slot.stderr)")
        // These build machines have no Bluetooth in the kernel: the person is told so, not shown a stack trace.
        if (try? ManagementSocket()) == nil {
            let noRadio = try await APIHarness.run([
                "pair", "--config", radio, "--address", "00:AA:01:01:00:01", "--subject", "alice",
            ])
            #expect(
                noRadio.status != 0
                    && (noRadio.stderr.contains("no Bluetooth support") || noRadio.stderr.contains("CAP_NET_ADMIN")),
                "\(noRadio.stderr)")
        }
        #expect(
            !FileManager.default.fileExists(atPath: dir + "/data/bluetooth/paired.json"),
            "nothing recorded by a refused pairing")
    }
    @Test func statusListsThePairedDevices() async throws {
        let dir = try APIHarness.scratch("status-paired")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pipeline = try GatewayPipeline.open(directory: dir + "/data", zone: .gmt)
        pipeline.close()
        try PairedDevices(path: BluetoothSettings.pairedFile(data: dir + "/data")).save(
            PairedDevice(
                address: "00:AA:01:01:00:01", addressType: "le-public", kind: "glucose", name: "GL-Meter",
                deviceKey: "00-1B-C5-00-00-00-22-01", pairedAt: Date(), encrypted: true))
        try "data_directory: \(dir)/data\nbluetooth: { controller: hci1 }\n".write(
            toFile: dir + "/gatewayd.yaml", atomically: true, encoding: .utf8)
        let status = try await APIHarness.run(["status", "--config", dir + "/gatewayd.yaml"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("== bluetooth: hci1, 1 paired device(s)"), "\(status.stdout)")
        #expect(status.stdout.contains("00:AA:01:01:00:01") && status.stdout.contains("GL-Meter"), "\(status.stdout)")
    }

    /// The daemon pairs nothing on a device's word: a paired cuff's address asking to pair again (a device that lost
    /// its keys, or a stranger using that address) and an unknown device are both refused — every kind of prompt —
    /// counted per address, and `gatewayd status` tells the operator what to do.
    @Test func theDaemonRefusesEveryPairingNoOperatorStartedAndStatusSaysSo() async throws {
        let dir = try APIHarness.scratch("status-refused")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pipeline = try GatewayPipeline.open(directory: dir + "/data", zone: .gmt)
        pipeline.close()
        let refused = RefusedPairings(data: dir + "/data")
        let cuff = DeviceAddress(try BluetoothAddress(parsing: "00:AA:01:01:00:01"), type: .lePublic)
        let stranger = DeviceAddress(try BluetoothAddress(parsing: "C0:FF:EE:00:00:07"), type: .leRandom)
        let paired: Set<String> = ["00:AA:01:01:00:01"]
        let requests: [PairingPrompt.Request] = [
            .confirmation(value: 0, justWorks: true), .confirmation(value: 123_456, justWorks: false), .passkeyEntry,
            .passkeyDisplay(passkey: 654_321, entered: 0),
        ]
        for request in requests {
            #expect(
                refused.refuse(
                    PairingPrompt(index: 1, device: cuff, request: request), pairedAddresses: paired,
                    logger: Logger(label: "test")) == .reject)
        }
        #expect(
            refused.refuse(
                PairingPrompt(index: 1, device: stranger, request: requests[0]), pairedAddresses: paired,
                logger: Logger(label: "test")) == .reject)
        let entries = refused.load()
        #expect(entries.map(\.address) == ["C0:FF:EE:00:00:07", "00:AA:01:01:00:01"])
        #expect(entries.map(\.count) == [1, 4] && entries.map(\.paired) == [false, true])

        let status = try await APIHarness.run(["status", "--dir", dir + "/data"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("== pairing requests refused"), "\(status.stdout)")
        #expect(
            status.stdout.contains(
                "paired device asked to pair again 4 times, refused: if it is yours, pair it with `gatewayd pair`"))
        #expect(status.stdout.contains("unknown device asked to pair 1 time"))
    }
}
