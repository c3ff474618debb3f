import Provenance

// User Data Service characteristics (a multi-user scale's, a cuff's), as the GATT Specification Supplement and UDS lay
// them out: User Index (0x2A9A, uint8, 0xFF = unknown user), Database Change Increment (0x2A99, uint32), and the User
// Control Point (0x2A9F, written and indicated): Register New User (0x01, a consent code 0-9999), Consent (0x02, a user
// index and its consent code), Delete User Data (0x03); answers are Response Code (0x20): the request's op code, the
// result (1 success, 2 op code not supported, 3 invalid parameter, 4 operation failed, 5 user not authorized) and, for a
// registered user, its index.

extension BluetoothUUID {
    public static let userDataService = BluetoothUUID(0x181C)
    public static let userIndex = BluetoothUUID(0x2A9A)
    public static let databaseChangeIncrement = BluetoothUUID(0x2A99)
    public static let userControlPoint = BluetoothUUID(0x2A9F)
}

/// User Index (0x2A9A): the device's current user slot; 0xFF when no user is selected.
public struct UserIndex: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.userIndex
    public static let name = "User Index"

    public var index: UInt8
    public init(index: UInt8) { self.index = index }
    public var isUnknown: Bool { index == 0xFF }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        index = try reader.uint8("user_index")
        try reader.finish()
    }

    public func encoded() -> [UInt8] { [index] }
    public var json: ExactJSON { .members([("user_index", isUnknown ? .string("unknown user") : .integer(index))]) }
}

/// Database Change Increment (0x2A99): raised by whichever side changes a user's data, so the other knows to read it.
public struct DatabaseChangeIncrement: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.databaseChangeIncrement
    public static let name = "Database Change Increment"

    public var value: UInt32
    public init(value: UInt32) { self.value = value }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        value = try reader.uint32("database_change_increment")
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint32(value)
        return writer.bytes
    }

    public var json: ExactJSON { .members([("database_change_increment", .integer(value))]) }
}

/// User Control Point (0x2A9F): the requests a collector writes and the answers the device indicates.
public enum UserControlPoint: CharacteristicValue, Hashable {
    case registerNewUser(consentCode: UInt16)
    case consent(userIndex: UInt8, consentCode: UInt16)
    case deleteUserData
    /// The answer to `request` (its op code); `userIndex` with a successful registration.
    case response(request: UInt8, result: Result, userIndex: UInt8?)

    public static let uuid = BluetoothUUID.userControlPoint
    public static let name = "User Control Point"
    /// Consent codes are 0 to 9999 (0x270F).
    public static let consentCodes: ClosedRange<UInt16> = 0...9999

    public enum Result: UInt8, Hashable, Sendable {
        case success = 0x01
        case opCodeNotSupported = 0x02
        case invalidParameter = 0x03
        case operationFailed = 0x04
        case userNotAuthorized = 0x05

        public var specName: String {
            switch self {
            case .success: "success"
            case .opCodeNotSupported: "op code not supported"
            case .invalidParameter: "invalid parameter"
            case .operationFailed: "operation failed"
            case .userNotAuthorized: "user not authorized"
            }
        }
    }

    public var opCode: UInt8 {
        switch self {
        case .registerNewUser: 0x01
        case .consent: 0x02
        case .deleteUserData: 0x03
        case .response: 0x20
        }
    }

    /// A consent code above 9999 is refused as the reserved value it is (a device answers "invalid parameter").
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let op = try reader.uint8("op_code")
        func code() throws(CharacteristicDecodeError) -> UInt16 {
            let at = reader.offset
            let code = try reader.uint16("consent_code")
            guard Self.consentCodes.contains(code) else {
                throw reader.error("consent_code", .reservedValue(UInt64(code)), at: at)
            }
            return code
        }
        switch op {
        case 0x01: self = .registerNewUser(consentCode: try code())
        case 0x02:
            let index = try reader.uint8("user_index")
            self = .consent(userIndex: index, consentCode: try code())
        case 0x03: self = .deleteUserData
        case 0x20:
            let request = try reader.uint8("request_op_code")
            let resultOffset = reader.offset
            let raw = try reader.uint8("response_value")
            guard let result = Result(rawValue: raw) else {
                throw reader.error("response_value", .reservedValue(UInt64(raw)), at: resultOffset)
            }
            let index = request == 0x01 && result == .success ? try reader.uint8("user_index") : nil
            self = .response(request: request, result: result, userIndex: index)
        default: throw reader.error("op_code", .reservedValue(UInt64(op)), at: 0)
        }
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(opCode)
        switch self {
        case .registerNewUser(let code): writer.uint16(code)
        case .consent(let index, let code):
            writer.uint8(index)
            writer.uint16(code)
        case .deleteUserData: break
        case .response(let request, let result, let index):
            writer.uint8(request)
            writer.uint8(result.rawValue)
            if let index { writer.uint8(index) }
        }
        return writer.bytes
    }

    public var json: ExactJSON {
        switch self {
        case .registerNewUser(let code):
            .members([("op_code", .string("register new user")), ("consent_code", .integer(code))])
        case .consent(let index, let code):
            .members([
                ("op_code", .string("consent")), ("user_index", .integer(index)), ("consent_code", .integer(code)),
            ])
        case .deleteUserData: .members([("op_code", .string("delete user data"))])
        case .response(let request, let result, let index):
            .members(
                [
                    ("op_code", .string("response code")), ("request_op_code", .integer(request)),
                    ("response_value", .string(result.specName)),
                ]
                    + (index.map { [("user_index", ExactJSON.integer($0))] } ?? []))
        }
    }
}
