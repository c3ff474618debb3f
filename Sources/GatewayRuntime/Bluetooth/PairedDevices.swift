import BLEGateway
import Foundation

/// A device `gatewayd pair` paired: what the daemon reconnects to when it advertises. The keys themselves are in
/// the bond store (0600); this list holds nothing secret.
package struct PairedDevice: Codable, Equatable, Sendable {
    package var address: String
    package var addressType: String
    /// blood_pressure, glucose or heart_rate (the service found at pairing).
    package var kind: String
    package var name: String?
    /// The key the gateway stores its readings under (from its Device Information), once connected.
    package var deviceKey: String?
    package var pairedAt: Date

    package init(
        address: String, addressType: String, kind: String, name: String? = nil, deviceKey: String? = nil,
        pairedAt: Date, encrypted: Bool, userConsents: [UInt8: UInt16] = [:]
    ) {
        (self.address, self.addressType, self.kind, self.name, self.deviceKey) = (
            address, addressType, kind, name, deviceKey
        )
        (self.pairedAt, self.encrypted) = (pairedAt, encrypted)
        if !userConsents.isEmpty {
            consentCodes = Dictionary(uniqueKeysWithValues: userConsents.map { ("\($0.key)", $0.value) })
        }
    }
    /// Whether the link must be encrypted (a bonded cuff or meter); heart-rate straps usually do not bond.
    package var encrypted: Bool
    /// A multi-user device's User Data Service consent codes, by user slot ("3": 4821): the gateway consents as one of
    /// these users before it collects, as the device sends only a consented user's data. Absent for other devices.
    package var consentCodes: [String: UInt16]?

    /// The consent codes by slot, as a session asks for them.
    package var userConsents: [UInt8: UInt16] {
        var result: [UInt8: UInt16] = [:]
        for (slot, code) in consentCodes ?? [:] {
            if let slot = UInt8(slot) { result[slot] = code }
        }
        return result
    }

    package var deviceAddress: DeviceAddress? {
        guard let address = try? BluetoothAddress(parsing: address),
            let type = BluetoothAddressType(identifier: addressType)
        else { return nil }
        return DeviceAddress(address, type: type)
    }
}

/// Why the paired-device list could not be read or written.
package struct PairedDevicesError: Error, CustomStringConvertible {
    package var description: String
}

/// The paired-device list of one data directory (DATA/bluetooth/paired.json), replaced atomically on every change.
package struct PairedDevices: Sendable {
    package let path: String

    package init(path: String) { self.path = path }

    package func load() throws -> [PairedDevice] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        do {
            return try Self.decoder.decode([PairedDevice].self, from: data)
        } catch {
            throw PairedDevicesError(
                description: "\(path) is not a paired-device list (\(error)); move it aside and pair the devices again")
        }
    }

    /// Adds or replaces the device with the same address.
    package func save(_ device: PairedDevice) throws {
        var devices = try load().filter { $0.address != device.address }
        devices.append(device)
        try write(devices)
    }

    @discardableResult
    package func remove(address: String) throws -> Bool {
        let devices = try load()
        let kept = devices.filter { $0.address.uppercased() != address.uppercased() }
        guard kept.count != devices.count else { return false }
        try write(kept)
        return true
    }

    private func write(_ devices: [PairedDevice]) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(devices.sorted { $0.address < $1.address }).write(
            to: URL(fileURLWithPath: path), options: .atomic)
        // Consent codes open a person's data on a shared scale: readable by the gateway's owner only, as its keys are.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}

extension PairedDevice {
    /// One line of `gatewayd pair --list`: address and type, kind, name, device key, when, and its user slots.
    package var line: String {
        let slots = userConsents.keys.sorted().map { "\($0)" }.joined(separator: ",")
        return
            "\(address) (\(addressType)) \(kind) \(name ?? "-") device \(deviceKey ?? "-") paired \(pairedAt)"
            + (slots.isEmpty ? "" : " user slots \(slots)")
    }
}
