/// One packet on the BlueZ management channel (`HCI_CHANNEL_CONTROL`, doc/mgmt-api.txt "Packet Structures"):
/// a 6-byte little-endian header — command or event code, controller index, parameter length — then the
/// parameters. Commands and events share the layout, so one type carries both directions.
public struct ManagementPacket: Equatable, Sendable, CustomStringConvertible {
    public static let headerSize = 6
    /// The largest parameter block the 16-bit length field can announce.
    public static let maximumParameterLength = Int(UInt16.max)
    /// The controller index of commands and events that concern no controller (`<non-controller>`).
    public static let noController: UInt16 = 0xFFFF

    /// Command opcode (user space → kernel) or event code (kernel → user space).
    public let code: UInt16
    /// Controller index (hciN → N), or `noController`.
    public let index: UInt16
    public let parameters: [UInt8]

    /// Refuses a parameter block the length field cannot express, rather than truncating it on the wire.
    public init(code: UInt16, index: UInt16, parameters: [UInt8]) throws(ManagementError) {
        guard parameters.count <= Self.maximumParameterLength else {
            throw .invalidCommand(
                ManagementOpcode(rawValue: code),
                reason:
                    "its \(parameters.count) parameter bytes exceed the \(Self.maximumParameterLength) a packet can carry"
            )
        }
        self.code = code
        self.index = index
        self.parameters = parameters
    }

    /// Parses one received packet. The kernel sends exactly header + announced length, so a shorter packet is
    /// truncated and a longer one is refused as trailing bytes.
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: "mgmt packet")
        code = try reader.uint16("code")
        index = try reader.uint16("controller_index")
        let length = Int(try reader.uint16("parameter_length"))
        parameters = try reader.bytes(length, "parameters")
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint16(code)
        writer.uint16(index)
        writer.uint16(UInt16(truncatingIfNeeded: parameters.count))
        writer.append(parameters)
        return writer.bytes
    }

    public var description: String {
        "mgmt code 0x\(ManagementFormat.hex(code)) \(ManagementFormat.controller(index)) [\(HexBytes.text(parameters))]"
    }
}

/// A management command opcode. A struct rather than an enum so replies naming opcodes this file does not know
/// still decode.
public struct ManagementOpcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let readVersion = Self(rawValue: 0x0001)
    public static let readSupportedCommands = Self(rawValue: 0x0002)
    public static let readControllerIndexList = Self(rawValue: 0x0003)
    public static let readControllerInfo = Self(rawValue: 0x0004)
    public static let setPowered = Self(rawValue: 0x0005)
    public static let setDiscoverable = Self(rawValue: 0x0006)
    public static let setConnectable = Self(rawValue: 0x0007)
    public static let setFastConnectable = Self(rawValue: 0x0008)
    public static let setBondable = Self(rawValue: 0x0009)
    public static let setLowEnergy = Self(rawValue: 0x000D)
    public static let setLocalName = Self(rawValue: 0x000F)
    public static let loadLinkKeys = Self(rawValue: 0x0012)
    public static let loadLongTermKeys = Self(rawValue: 0x0013)
    public static let disconnect = Self(rawValue: 0x0014)
    public static let getConnections = Self(rawValue: 0x0015)
    public static let setIOCapability = Self(rawValue: 0x0018)
    public static let pairDevice = Self(rawValue: 0x0019)
    public static let cancelPairDevice = Self(rawValue: 0x001A)
    public static let unpairDevice = Self(rawValue: 0x001B)
    public static let userConfirmationReply = Self(rawValue: 0x001C)
    public static let userConfirmationNegativeReply = Self(rawValue: 0x001D)
    public static let userPasskeyReply = Self(rawValue: 0x001E)
    public static let userPasskeyNegativeReply = Self(rawValue: 0x001F)
    public static let startDiscovery = Self(rawValue: 0x0023)
    public static let stopDiscovery = Self(rawValue: 0x0024)
    public static let setAdvertising = Self(rawValue: 0x0029)
    public static let setSecureConnections = Self(rawValue: 0x002D)
    public static let setPrivacy = Self(rawValue: 0x002F)
    public static let loadIdentityResolvingKeys = Self(rawValue: 0x0030)
    public static let getConnectionInfo = Self(rawValue: 0x0031)
    public static let addDevice = Self(rawValue: 0x0033)
    public static let removeDevice = Self(rawValue: 0x0034)
    public static let readAdvertisingFeatures = Self(rawValue: 0x003D)
    public static let addAdvertising = Self(rawValue: 0x003E)
    public static let removeAdvertising = Self(rawValue: 0x003F)

    private static let names: [UInt16: String] = [
        0x0001: "Read Management Version Information", 0x0002: "Read Management Supported Commands",
        0x0003: "Read Controller Index List", 0x0004: "Read Controller Information", 0x0005: "Set Powered",
        0x0006: "Set Discoverable", 0x0007: "Set Connectable", 0x0008: "Set Fast Connectable",
        0x0009: "Set Bondable", 0x000A: "Set Link Security", 0x000B: "Set Secure Simple Pairing",
        0x000C: "Set High Speed", 0x000D: "Set Low Energy", 0x000E: "Set Device Class", 0x000F: "Set Local Name",
        0x0010: "Add UUID", 0x0011: "Remove UUID", 0x0012: "Load Link Keys", 0x0013: "Load Long Term Keys",
        0x0014: "Disconnect", 0x0015: "Get Connections", 0x0016: "PIN Code Reply",
        0x0017: "PIN Code Negative Reply", 0x0018: "Set IO Capability", 0x0019: "Pair Device",
        0x001A: "Cancel Pair Device", 0x001B: "Unpair Device", 0x001C: "User Confirmation Reply",
        0x001D: "User Confirmation Negative Reply", 0x001E: "User Passkey Reply",
        0x001F: "User Passkey Negative Reply", 0x0020: "Read Local Out Of Band Data",
        0x0021: "Add Remote Out Of Band Data", 0x0022: "Remove Remote Out Of Band Data",
        0x0023: "Start Discovery", 0x0024: "Stop Discovery", 0x0025: "Confirm Name", 0x0026: "Block Device",
        0x0027: "Unblock Device", 0x0028: "Set Device ID", 0x0029: "Set Advertising", 0x002A: "Set BR/EDR",
        0x002B: "Set Static Address", 0x002C: "Set Scan Parameters", 0x002D: "Set Secure Connections",
        0x002E: "Set Debug Keys", 0x002F: "Set Privacy", 0x0030: "Load Identity Resolving Keys",
        0x0031: "Get Connection Information", 0x0032: "Get Clock Information", 0x0033: "Add Device",
        0x0034: "Remove Device", 0x0035: "Load Connection Parameters", 0x003C: "Read Extended Controller Index List",
        0x003D: "Read Advertising Features", 0x003E: "Add Advertising", 0x003F: "Remove Advertising",
        0x0040: "Get Advertising Size Information",
    ]

    public var name: String { Self.names[rawValue] ?? "command 0x\(ManagementFormat.hex(rawValue))" }
    public var description: String { "\(name) (0x\(ManagementFormat.hex(rawValue)))" }
}

/// A management event code; unknown codes stay representable so their events are kept raw, not dropped.
public struct ManagementEventCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let commandComplete = Self(rawValue: 0x0001)
    public static let commandStatus = Self(rawValue: 0x0002)
    public static let controllerError = Self(rawValue: 0x0003)
    public static let indexAdded = Self(rawValue: 0x0004)
    public static let indexRemoved = Self(rawValue: 0x0005)
    public static let newSettings = Self(rawValue: 0x0006)
    public static let newLongTermKey = Self(rawValue: 0x000A)
    public static let deviceConnected = Self(rawValue: 0x000B)
    public static let deviceDisconnected = Self(rawValue: 0x000C)
    public static let connectFailed = Self(rawValue: 0x000D)
    public static let userConfirmationRequest = Self(rawValue: 0x000F)
    public static let userPasskeyRequest = Self(rawValue: 0x0010)
    public static let authenticationFailed = Self(rawValue: 0x0011)
    public static let deviceFound = Self(rawValue: 0x0012)
    public static let discovering = Self(rawValue: 0x0013)
    public static let deviceUnpaired = Self(rawValue: 0x0016)
    public static let passkeyNotify = Self(rawValue: 0x0017)
    public static let newIdentityResolvingKey = Self(rawValue: 0x0018)

    private static let names: [UInt16: String] = [
        0x0001: "Command Complete", 0x0002: "Command Status", 0x0003: "Controller Error", 0x0004: "Index Added",
        0x0005: "Index Removed", 0x0006: "New Settings", 0x0007: "Class Of Device Changed",
        0x0008: "Local Name Changed", 0x0009: "New Link Key", 0x000A: "New Long Term Key",
        0x000B: "Device Connected", 0x000C: "Device Disconnected", 0x000D: "Connect Failed",
        0x000E: "PIN Code Request", 0x000F: "User Confirmation Request", 0x0010: "User Passkey Request",
        0x0011: "Authentication Failed", 0x0012: "Device Found", 0x0013: "Discovering", 0x0014: "Device Blocked",
        0x0015: "Device Unblocked", 0x0016: "Device Unpaired", 0x0017: "Passkey Notify",
        0x0018: "New Identity Resolving Key", 0x0019: "New Signature Resolving Key", 0x001A: "Device Added",
        0x001B: "Device Removed", 0x001C: "New Connection Parameter", 0x0023: "Advertising Added",
        0x0024: "Advertising Removed",
    ]

    public var name: String { Self.names[rawValue] ?? "event 0x\(ManagementFormat.hex(rawValue))" }
    public var description: String { "\(name) (0x\(ManagementFormat.hex(rawValue)))" }
}

/// The status of Command Complete / Command Status (doc/mgmt-api.txt "Error Codes", 0x00–0x14). Unknown values are
/// kept so a newer kernel's status is reported by number instead of failing to decode.
public struct ManagementStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let success = Self(rawValue: 0x00)
    public static let unknownCommand = Self(rawValue: 0x01)
    public static let notConnected = Self(rawValue: 0x02)
    public static let failed = Self(rawValue: 0x03)
    public static let connectFailed = Self(rawValue: 0x04)
    public static let authenticationFailed = Self(rawValue: 0x05)
    public static let notPaired = Self(rawValue: 0x06)
    public static let noResources = Self(rawValue: 0x07)
    public static let timeout = Self(rawValue: 0x08)
    public static let alreadyConnected = Self(rawValue: 0x09)
    public static let busy = Self(rawValue: 0x0A)
    public static let rejected = Self(rawValue: 0x0B)
    public static let notSupported = Self(rawValue: 0x0C)
    public static let invalidParameters = Self(rawValue: 0x0D)
    public static let disconnected = Self(rawValue: 0x0E)
    public static let notPowered = Self(rawValue: 0x0F)
    public static let cancelled = Self(rawValue: 0x10)
    public static let invalidIndex = Self(rawValue: 0x11)
    public static let rfKilled = Self(rawValue: 0x12)
    public static let alreadyPaired = Self(rawValue: 0x13)
    public static let permissionDenied = Self(rawValue: 0x14)

    private static let names = [
        "Success", "Unknown Command", "Not Connected", "Failed", "Connect Failed", "Authentication Failed",
        "Not Paired", "No Resources", "Timeout", "Already Connected", "Busy", "Rejected", "Not Supported",
        "Invalid Parameters", "Disconnected", "Not Powered", "Cancelled", "Invalid Index", "RFKilled",
        "Already Paired", "Permission Denied",
    ]

    /// The specification's name ("Authentication Failed").
    public var name: String {
        Int(rawValue) < Self.names.count ? Self.names[Int(rawValue)] : "unknown status"
    }

    /// What an operator can do about it, where there is something to do.
    public var advice: String? {
        switch self {
        case .rfKilled: "the radio is blocked by rfkill; run `rfkill unblock bluetooth`"
        case .notPowered: "the controller is powered off; power it on first"
        case .permissionDenied:
            "the management socket is not trusted; gatewayd needs CAP_NET_ADMIN (root, or AmbientCapabilities=CAP_NET_ADMIN)"
        case .invalidIndex: "no controller has this index (was the adapter unplugged? list them with `btmgmt info`)"
        case .busy:
            "the controller is busy with another operation (another process such as bluetoothd may be using it); retry"
        case .authenticationFailed:
            "pairing failed; the device may have dropped its bond (remove ours with unpair and pair again) or nobody answered the pairing request"
        case .alreadyPaired: "the device is already paired; unpair it first to pair again"
        case .notSupported: "the controller or kernel does not support this (is it a Bluetooth LE controller?)"
        case .connectFailed: "the device could not be reached; is it advertising and in range?"
        default: nil
        }
    }

    public var description: String { "\(name) (0x\(ManagementFormat.hex(rawValue)))" }
}

/// Small formatting helpers shared by the management types.
enum ManagementFormat {
    static func hex(_ value: UInt16) -> String { BluetoothUUID.hex(UInt64(value), digits: 4) }
    static func hex(_ value: UInt8) -> String { BluetoothUUID.hex(UInt64(value), digits: 2) }
    static func hex(_ value: UInt32) -> String { BluetoothUUID.hex(UInt64(value), digits: 8) }

    /// "hci0", or "no controller" for 0xFFFF.
    static func controller(_ index: UInt16) -> String {
        index == ManagementPacket.noController ? "no controller" : "hci\(index)"
    }
}
