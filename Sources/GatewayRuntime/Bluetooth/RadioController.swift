import BLEGateway
import Foundation
import Logging

/// Why the gateway's radio could not be set up.
package struct RadioError: Error, CustomStringConvertible {
    package var description: String
}

/// The gateway's own controller, ready to act as a bonding LE central: the management socket, the controller
/// powered with LE and bondable on, the gateway's bonds loaded into the kernel (when gatewayd owns the keys) and
/// every new key the kernel reports for this controller written to the 0600 bond store.
package struct RadioController: Sendable {
    package let management: BluetoothManagement
    package let index: UInt16
    package let address: BluetoothAddress
    package let bonds: BondStore
    /// Whether gatewayd loaded its keys into the kernel (false when bluetoothd owns them).
    package let ownsKeys: Bool
    package let bluetoothd: BluetoothDaemonDetector.Status
    /// The management events from `open` on, for `keepBonds()`: subscribed before any pairing, so no key is missed.
    private let bondEvents: AsyncStream<ManagementEventPacket>

    package static func open(
        settings: BluetoothSettings, dataDirectory: String, ioCapability: IOCapability = .noInputNoOutput,
        options: ManagementOptions = ManagementOptions(commandTimeout: .seconds(20), pairingTimeout: .seconds(90)),
        logger: Logger
    ) async throws -> RadioController {
        let management: BluetoothManagement
        do {
            management = try BluetoothManagement.open(options: options, logger: logger)
        } catch {
            throw RadioError(description: "\(error)")
        }
        do {
            let controllers = try await management.controllers()
            guard controllers.contains(settings.controller) else {
                throw RadioError(
                    description: "bluetooth.controller hci\(settings.controller) does not exist; this machine has "
                        + (controllers.isEmpty
                            ? "no Bluetooth controller" : controllers.map { "hci\($0)" }.joined(separator: ", ")))
            }
            let bluetoothd = BluetoothDaemonDetector().detect()
            let ownsKeys =
                switch settings.loadBonds {
                case .yes: true
                case .no: false
                case .auto: !bluetoothd.isRunning
                }
            if bluetoothd.isRunning {
                logger.warning("bluetoothd is running", metadata: ["advice": "\(bluetoothd.advice)"])
            }
            try await management.powerOnForLE(index: settings.controller, ioCapability: ioCapability)
            let info = try await management.info(index: settings.controller)
            let directory = BluetoothSettings.directory(data: dataDirectory)
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let bonds = try BondStore(path: BluetoothSettings.bondsFile(data: dataDirectory), logger: logger)
            if ownsKeys {
                try await management.restoreBonds(from: bonds, index: settings.controller)
                let count = await bonds.bonds.count
                logger.info(
                    "bonds loaded into the kernel",
                    metadata: ["bonds": "\(count)", "controller": "hci\(settings.controller)"])
            }
            return RadioController(
                management: management, index: settings.controller, address: info.address, bonds: bonds,
                ownsKeys: ownsKeys, bluetoothd: bluetoothd, bondEvents: await management.events())
        } catch {
            management.close()
            throw error is RadioError ? error : RadioError(description: "\(error)")
        }
    }

    /// Writes every new key the kernel reports for this controller to the bond store, until the radio closes or the
    /// owner's task running this (a child of the radio's owner, beside its work) is cancelled. Once per radio.
    package func keepBonds() async { await bonds.follow(bondEvents, index: index) }

    package func close() { management.close() }
}

/// A health device heard advertising: what a person picks from.
package struct Sighting: Equatable, Sendable {
    package var device: DeviceAddress
    package var name: String?
    package var profile: HealthProfile?
    package var rssi: Int8?
    package var connectable: Bool

    package init(device: DeviceAddress, name: String?, profile: HealthProfile?, rssi: Int8?, connectable: Bool = true) {
        (self.device, self.name, self.profile, self.rssi, self.connectable) = (device, name, profile, rssi, connectable)
    }

    package init?(_ found: DeviceFound) {
        guard let advertisement = try? found.advertisingData, let profile = advertisement.healthProfile else {
            return nil
        }
        device = found.device
        name = advertisement.localName?.text
        self.profile = profile
        rssi = found.rssi
        connectable = !found.flags.contains(.notConnectable)
    }

    /// "strong", "fair", "weak": what a person can act on ("bring it closer").
    package var signal: String {
        guard let rssi else { return "signal unknown" }
        let word = rssi >= -60 ? "strong" : (rssi >= -80 ? "fair" : "weak, bring it closer")
        return "signal \(word) (\(rssi) dBm)"
    }

    package var line: String {
        Self.line(name: name, profile: profile, address: "\(device.address)", signal: signal)
    }

    /// A device on a list of things found nearby, one line: also how `gatewayd pair` lists what the daemon heard.
    package static func line(name: String?, profile: HealthProfile?, address: String, signal: String) -> String {
        "\(name ?? "(no name)") — \(profile?.deviceName ?? "health device") — \(address) — \(signal)"
    }
}

/// Discovery on one controller, reporting health devices as they are heard.
package enum HealthDeviceScan {
    /// Scans for `seconds` (discovery is restarted whenever the kernel ends a scan round), calling `heard` for each
    /// new device and each change of its name or kind; returns the devices in the order first heard.
    package static func run(
        _ management: BluetoothManagement, index: UInt16, seconds: Double,
        heard: @escaping @Sendable (Sighting, _ isNew: Bool) -> Void
    ) async throws -> [Sighting] {
        let events = await management.events()
        do {
            try await management.startDiscovery(index: index)
        } catch {
            // Busy: the controller is discovering already (the daemon scans for its paired devices all the time);
            // every management socket hears what it finds.
            guard case .commandFailed(_, _, let status) = error, status == .busy else { throw error }
        }
        let found = SightingList()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await packet in events where packet.index == index {
                    switch packet.event {
                    case .deviceFound(let device):
                        guard let sighting = Sighting(device), sighting.connectable else { continue }
                        if let isNew = found.update(sighting) { heard(sighting, isNew) }
                    case .discovering(_, let active) where !active:
                        _ = try? await management.startDiscovery(index: index)
                    default: break
                    }
                }
            }
            group.addTask { try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
            await group.next()
            group.cancelAll()
        }
        _ = try? await management.stopDiscovery(index: index)
        return found.all
    }
}

package final class SightingList: @unchecked Sendable {
    private let lock = NSLock()
    private var sightings: [Sighting] = []

    /// nil when nothing a person would notice changed.
    package func update(_ sighting: Sighting) -> Bool? {
        lock.withLock {
            if let at = sightings.firstIndex(where: { $0.device == sighting.device }) {
                let old = sightings[at]
                var merged = sighting
                if merged.name == nil { merged.name = old.name }
                sightings[at] = merged
                return old.name != merged.name || old.profile != merged.profile ? false : nil
            }
            sightings.append(sighting)
            return true
        }
    }

    package var all: [Sighting] { lock.withLock { sightings } }
}
