import BLEGateway
import Foundation

/// The `bluetooth:` section: which controller is the gateway's radio and who owns its keys. Without the section
/// the daemon uses no radio (simulated devices only).
package struct BluetoothSettings: Sendable, Equatable {
    /// Who loads the pairing keys into the kernel. bluetoothd keeps its own and replaces the kernel's list when it
    /// starts; loading ours as well would wipe its bonds, so by default we load only when it is not running.
    package enum LoadBonds: String, Sendable, CaseIterable { case auto, yes, no }

    /// Controller index (hci0 → 0).
    package var controller: UInt16
    package var loadBonds: LoadBonds = .auto

    package init(controller: UInt16) { self.controller = controller }
    /// Backoff between attempts to reach a bonded device that advertised but could not be collected.
    package var reconnectInitialSeconds = 2.0
    package var reconnectMaximumSeconds = 300.0
    /// How long one connection attempt may take (emulated controllers are slow).
    package var connectTimeoutSeconds = 30.0

    /// "hci1" or "1".
    package static func controllerIndex(_ text: String) -> UInt16? {
        let digits = text.hasPrefix("hci") ? String(text.dropFirst(3)) : text
        return UInt16(digits)
    }

    /// Where a data directory keeps its Bluetooth state: the keys (0600) and the paired devices.
    package static func directory(data: String) -> String { data + "/bluetooth" }
    package static func bondsFile(data: String) -> String { directory(data: data) + "/bonds.json" }
    package static func pairedFile(data: String) -> String { directory(data: data) + "/paired.json" }
}

extension GatewayConfiguration.Reader {
    package func bluetooth(_ node: ConfigNode) throws(ConfigError) -> BluetoothSettings {
        let b = try node.mapping()
        let controllerNode = try b.required("controller")
        let text = try controllerNode.string()
        guard let index = BluetoothSettings.controllerIndex(text) else {
            throw controllerNode.error(
                "'\(text)' is not a controller such as hci0 (see `gatewayd pair --list-controllers`)")
        }
        var settings = BluetoothSettings(controller: index)
        if let load = b.optional("load_bonds") {
            let value = try load.string()
            guard let mode = BluetoothSettings.LoadBonds(rawValue: value) else {
                throw load.error("'\(value)' is not auto, yes or no")
            }
            settings.loadBonds = mode
        }
        if let timeout = b.optional("connect_timeout") {
            settings.connectTimeoutSeconds = max(1, try timeout.seconds())
        }
        if let reconnect = b.optional("reconnect") {
            let r = try reconnect.mapping()
            if let initial = r.optional("initial") {
                settings.reconnectInitialSeconds = max(0.1, try initial.seconds())
            }
            if let maximum = r.optional("maximum") {
                settings.reconnectMaximumSeconds = max(0.1, try maximum.seconds())
            }
            try r.finish()
        }
        try b.finish()
        return settings
    }
}
