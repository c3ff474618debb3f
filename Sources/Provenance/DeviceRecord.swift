/// Who measured: the device as it identified itself (Device Information Service), and the gateway.
public struct DeviceRecord: Hashable, Sendable, Codable {
    /// EUI-64 from the System ID ("00-1B-C5-00-00-00-04-17"), the PHD IG's preferred device identifier.
    public var systemID: String?
    /// EUI-48 Bluetooth address ("AA:BB:CC:DD:EE:FF"), when the link has one.
    public var address: String?
    /// How the gateway reached it ("unix:/run/bp.sock", "l2cap:hci0").
    public var link: String
    public var manufacturer: String?
    public var model: String?
    public var serialNumber: String?
    public var hardwareRevision: String?
    public var firmwareRevision: String?
    public var softwareRevision: String?
    /// IEEE 11073-20601 regulatory certification data list, hex, as the device sent it.
    public var regulatoryCertificationHex: String?
    /// The device declared itself unregulated (Continua regulation bit), when it said.
    public var unregulated: Bool?

    public init(link: String) { self.link = link }

    /// The stable key of this device in series names and identities: System ID, else address, else the
    /// manufacturer:model:serial triple, else the link. "/" never appears in it (series names use it).
    public var key: String {
        let raw: String
        if let systemID {
            raw = systemID
        } else if let address {
            raw = address
        } else if let serialNumber {
            raw = [manufacturer ?? "", model ?? "", serialNumber].joined(separator: ":")
        } else {
            raw = link
        }
        // Asked for several times per reading on ingest: a key without "/" (every System ID and address) is as it is.
        guard raw.utf8.contains(UInt8(ascii: "/")) else { return raw }
        return String(raw.map { $0 == "/" ? "-" : $0 })
    }
}

/// The gateway that received a reading.
public struct GatewayRecord: Hashable, Sendable, Codable {
    public var id: String
    public var softwareVersion: String
    public init(id: String, softwareVersion: String) {
        self.id = id
        self.softwareVersion = softwareVersion
    }
}
