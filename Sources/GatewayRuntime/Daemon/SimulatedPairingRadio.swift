import BLEGateway
import Foundation

/// The demo's radio for pairing: simulated devices "in pairing mode" nearby. They are heard as a scan would hear
/// them, ask for numeric comparison like a cuff with a display (the six digits the device "shows" are in the demo's
/// log and `shownCode`), and once paired serve real ATT over a socketpair, so the download and everything after it
/// is the gateway's real path. What it leaves out is the Security Manager exchange, which the kernel does on a radio
/// (the Bluetooth test bed pairs through it).
package final class SimulatedPairingRadio: PairingRadio, @unchecked Sendable {
    /// A simulated device waiting to be paired.
    package struct Waiting: Sendable {
        package var sighting: Sighting
        package var spec: SimulatedDeviceSpec
    }

    private let lock = NSLock()
    private let waiting: [Waiting]
    private var devices: [BluetoothAddress: any SimulatedHealthDevice] = [:]
    private var codes: [BluetoothAddress: UInt32] = [:]
    private var paired: Set<BluetoothAddress> = []
    /// How long a scan takes to hear a device (a real one advertises every second or so).
    private let hearAfter: Duration
    /// The device "shows" its six digits (the demo prints them: its terminal is the device's display).
    private let onShow: @Sendable (_ name: String, _ code: String) -> Void

    package init(
        waiting: [Waiting], hearAfter: Duration = .milliseconds(400),
        onShow: @escaping @Sendable (String, String) -> Void = { _, _ in }
    ) {
        (self.waiting, self.hearAfter, self.onShow) = (waiting, hearAfter, onShow)
    }

    /// The demo's device in pairing mode: a second blood-pressure cuff, one user, three stored readings.
    package static func demo(onShow: @escaping @Sendable (String, String) -> Void) -> SimulatedPairingRadio {
        var spec = SimulatedDeviceSpec(profile: .bloodPressure, name: "new-cuff")
        spec.storedReadings = 3
        spec.seed = 29
        spec.number = 2
        let address = (try? BluetoothAddress(parsing: "00:5D:E3:00:00:02")).map { DeviceAddress($0, type: .lePublic) }
        guard let address else { return SimulatedPairingRadio(waiting: []) }
        let sighting = Sighting(device: address, name: "BP-7 new", profile: .bloodPressure, rssi: -52)
        return SimulatedPairingRadio(waiting: [Waiting(sighting: sighting, spec: spec)], onShow: onShow)
    }

    package var simulated: Bool { true }

    /// The six digits the device shows while it pairs (nil when it is not pairing).
    package func shownCode(_ address: BluetoothAddress) -> String? {
        lock.withLock { codes[address].map(PairingPrompt.sixDigits) }
    }

    package func scan(seconds _: Double, heard: @escaping @Sendable (Sighting) -> Void) async throws -> [Sighting] {
        var found: [Sighting] = []
        for device in waiting {
            try await Task.sleep(for: hearAfter)
            found.append(device.sighting)
            heard(device.sighting)
        }
        // Nothing else is nearby: the scan ends once every device in pairing mode was heard.
        return found
    }

    package func pair(_ device: DeviceAddress, ioCapability: IOCapability, ask: @escaping PairingAgent.Decide)
        async throws -> Bool
    {
        guard waiting.contains(where: { $0.sighting.device == device }) else {
            throw PairingFailure(description: "pairing with \(device.address) failed: no such device in range")
        }
        if lock.withLock({ paired.contains(device.address) }) { return false }
        let code = lock.withLock { () -> UInt32 in
            let value = UInt32.random(in: 0..<1_000_000)
            codes[device.address] = value
            return value
        }
        defer { lock.withLock { _ = codes.removeValue(forKey: device.address) } }
        let name = waiting.first { $0.sighting.device == device }?.sighting.name ?? "\(device.address)"
        onShow(name, PairingPrompt.sixDigits(code))
        let answer = await ask(
            PairingPrompt(index: 0, device: device, request: .confirmation(value: code, justWorks: false)))
        guard answer == .accept else {
            throw PairingFailure(
                description: "pairing with \(device.address) was refused (the code was not confirmed); put it in "
                    + "pairing mode and try again")
        }
        lock.withLock { _ = paired.insert(device.address) }
        return true
    }

    package func connect(_ device: DeviceAddress) async throws -> any ATTBearer {
        guard let entry = waiting.first(where: { $0.sighting.device == device }) else {
            throw PairingFailure(description: "the connection to \(device.address) failed: no such device in range")
        }
        let simulator = await self.simulator(entry)
        let (central, peripheral) = try SeqPacketBearer.pair()
        Task {
            await simulator.serve(peripheral)
            peripheral.close()
        }
        return central
    }

    /// One simulator per device, made at first connection with its stored measurements, kept for the next.
    private func simulator(_ entry: Waiting) async -> any SimulatedHealthDevice {
        if let made = lock.withLock({ devices[entry.sighting.device.address] }) { return made }
        let spec = entry.spec
        var settings = SimulatorSettings()
        settings.identity = SimulatedFleet.identity(spec)
        settings.seed = spec.seed
        settings.interval = .milliseconds(Int64(spec.notifyEverySeconds * 1000))
        let device = spec.profile.simulator.make(settings)
        await device.measure(
            count: spec.storedReadings, users: spec.users, seed: spec.seed, end: Date(),
            spacing: spec.profile.simulator.recordSpacing)
        lock.withLock { devices[entry.sighting.device.address] = device }
        return device
    }
}
