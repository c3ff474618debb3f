/// ATT opcodes (Bluetooth Core Specification, Vol 3, Part F, 3.4.8). Bit 6 marks a command (no response),
/// bit 7 an authentication signature; the rest identify the method.
public enum ATTOpcode: UInt8, Sendable, CaseIterable {
    case errorResponse = 0x01
    case exchangeMTURequest = 0x02
    case exchangeMTUResponse = 0x03
    case findInformationRequest = 0x04
    case findInformationResponse = 0x05
    case findByTypeValueRequest = 0x06
    case findByTypeValueResponse = 0x07
    case readByTypeRequest = 0x08
    case readByTypeResponse = 0x09
    case readRequest = 0x0A
    case readResponse = 0x0B
    case readBlobRequest = 0x0C
    case readBlobResponse = 0x0D
    case readMultipleRequest = 0x0E
    case readMultipleResponse = 0x0F
    case readByGroupTypeRequest = 0x10
    case readByGroupTypeResponse = 0x11
    case writeRequest = 0x12
    case writeResponse = 0x13
    case prepareWriteRequest = 0x16
    case prepareWriteResponse = 0x17
    case executeWriteRequest = 0x18
    case executeWriteResponse = 0x19
    case handleValueNotification = 0x1B
    case handleValueIndication = 0x1D
    case handleValueConfirmation = 0x1E
    case readMultipleVariableRequest = 0x20
    case readMultipleVariableResponse = 0x21
    case multipleHandleValueNotification = 0x23
    case writeCommand = 0x52
    case signedWriteCommand = 0xD2

    /// Commands carry bit 6; an unknown command is ignored, an unknown request is answered (Vol 3 F 3.4.9).
    public static func isCommand(_ raw: UInt8) -> Bool { raw & 0x40 != 0 }

    /// Whether a PDU with this opcode must be answered: known requests, and opcodes the specification does not
    /// define unless they carry the command bit (an unknown request is answered "request not supported").
    public static func mustBeAnswered(_ raw: UInt8) -> Bool {
        ATTOpcode(rawValue: raw)?.isRequest ?? !isCommand(raw)
    }

    /// The requests a peer must answer; the rest are responses, notifications, indications and commands.
    public var isRequest: Bool {
        switch self {
        case .exchangeMTURequest, .findInformationRequest, .findByTypeValueRequest, .readByTypeRequest,
            .readRequest, .readBlobRequest, .readMultipleRequest, .readByGroupTypeRequest, .writeRequest,
            .prepareWriteRequest, .executeWriteRequest, .readMultipleVariableRequest:
            true
        default: false
        }
    }
}

/// ATT error codes (Vol 3, Part F, 3.4.1.1) plus the common profile error codes (CSS Part B).
public enum ATTErrorCode: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidHandle, readNotPermitted, writeNotPermitted, invalidPDU, insufficientAuthentication
    case requestNotSupported, invalidOffset, insufficientAuthorization, prepareQueueFull, attributeNotFound
    case attributeNotLong, insufficientEncryptionKeySize, invalidAttributeValueLength, unlikelyError
    case insufficientEncryption, unsupportedGroupType, insufficientResources, databaseOutOfSync
    case valueNotAllowed
    /// 0x80...0x9F: defined by the service (e.g. Glucose 0x80 "procedure already in progress"? — see the profile).
    case application(UInt8)
    /// 0xFD: Client Characteristic Configuration Descriptor improperly configured.
    case cccdImproperlyConfigured
    /// 0xFE: procedure already in progress.
    case procedureAlreadyInProgress
    /// 0xFF: out of range.
    case outOfRange
    /// 0xE0...0xFC common profile codes we do not name, and codes reserved for future use.
    case other(UInt8)

    private static let table: [(ATTErrorCode, UInt8, String)] = [
        (.invalidHandle, 0x01, "invalid handle"), (.readNotPermitted, 0x02, "read not permitted"),
        (.writeNotPermitted, 0x03, "write not permitted"), (.invalidPDU, 0x04, "invalid PDU"),
        (.insufficientAuthentication, 0x05, "insufficient authentication"),
        (.requestNotSupported, 0x06, "request not supported"), (.invalidOffset, 0x07, "invalid offset"),
        (.insufficientAuthorization, 0x08, "insufficient authorization"),
        (.prepareQueueFull, 0x09, "prepare queue full"), (.attributeNotFound, 0x0A, "attribute not found"),
        (.attributeNotLong, 0x0B, "attribute not long"),
        (.insufficientEncryptionKeySize, 0x0C, "insufficient encryption key size"),
        (.invalidAttributeValueLength, 0x0D, "invalid attribute value length"),
        (.unlikelyError, 0x0E, "unlikely error"), (.insufficientEncryption, 0x0F, "insufficient encryption"),
        (.unsupportedGroupType, 0x10, "unsupported group type"),
        (.insufficientResources, 0x11, "insufficient resources"),
        (.databaseOutOfSync, 0x12, "database out of sync"), (.valueNotAllowed, 0x13, "value not allowed"),
        (.cccdImproperlyConfigured, 0xFD, "client characteristic configuration descriptor improperly configured"),
        (.procedureAlreadyInProgress, 0xFE, "procedure already in progress"), (.outOfRange, 0xFF, "out of range"),
    ]

    public init(rawValue: UInt8) {
        if let entry = Self.table.first(where: { $0.1 == rawValue }) {
            self = entry.0
        } else if (0x80...0x9F).contains(rawValue) {
            self = .application(rawValue)
        } else {
            self = .other(rawValue)
        }
    }

    public var rawValue: UInt8 {
        switch self {
        case .application(let raw), .other(let raw): raw
        default: Self.table.first { $0.0 == self }?.1 ?? 0x0E
        }
    }

    public var description: String {
        let hex = "0x" + BluetoothUUID.hex(UInt64(rawValue), digits: 2)
        switch self {
        case .application: return "application error \(hex)"
        case .other: return "error \(hex)"
        default: return (Self.table.first { $0.0 == self }?.2 ?? "error") + " (\(hex))"
        }
    }
}
