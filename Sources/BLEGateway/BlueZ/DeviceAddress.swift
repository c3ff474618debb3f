import CBlueZ

/// How a management command or event names a peer: six address bytes plus the address type, because the same
/// 48 bits can be a BR/EDR address, an LE public address or an LE random address, and the kernel keeps them apart.
public enum BluetoothAddressType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case brEdr = 0
    case lePublic = 1
    case leRandom = 2

    public var description: String {
        switch self {
        case .brEdr: "BR/EDR"
        case .lePublic: "LE public"
        case .leRandom: "LE random"
        }
    }

    /// The spelling the bond file and the command line use.
    public var identifier: String {
        switch self {
        case .brEdr: "br-edr"
        case .lePublic: "le-public"
        case .leRandom: "le-random"
        }
    }

    public init?(identifier: String) {
        guard let match = Self.allCases.first(where: { $0.identifier == identifier }) else { return nil }
        self = match
    }
}

/// A peer as the management interface names it (`mgmt_addr_info`): address and address type.
public struct DeviceAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: BluetoothAddress
    public var type: BluetoothAddressType

    public init(_ address: BluetoothAddress, type: BluetoothAddressType) {
        self.address = address
        self.type = type
    }

    /// The 7 wire bytes: address least significant byte first, then the type.
    public var wireBytes: [UInt8] { address.littleEndianBytes + [type.rawValue] }

    /// Whether the kernel accepts this as a bond identity: a public address, or a static random address (the two
    /// most significant bits set). Resolvable and non-resolvable random addresses are refused by Load Long Term
    /// Keys and Load Identity Resolving Keys.
    public var isIdentityAddress: Bool {
        switch type {
        case .lePublic: true
        case .leRandom: (address.bytes.first ?? 0) & 0xC0 == 0xC0
        case .brEdr: false
        }
    }

    public var description: String { "\(address) (\(type))" }
}

extension BluetoothAddress {
    /// From the six wire bytes, least significant first (how mgmt packets and `bdaddr_t` carry them); nil for any
    /// other length.
    public init?(littleEndian bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.init(bdaddr: bdaddr_t(b: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5])))
    }

    /// The six wire bytes, least significant first.
    public var littleEndianBytes: [UInt8] { Array(bytes.reversed()) }

    /// 00:00:00:00:00:00, which the management interface uses for "no address".
    public static let any = BluetoothAddress(bdaddr: bdaddr_t(b: (0, 0, 0, 0, 0, 0)))
}

extension PayloadReader {
    /// A six-byte little-endian Bluetooth address.
    mutating func bluetoothAddress(_ field: String) throws(CharacteristicDecodeError) -> BluetoothAddress {
        let raw = try bytes(6, field)
        guard let address = BluetoothAddress(littleEndian: raw) else {
            throw error(field, .truncated(needed: 6, available: raw.count))
        }
        return address
    }

    /// Address (6 octets) and Address_Type (1 octet), as most management commands and events carry a peer.
    mutating func deviceAddress(_ field: String = "address") throws(CharacteristicDecodeError) -> DeviceAddress {
        let address = try bluetoothAddress(field)
        let typeOffset = offset
        let raw = try uint8("\(field)_type")
        guard let type = BluetoothAddressType(rawValue: raw) else {
            throw error("\(field)_type", .reservedValue(UInt64(raw)), at: typeOffset)
        }
        return DeviceAddress(address, type: type)
    }
}

extension PayloadWriter {
    mutating func deviceAddress(_ device: DeviceAddress) { append(device.wireBytes) }
}
