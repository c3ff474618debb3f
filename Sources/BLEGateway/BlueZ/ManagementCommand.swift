/// The management commands gatewayd sends, each with its parameter layout from doc/mgmt-api.txt. Encoding is
/// pure so every layout is checked byte for byte in tests without a kernel.
public enum ManagementCommand: Equatable, Sendable {
    /// 0x0001, no parameters; returns `ManagementVersion`.
    case readVersion
    /// 0x0003, no parameters; returns the controller indexes.
    case readControllerIndexList
    /// 0x0004, no parameters; returns `ControllerInfo`.
    case readControllerInfo
    /// 0x0005 Powered (1); returns Current_Settings.
    case setPowered(Bool)
    /// 0x0007 Connectable (1); returns Current_Settings.
    case setConnectable(Bool)
    /// 0x0009 Bondable (1); returns Current_Settings.
    case setBondable(Bool)
    /// 0x000D Low_Energy (1); returns Current_Settings.
    case setLowEnergy(Bool)
    /// 0x0013 Key_Count (2) then 36 bytes per key; no return parameters. Replaces the kernel's whole list.
    case loadLongTermKeys([LongTermKey])
    /// 0x0014 Address (6) + Address_Type (1); returns the address.
    case disconnect(DeviceAddress)
    /// 0x0018 IO_Capability (1); no return parameters.
    case setIOCapability(IOCapability)
    /// 0x0019 Address (6) + Address_Type (1) + IO_Capability (1); returns the (identity) address. Completes only
    /// when pairing ends, after any User Confirmation / Passkey exchange.
    case pairDevice(DeviceAddress, ioCapability: IOCapability)
    /// 0x001A Address + Address_Type; returns the address.
    case cancelPairDevice(DeviceAddress)
    /// 0x001B Address + Address_Type + Disconnect (1); returns the address.
    case unpairDevice(DeviceAddress, disconnect: Bool)
    /// 0x001C Address + Address_Type; returns the address.
    case userConfirmationReply(DeviceAddress)
    /// 0x001D Address + Address_Type; returns the address.
    case userConfirmationNegativeReply(DeviceAddress)
    /// 0x001E Address + Address_Type + Passkey (4); returns the address.
    case userPasskeyReply(DeviceAddress, passkey: UInt32)
    /// 0x001F Address + Address_Type; returns the address.
    case userPasskeyNegativeReply(DeviceAddress)
    /// 0x0023 Address_Type bit set (1); returns it.
    case startDiscovery(DiscoveryAddressTypes)
    /// 0x0024 Address_Type bit set (1); returns it.
    case stopDiscovery(DiscoveryAddressTypes)
    /// 0x0029 Advertising (1): 0 off, 1 on, 2 connectable; returns Current_Settings.
    case setAdvertising(AdvertisingMode)
    /// 0x002D Secure_Connections (1): 0 off, 1 on (LE Secure Connections when the peer offers them), 2 only;
    /// returns Current_Settings.
    case setSecureConnections(UInt8)
    /// 0x0030 Key_Count (2) then 23 bytes per key; no return parameters. Replaces the kernel's whole list.
    case loadIdentityResolvingKeys([IdentityResolvingKey])
    /// 0x003E Instance (1), Flags (4), Duration (2), Timeout (2), Adv_Data_Len (1), Scan_Rsp_Len (1), data;
    /// returns the instance.
    case addAdvertising(AdvertisingInstance)
    /// 0x003F Instance (1), 0 = all; returns the instance.
    case removeAdvertising(instance: UInt8)

    public var opcode: ManagementOpcode {
        switch self {
        case .readVersion: .readVersion
        case .readControllerIndexList: .readControllerIndexList
        case .readControllerInfo: .readControllerInfo
        case .setPowered: .setPowered
        case .setConnectable: .setConnectable
        case .setBondable: .setBondable
        case .setLowEnergy: .setLowEnergy
        case .loadLongTermKeys: .loadLongTermKeys
        case .disconnect: .disconnect
        case .setIOCapability: .setIOCapability
        case .pairDevice: .pairDevice
        case .cancelPairDevice: .cancelPairDevice
        case .unpairDevice: .unpairDevice
        case .userConfirmationReply: .userConfirmationReply
        case .userConfirmationNegativeReply: .userConfirmationNegativeReply
        case .userPasskeyReply: .userPasskeyReply
        case .userPasskeyNegativeReply: .userPasskeyNegativeReply
        case .startDiscovery: .startDiscovery
        case .stopDiscovery: .stopDiscovery
        case .setAdvertising: .setAdvertising
        case .setSecureConnections: .setSecureConnections
        case .loadIdentityResolvingKeys: .loadIdentityResolvingKeys
        case .addAdvertising: .addAdvertising
        case .removeAdvertising: .removeAdvertising
        }
    }

    /// The peer this command is about, if any: its reply starts with the same address, which lets replies to
    /// concurrent pairings with different devices find their own command.
    public var device: DeviceAddress? {
        switch self {
        case .disconnect(let device), .pairDevice(let device, _), .cancelPairDevice(let device),
            .unpairDevice(let device, _), .userConfirmationReply(let device),
            .userConfirmationNegativeReply(let device),
            .userPasskeyReply(let device, _), .userPasskeyNegativeReply(let device):
            device
        default: nil
        }
    }

    /// The parameter block; refuses values the kernel would reject as Invalid Parameters, with the reason.
    public func parameters() throws(ManagementError) -> [UInt8] {
        var writer = PayloadWriter()
        switch self {
        case .readVersion, .readControllerIndexList, .readControllerInfo:
            break
        case .setPowered(let on), .setConnectable(let on), .setBondable(let on), .setLowEnergy(let on):
            writer.uint8(on ? 1 : 0)
        case .loadLongTermKeys(let keys):
            try checkCount(keys.count, entrySize: LongTermKey.wireSize)
            writer.uint16(UInt16(keys.count))
            for key in keys {
                try check(key.encryptionSize <= 16, "encryption size \(key.encryptionSize) exceeds 16 bytes")
                key.write(to: &writer)
            }
        case .disconnect(let device), .cancelPairDevice(let device), .userConfirmationReply(let device),
            .userConfirmationNegativeReply(let device), .userPasskeyNegativeReply(let device):
            writer.deviceAddress(device)
        case .setIOCapability(let capability):
            writer.uint8(capability.rawValue)
        case .pairDevice(let device, let capability):
            writer.deviceAddress(device)
            writer.uint8(capability.rawValue)
        case .unpairDevice(let device, let disconnect):
            writer.deviceAddress(device)
            writer.uint8(disconnect ? 1 : 0)
        case .userPasskeyReply(let device, let passkey):
            try check(passkey <= 999_999, "passkey \(passkey) has more than six digits")
            writer.deviceAddress(device)
            writer.uint32(passkey)
        case .startDiscovery(let types), .stopDiscovery(let types):
            try check(!types.isEmpty, "no address type to discover")
            writer.uint8(types.rawValue)
        case .setAdvertising(let mode):
            writer.uint8(mode.rawValue)
        case .setSecureConnections(let mode):
            try check(mode <= 2, "Secure Connections mode \(mode) is not 0 (off), 1 (on) or 2 (only)")
            writer.uint8(mode)
        case .loadIdentityResolvingKeys(let keys):
            try checkCount(keys.count, entrySize: IdentityResolvingKey.wireSize)
            writer.uint16(UInt16(keys.count))
            for key in keys { key.write(to: &writer) }
        case .addAdvertising(let instance):
            try instance.validate()
            writer.uint8(instance.instance)
            writer.uint32(instance.flags.rawValue)
            writer.uint16(instance.duration)
            writer.uint16(instance.timeout)
            writer.uint8(UInt8(instance.advertisingData.count))
            writer.uint8(UInt8(instance.scanResponse.count))
            writer.append(instance.advertisingData)
            writer.append(instance.scanResponse)
        case .removeAdvertising(let instance):
            writer.uint8(instance)
        }
        return writer.bytes
    }

    /// The whole packet for controller `index` (`ManagementPacket.noController` for the non-controller commands).
    public func packet(index: UInt16) throws(ManagementError) -> ManagementPacket {
        try ManagementPacket(code: opcode.rawValue, index: index, parameters: parameters())
    }

    private func check(_ condition: Bool, _ reason: @autoclosure () -> String) throws(ManagementError) {
        guard condition else { throw .invalidCommand(opcode, reason: reason()) }
    }

    private func checkCount(_ count: Int, entrySize: Int) throws(ManagementError) {
        let limit = (ManagementPacket.maximumParameterLength - 2) / entrySize
        try check(count <= limit, "\(count) keys do not fit in one packet (at most \(limit))")
    }
}

/// A controller index plus the command for it: what `BondStore.loadCommands(index:)` hands to the management actor.
public struct ManagementRequest: Equatable, Sendable {
    public var index: UInt16
    public var command: ManagementCommand

    public init(index: UInt16, command: ManagementCommand) {
        self.index = index
        self.command = command
    }
}

// MARK: - Parameter types

/// SMP/SSP IO capabilities (Set IO Capability, Pair Device). A headless gateway is `noInputNoOutput`, which makes
/// LE pairing "Just Works" — which kernels still hand to user space as a yes/no User Confirmation Request.
public enum IOCapability: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case displayOnly = 0
    case displayYesNo = 1
    case keyboardOnly = 2
    case noInputNoOutput = 3
    case keyboardDisplay = 4

    public var description: String {
        switch self {
        case .displayOnly: "DisplayOnly"
        case .displayYesNo: "DisplayYesNo"
        case .keyboardOnly: "KeyboardOnly"
        case .noInputNoOutput: "NoInputNoOutput"
        case .keyboardDisplay: "KeyboardDisplay"
        }
    }
}

/// Start/Stop Discovery's Address_Type bit set: bit 0 BR/EDR, bit 1 LE public, bit 2 LE random.
public struct DiscoveryAddressTypes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let brEdr = Self(rawValue: 1 << 0)
    public static let lePublic = Self(rawValue: 1 << 1)
    public static let leRandom = Self(rawValue: 1 << 2)
    /// 0x06: what an LE-only gateway scans for.
    public static let le: Self = [.lePublic, .leRandom]
}

/// Set Advertising's values: 0x02 advertises connectable without changing the global connectable setting,
/// which the specification recommends for peripheral mode.
public enum AdvertisingMode: UInt8, Sendable {
    case off = 0
    case on = 1
    case connectable = 2
}

/// The Current_Settings / Supported_Settings bit set (Read Controller Information, New Settings, Set … replies).
public struct ControllerSettings: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let powered = Self(rawValue: 1 << 0)
    public static let connectable = Self(rawValue: 1 << 1)
    public static let fastConnectable = Self(rawValue: 1 << 2)
    public static let discoverable = Self(rawValue: 1 << 3)
    public static let bondable = Self(rawValue: 1 << 4)
    public static let linkLevelSecurity = Self(rawValue: 1 << 5)
    public static let secureSimplePairing = Self(rawValue: 1 << 6)
    public static let brEdr = Self(rawValue: 1 << 7)
    public static let highSpeed = Self(rawValue: 1 << 8)
    public static let lowEnergy = Self(rawValue: 1 << 9)
    public static let advertising = Self(rawValue: 1 << 10)
    public static let secureConnections = Self(rawValue: 1 << 11)
    public static let debugKeys = Self(rawValue: 1 << 12)
    public static let privacy = Self(rawValue: 1 << 13)
    public static let controllerConfiguration = Self(rawValue: 1 << 14)
    public static let staticAddress = Self(rawValue: 1 << 15)
    public static let phyConfiguration = Self(rawValue: 1 << 16)
    public static let widebandSpeech = Self(rawValue: 1 << 17)

    private static let bitNames = [
        "powered", "connectable", "fast-connectable", "discoverable", "bondable", "link-security",
        "ssp", "br/edr", "hs", "le", "advertising", "secure-conn", "debug-keys", "privacy", "configuration",
        "static-addr", "phy-configuration", "wide-band-speech", "cis-central", "cis-peripheral",
        "iso-broadcaster", "sync-receiver",
    ]

    /// Names of the set bits, as btmgmt prints them; unknown bits as "bit N".
    public var names: [String] {
        (0..<32).compactMap { bit in
            guard rawValue & (1 << UInt32(bit)) != 0 else { return nil }
            return bit < Self.bitNames.count ? Self.bitNames[bit] : "bit \(bit)"
        }
    }

    public var description: String { names.isEmpty ? "none" : names.joined(separator: " ") }

    init(_ reader: inout PayloadReader, _ field: String) throws(CharacteristicDecodeError) {
        self.init(rawValue: try reader.uint32(field))
    }
}

/// An SMP Long Term Key as Load Long Term Keys takes it and New Long Term Key reports it (36 wire bytes).
public struct LongTermKey: Hashable, Sendable {
    static let wireSize = 36

    /// The peer's identity (public or static random address).
    public var device: DeviceAddress
    public var keyType: LongTermKeyType
    /// Which role uses the key: legacy pairing makes one key per role, LE Secure Connections one for both.
    public var central: Bool
    public var encryptionSize: UInt8
    public var encryptedDiversifier: UInt16
    public var randomNumber: UInt64
    /// The 16-byte key, in the order the kernel sends it.
    public var value: [UInt8]

    public init(
        device: DeviceAddress, keyType: LongTermKeyType, central: Bool, encryptionSize: UInt8,
        encryptedDiversifier: UInt16, randomNumber: UInt64, value: [UInt8]
    ) {
        self.device = device
        self.keyType = keyType
        self.central = central
        self.encryptionSize = encryptionSize
        self.encryptedDiversifier = encryptedDiversifier
        self.randomNumber = randomNumber
        self.value = value
    }

    init(_ reader: inout PayloadReader) throws(CharacteristicDecodeError) {
        device = try reader.deviceAddress()
        keyType = LongTermKeyType(rawValue: try reader.uint8("key_type"))
        let centralOffset = reader.offset
        let role = try reader.uint8("central")
        guard role <= 1 else { throw reader.error("central", .reservedValue(UInt64(role)), at: centralOffset) }
        central = role == 1
        encryptionSize = try reader.uint8("encryption_size")
        encryptedDiversifier = try reader.uint16("encryption_diversifier")
        randomNumber = try reader.unsigned(8, "random_number")
        value = try reader.bytes(16, "value")
    }

    func write(to writer: inout PayloadWriter) {
        writer.deviceAddress(device)
        writer.uint8(keyType.rawValue)
        writer.uint8(central ? 1 : 0)
        writer.uint8(encryptionSize)
        writer.uint16(encryptedDiversifier)
        writer.unsigned(randomNumber, 8)
        writer.append(Self.sixteen(value))
    }

    /// Exactly 16 bytes on the wire whatever the caller stored, so the layout can never shift.
    static func sixteen(_ value: [UInt8]) -> [UInt8] {
        Array((value + [UInt8](repeating: 0, count: 16)).prefix(16))
    }
}

/// Long Term Key types (New Long Term Key event). Raw values outside the list stay representable.
public struct LongTermKeyType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let unauthenticatedLegacy = Self(rawValue: 0x00)
    public static let authenticatedLegacy = Self(rawValue: 0x01)
    public static let unauthenticatedP256 = Self(rawValue: 0x02)
    public static let authenticatedP256 = Self(rawValue: 0x03)
    /// Generated with the published debug key pair: never persistent, never stored.
    public static let debugP256 = Self(rawValue: 0x04)

    public var description: String {
        switch self {
        case .unauthenticatedLegacy: "unauthenticated legacy"
        case .authenticatedLegacy: "authenticated legacy"
        case .unauthenticatedP256: "unauthenticated P-256"
        case .authenticatedP256: "authenticated P-256"
        case .debugP256: "debug P-256"
        default: "type 0x\(ManagementFormat.hex(rawValue))"
        }
    }
}

/// An Identity Resolving Key: lets the kernel recognise a device behind its changing private addresses.
public struct IdentityResolvingKey: Hashable, Sendable {
    static let wireSize = 23

    public var device: DeviceAddress
    public var value: [UInt8]

    public init(device: DeviceAddress, value: [UInt8]) {
        self.device = device
        self.value = value
    }

    init(_ reader: inout PayloadReader) throws(CharacteristicDecodeError) {
        device = try reader.deviceAddress()
        value = try reader.bytes(16, "value")
    }

    func write(to writer: inout PayloadWriter) {
        writer.deviceAddress(device)
        writer.append(LongTermKey.sixteen(value))
    }
}

/// Add Advertising's Flags bit set.
public struct AdvertisingInstanceFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let connectable = Self(rawValue: 1 << 0)
    /// The kernel prepends a Flags AD structure (general discoverable); the data must not carry its own.
    public static let discoverable = Self(rawValue: 1 << 1)
    public static let limitedDiscoverable = Self(rawValue: 1 << 2)
    public static let managedFlags = Self(rawValue: 1 << 3)
    public static let txPower = Self(rawValue: 1 << 4)
    public static let appearance = Self(rawValue: 1 << 5)
    public static let localName = Self(rawValue: 1 << 6)
    public static let secondaryLE1M = Self(rawValue: 1 << 7)
    public static let secondaryLE2M = Self(rawValue: 1 << 8)
    public static let secondaryLECoded = Self(rawValue: 1 << 9)
}

/// Add Advertising's parameters: how our simulated peripherals announce themselves in the test bed.
public struct AdvertisingInstance: Equatable, Sendable {
    /// 1…254 (0 is reserved for the kernel, 255 for future use).
    public var instance: UInt8
    public var flags: AdvertisingInstanceFlags
    /// Seconds per turn when several instances rotate; 0 = the default (2 s).
    public var duration: UInt16
    /// Seconds until the instance is removed; 0 = never.
    public var timeout: UInt16
    public var advertisingData: [UInt8]
    public var scanResponse: [UInt8]

    public init(
        instance: UInt8 = 1, flags: AdvertisingInstanceFlags = [.connectable, .discoverable], duration: UInt16 = 0,
        timeout: UInt16 = 0, advertisingData: [UInt8], scanResponse: [UInt8] = []
    ) {
        self.instance = instance
        self.flags = flags
        self.duration = duration
        self.timeout = timeout
        self.advertisingData = advertisingData
        self.scanResponse = scanResponse
    }

    /// The kernel's own checks (`tlv_data_is_valid`), done here so the error says which field is wrong instead of
    /// a bare "Invalid Parameters": lengths, well-formed AD structures, and no structure the kernel manages itself.
    func validate() throws(ManagementError) {
        func fail(_ reason: String) -> ManagementError { .invalidCommand(.addAdvertising, reason: reason) }
        guard (1...254).contains(instance) else { throw fail("advertising instance \(instance) is outside 1…254") }
        let flagsManaged = !flags.isDisjoint(with: [.discoverable, .limitedDiscoverable, .managedFlags])
        var advertisingLimit = 31
        if flagsManaged { advertisingLimit -= 3 }
        if flags.contains(.txPower) { advertisingLimit -= 3 }
        guard advertisingData.count <= advertisingLimit else {
            throw fail(
                "\(advertisingData.count) bytes of advertising data exceed the \(advertisingLimit) these flags leave")
        }
        guard scanResponse.count <= 31 else {
            throw fail("\(scanResponse.count) bytes of scan response exceed 31")
        }
        for (data, isAdvertising) in [(advertisingData, true), (scanResponse, false)] {
            let part = isAdvertising ? "advertising data" : "scan response"
            let parsed: AdvertisingData
            do {
                parsed = try AdvertisingData(parsing: data)
            } catch {
                throw fail("the \(part) is malformed: \(error)")
            }
            for structure in parsed.structures {
                switch structure.type {
                case AdvertisingData.ADType.flags where !isAdvertising || flagsManaged:
                    throw fail("the \(part) carries a Flags structure, which the kernel adds itself for these flags")
                case AdvertisingData.ADType.txPowerLevel where flags.contains(.txPower),
                    AdvertisingData.ADType.appearance where flags.contains(.appearance),
                    AdvertisingData.ADType.completeLocalName where flags.contains(.localName),
                    AdvertisingData.ADType.shortenedLocalName where flags.contains(.localName):
                    throw fail(
                        "the \(part) carries AD type 0x\(ManagementFormat.hex(structure.type)), which the kernel adds itself for these flags"
                    )
                default: break
                }
            }
        }
    }
}

// MARK: - Return parameters

/// Read Management Version Information's reply.
public struct ManagementVersion: Hashable, Sendable, CustomStringConvertible {
    public var version: UInt8
    public var revision: UInt16

    public init(version: UInt8, revision: UInt16) {
        self.version = version
        self.revision = revision
    }

    public init(returnParameters: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(returnParameters, characteristic: "mgmt Read Management Version reply")
        version = try reader.uint8("version")
        revision = try reader.uint16("revision")
    }

    public var description: String { "\(version).\(revision)" }
}

/// Read Controller Index List's reply: Num_Controllers (2) then one index (2) each.
public enum ControllerIndexList {
    public static func decode(_ returnParameters: [UInt8]) throws(CharacteristicDecodeError) -> [UInt16] {
        var reader = PayloadReader(returnParameters, characteristic: "mgmt Read Controller Index List reply")
        let count = Int(try reader.uint16("num_controllers"))
        var indexes: [UInt16] = []
        for _ in 0..<count { indexes.append(try reader.uint16("controller_index")) }
        return indexes
    }
}

/// Read Controller Information's reply (280 bytes).
public struct ControllerInfo: Hashable, Sendable {
    public var address: BluetoothAddress
    public var bluetoothVersion: UInt8
    public var manufacturer: UInt16
    public var supportedSettings: ControllerSettings
    public var currentSettings: ControllerSettings
    public var classOfDevice: UInt32
    public var name: String
    public var shortName: String

    public init(
        address: BluetoothAddress, bluetoothVersion: UInt8, manufacturer: UInt16, supportedSettings: ControllerSettings,
        currentSettings: ControllerSettings, classOfDevice: UInt32, name: String, shortName: String
    ) {
        self.address = address
        self.bluetoothVersion = bluetoothVersion
        self.manufacturer = manufacturer
        self.supportedSettings = supportedSettings
        self.currentSettings = currentSettings
        self.classOfDevice = classOfDevice
        self.name = name
        self.shortName = shortName
    }

    public init(returnParameters: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(returnParameters, characteristic: "mgmt Read Controller Information reply")
        address = try reader.bluetoothAddress("address")
        bluetoothVersion = try reader.uint8("bluetooth_version")
        manufacturer = try reader.uint16("manufacturer")
        supportedSettings = try ControllerSettings(&reader, "supported_settings")
        currentSettings = try ControllerSettings(&reader, "current_settings")
        classOfDevice = try reader.uint24("class_of_device")
        name = Self.text(try reader.bytes(249, "name"))
        shortName = Self.text(try reader.bytes(11, "short_name"))
    }

    /// The wire form, for the fake kernel in tests and for diagnostics.
    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.append(address.littleEndianBytes)
        writer.uint8(bluetoothVersion)
        writer.uint16(manufacturer)
        writer.uint32(supportedSettings.rawValue)
        writer.uint32(currentSettings.rawValue)
        writer.uint24(classOfDevice)
        writer.append(Self.field(name, size: 249))
        writer.append(Self.field(shortName, size: 11))
        return writer.bytes
    }

    /// A NUL-terminated fixed-size name field; bytes that are not UTF-8 become U+FFFD rather than failing.
    static func text(_ field: [UInt8]) -> String {
        let end = field.firstIndex(of: 0) ?? field.endIndex
        return String(decoding: field[..<end], as: UTF8.self)
    }

    static func field(_ text: String, size: Int) -> [UInt8] {
        var bytes = Array(text.utf8.prefix(size - 1))
        bytes += [UInt8](repeating: 0, count: size - bytes.count)
        return bytes
    }
}

extension DeviceAddress {
    /// The Address + Address_Type reply of Pair Device, Unpair Device, the User Confirmation/Passkey replies….
    public init(returnParameters: [UInt8], command: ManagementOpcode) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(returnParameters, characteristic: "mgmt \(command.name) reply")
        self = try reader.deviceAddress()
    }
}
