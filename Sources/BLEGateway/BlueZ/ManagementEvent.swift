/// A decoded management event (doc/mgmt-api.txt, "Events"). Events gatewayd does not act on are kept raw, and a
/// packet that does not decode is kept with the reason, so nothing the kernel says is silently dropped.
///
/// Fixed-layout events may carry bytes after the fields listed here: newer kernels have appended fields before, and
/// bluetoothd also only checks the minimum length, so a pairing request is never refused for a longer packet.
public enum ManagementEvent: Equatable, Sendable {
    /// 0x0001 Command_Opcode (2), Status (1), Return_Parameters.
    case commandComplete(opcode: ManagementOpcode, status: ManagementStatus, returnParameters: [UInt8])
    /// 0x0002 Command_Opcode (2), Status (1).
    case commandStatus(opcode: ManagementOpcode, status: ManagementStatus)
    /// 0x0003 Error_Code (1): the controller's HCI Hardware Error.
    case controllerError(code: UInt8)
    /// 0x0004, no parameters; the packet's index is the new controller.
    case indexAdded
    /// 0x0005, no parameters.
    case indexRemoved
    /// 0x0006 Current_Settings (4).
    case newSettings(ControllerSettings)
    /// 0x000A Store_Hint (1) + a Long Term Key (36).
    case newLongTermKey(storeHint: Bool, key: LongTermKey)
    /// 0x000B Address, Address_Type, Flags (4), EIR_Data_Length (2), EIR_Data.
    case deviceConnected(DeviceAddress, flags: UInt32, eir: [UInt8])
    /// 0x000C Address, Address_Type, Reason (1).
    case deviceDisconnected(DeviceAddress, reason: DisconnectReason)
    /// 0x000D Address, Address_Type, Status (1).
    case connectFailed(DeviceAddress, status: ManagementStatus)
    /// 0x000F Address, Address_Type, Confirm_Hint (1), Value (4). Hint 1: a plain yes/no (Just Works).
    case userConfirmationRequest(DeviceAddress, confirmHint: Bool, value: UInt32)
    /// 0x0010 Address, Address_Type.
    case userPasskeyRequest(DeviceAddress)
    /// 0x0011 Address, Address_Type, Status (1).
    case authenticationFailed(DeviceAddress, status: ManagementStatus)
    /// 0x0012 Address, Address_Type, RSSI (1), Flags (4), EIR_Data_Length (2), EIR_Data.
    case deviceFound(DeviceFound)
    /// 0x0013 Address_Type (1), Discovering (1).
    case discovering(DiscoveryAddressTypes, active: Bool)
    /// 0x0016 Address, Address_Type (sent to the other management sockets).
    case deviceUnpaired(DeviceAddress)
    /// 0x0017 Address, Address_Type, Passkey (4), Entered (1). Needs no reply.
    case passkeyNotify(DeviceAddress, passkey: UInt32, entered: UInt8)
    /// 0x0018 Store_Hint (1), Random_Address (6), then an Identity Resolving Key (23).
    case newIdentityResolvingKey(storeHint: Bool, randomAddress: BluetoothAddress, key: IdentityResolvingKey)
    /// Any other event, parameters untouched.
    case unknown(ManagementEventCode, parameters: [UInt8])
    /// A packet that did not decode: the code, the raw parameters and what was wrong.
    case malformed(ManagementEventCode, parameters: [UInt8], error: CharacteristicDecodeError)

    /// Decodes the parameters of event `code`; unknown codes become `.unknown`, never an error.
    public init(code: ManagementEventCode, parameters: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(parameters, characteristic: "mgmt \(code.name) event")
        switch code {
        case .commandComplete:
            let opcode = ManagementOpcode(rawValue: try reader.uint16("command_opcode"))
            let status = ManagementStatus(rawValue: try reader.uint8("status"))
            self = .commandComplete(
                opcode: opcode, status: status,
                returnParameters: try reader.bytes(reader.remaining, "return_parameters"))
        case .commandStatus:
            let opcode = ManagementOpcode(rawValue: try reader.uint16("command_opcode"))
            self = .commandStatus(opcode: opcode, status: ManagementStatus(rawValue: try reader.uint8("status")))
        case .controllerError:
            self = .controllerError(code: try reader.uint8("error_code"))
        case .indexAdded:
            self = .indexAdded
        case .indexRemoved:
            self = .indexRemoved
        case .newSettings:
            self = .newSettings(try ControllerSettings(&reader, "current_settings"))
        case .newLongTermKey:
            let hint = try reader.uint8("store_hint")
            self = .newLongTermKey(storeHint: hint != 0, key: try LongTermKey(&reader))
        case .deviceConnected:
            let device = try reader.deviceAddress()
            let flags = try reader.uint32("flags")
            self = .deviceConnected(device, flags: flags, eir: try Self.eir(&reader))
        case .deviceDisconnected:
            let device = try reader.deviceAddress()
            self = .deviceDisconnected(device, reason: DisconnectReason(rawValue: try reader.uint8("reason")))
        case .connectFailed:
            let device = try reader.deviceAddress()
            self = .connectFailed(device, status: ManagementStatus(rawValue: try reader.uint8("status")))
        case .userConfirmationRequest:
            let device = try reader.deviceAddress()
            let hint = try reader.uint8("confirm_hint")
            self = .userConfirmationRequest(device, confirmHint: hint == 1, value: try reader.uint32("value"))
        case .userPasskeyRequest:
            self = .userPasskeyRequest(try reader.deviceAddress())
        case .authenticationFailed:
            let device = try reader.deviceAddress()
            self = .authenticationFailed(device, status: ManagementStatus(rawValue: try reader.uint8("status")))
        case .deviceFound:
            let device = try reader.deviceAddress()
            let rssi = try reader.int8("rssi")
            let flags = DeviceFoundFlags(rawValue: try reader.uint32("flags"))
            self = .deviceFound(DeviceFound(device: device, rawRSSI: rssi, flags: flags, eir: try Self.eir(&reader)))
        case .discovering:
            let types = DiscoveryAddressTypes(rawValue: try reader.uint8("address_type"))
            self = .discovering(types, active: try reader.uint8("discovering") != 0)
        case .deviceUnpaired:
            self = .deviceUnpaired(try reader.deviceAddress())
        case .passkeyNotify:
            let device = try reader.deviceAddress()
            let passkey = try reader.uint32("passkey")
            self = .passkeyNotify(device, passkey: passkey, entered: try reader.uint8("entered"))
        case .newIdentityResolvingKey:
            let hint = try reader.uint8("store_hint")
            let random = try reader.bluetoothAddress("random_address")
            self = .newIdentityResolvingKey(
                storeHint: hint != 0, randomAddress: random, key: try IdentityResolvingKey(&reader))
        default:
            self = .unknown(code, parameters: parameters)
        }
    }

    /// Decodes, keeping a packet that does not decode as `.malformed`.
    public static func decodeOrKeep(code: ManagementEventCode, parameters: [UInt8]) -> ManagementEvent {
        do {
            return try ManagementEvent(code: code, parameters: parameters)
        } catch {
            return .malformed(code, parameters: parameters, error: error)
        }
    }

    /// EIR_Data_Length (2) then that many bytes: a length past the end is truncation, not a shorter EIR.
    private static func eir(_ reader: inout PayloadReader) throws(CharacteristicDecodeError) -> [UInt8] {
        let length = Int(try reader.uint16("eir_data_length"))
        return try reader.bytes(length, "eir_data")
    }

    /// The event's wire form (its code and parameters): what the fake kernel in tests sends, and what a log can
    /// show for an event gatewayd reacted to.
    public var encoded: (code: ManagementEventCode, parameters: [UInt8]) {
        var writer = PayloadWriter()
        let code: ManagementEventCode
        switch self {
        case .commandComplete(let opcode, let status, let returnParameters):
            code = .commandComplete
            writer.uint16(opcode.rawValue)
            writer.uint8(status.rawValue)
            writer.append(returnParameters)
        case .commandStatus(let opcode, let status):
            code = .commandStatus
            writer.uint16(opcode.rawValue)
            writer.uint8(status.rawValue)
        case .controllerError(let value):
            code = .controllerError
            writer.uint8(value)
        case .indexAdded: code = .indexAdded
        case .indexRemoved: code = .indexRemoved
        case .newSettings(let settings):
            code = .newSettings
            writer.uint32(settings.rawValue)
        case .newLongTermKey(let hint, let key):
            code = .newLongTermKey
            writer.uint8(hint ? 1 : 0)
            key.write(to: &writer)
        case .deviceConnected(let device, let flags, let eir):
            code = .deviceConnected
            writer.deviceAddress(device)
            writer.uint32(flags)
            writer.uint16(UInt16(truncatingIfNeeded: eir.count))
            writer.append(eir)
        case .deviceDisconnected(let device, let reason):
            code = .deviceDisconnected
            writer.deviceAddress(device)
            writer.uint8(reason.rawValue)
        case .connectFailed(let device, let status):
            code = .connectFailed
            writer.deviceAddress(device)
            writer.uint8(status.rawValue)
        case .userConfirmationRequest(let device, let hint, let value):
            code = .userConfirmationRequest
            writer.deviceAddress(device)
            writer.uint8(hint ? 1 : 0)
            writer.uint32(value)
        case .userPasskeyRequest(let device):
            code = .userPasskeyRequest
            writer.deviceAddress(device)
        case .authenticationFailed(let device, let status):
            code = .authenticationFailed
            writer.deviceAddress(device)
            writer.uint8(status.rawValue)
        case .deviceFound(let found):
            code = .deviceFound
            writer.deviceAddress(found.device)
            writer.int8(found.rawRSSI)
            writer.uint32(found.flags.rawValue)
            writer.uint16(UInt16(truncatingIfNeeded: found.eir.count))
            writer.append(found.eir)
        case .discovering(let types, let active):
            code = .discovering
            writer.uint8(types.rawValue)
            writer.uint8(active ? 1 : 0)
        case .deviceUnpaired(let device):
            code = .deviceUnpaired
            writer.deviceAddress(device)
        case .passkeyNotify(let device, let passkey, let entered):
            code = .passkeyNotify
            writer.deviceAddress(device)
            writer.uint32(passkey)
            writer.uint8(entered)
        case .newIdentityResolvingKey(let hint, let random, let key):
            code = .newIdentityResolvingKey
            writer.uint8(hint ? 1 : 0)
            writer.append(random.littleEndianBytes)
            key.write(to: &writer)
        case .unknown(let unknownCode, let parameters), .malformed(let unknownCode, let parameters, _):
            code = unknownCode
            writer.append(parameters)
        }
        return (code, writer.bytes)
    }
}

/// One event as it arrived: which controller it concerns, and the event.
public struct ManagementEventPacket: Equatable, Sendable {
    public var index: UInt16
    public var event: ManagementEvent

    public init(index: UInt16, event: ManagementEvent) {
        self.index = index
        self.event = event
    }

    /// Decodes a whole received packet; a broken header becomes a `.malformed` event on no controller.
    public init(decoding bytes: [UInt8]) {
        do {
            let packet = try ManagementPacket(decoding: bytes)
            index = packet.index
            event = .decodeOrKeep(code: ManagementEventCode(rawValue: packet.code), parameters: packet.parameters)
        } catch {
            let code = bytes.count >= 2 ? UInt16(bytes[0]) | UInt16(bytes[1]) << 8 : 0
            let index = bytes.count >= 4 ? UInt16(bytes[2]) | UInt16(bytes[3]) << 8 : ManagementPacket.noController
            self.index = index
            event = .malformed(ManagementEventCode(rawValue: code), parameters: bytes, error: error)
        }
    }

    /// The wire form of the whole packet.
    public func encoded() -> [UInt8] {
        let (code, parameters) = event.encoded
        var writer = PayloadWriter()
        writer.uint16(code.rawValue)
        writer.uint16(index)
        writer.uint16(UInt16(truncatingIfNeeded: parameters.count))
        writer.append(parameters)
        return writer.bytes
    }
}

/// Device Disconnected's Reason.
public struct DisconnectReason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let unspecified = Self(rawValue: 0)
    public static let connectionTimeout = Self(rawValue: 1)
    public static let localHost = Self(rawValue: 2)
    public static let remoteHost = Self(rawValue: 3)
    public static let authenticationFailure = Self(rawValue: 4)
    public static let localHostSuspend = Self(rawValue: 5)

    public var description: String {
        switch self {
        case .unspecified: "unspecified"
        case .connectionTimeout: "connection timeout (out of range?)"
        case .localHost: "terminated by the local host"
        case .remoteHost: "terminated by the remote device"
        case .authenticationFailure: "terminated after an authentication failure"
        case .localHostSuspend: "terminated by the local host for suspend"
        default: "reason 0x\(ManagementFormat.hex(rawValue))"
        }
    }
}

/// Device Found's Flags.
public struct DeviceFoundFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let confirmName = Self(rawValue: 1 << 0)
    public static let legacyPairing = Self(rawValue: 1 << 1)
    /// A broadcaster: it will not accept a connection.
    public static let notConnectable = Self(rawValue: 1 << 2)
    public static let nameRequestFailed = Self(rawValue: 1 << 4)
    public static let scanResponse = Self(rawValue: 1 << 5)
}

/// A Device Found event: who advertised, how loud, and the advertising + scan response data (kept raw; parse it
/// with `advertisingData`, which may fail without losing the sighting).
public struct DeviceFound: Equatable, Sendable {
    public var device: DeviceAddress
    /// RSSI in dBm as sent; 127 means "not available".
    public var rawRSSI: Int8
    public var flags: DeviceFoundFlags
    public var eir: [UInt8]

    public init(device: DeviceAddress, rawRSSI: Int8, flags: DeviceFoundFlags = [], eir: [UInt8]) {
        self.device = device
        self.rawRSSI = rawRSSI
        self.flags = flags
        self.eir = eir
    }

    /// RSSI in dBm, nil when the controller could not measure it.
    public var rssi: Int8? { rawRSSI == 127 ? nil : rawRSSI }

    public var advertisingData: AdvertisingData {
        get throws(CharacteristicDecodeError) { try AdvertisingData(parsing: eir) }
    }
}
