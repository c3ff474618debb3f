/// A range of attribute handles, inclusive at both ends, as ATT requests carry it.
public struct HandleRange: Hashable, Sendable {
    public var start: UInt16
    public var end: UInt16
    public init(start: UInt16, end: UInt16) {
        self.start = start
        self.end = end
    }
    public static let all = HandleRange(start: 0x0001, end: 0xFFFF)
    /// Valid per Vol 3 F 3.4.3.1: a start of 0 or a start after the end is an "invalid handle" request.
    public var isValid: Bool { start != 0 && start <= end }

    public func overlaps(_ other: HandleRange) -> Bool { start <= other.end && other.start <= end }

    /// The smallest range holding both.
    public func union(_ other: HandleRange) -> HandleRange {
        HandleRange(start: min(start, other.start), end: max(end, other.end))
    }
}

/// One (handle, value) pair of a Read By Type Response.
public struct HandleValue: Hashable, Sendable {
    public var handle: UInt16
    public var value: [UInt8]
    public init(handle: UInt16, value: [UInt8]) {
        self.handle = handle
        self.value = value
    }
}

/// One (handle, end group handle, value) entry of a Read By Group Type Response (a service declaration).
public struct GroupValue: Hashable, Sendable {
    public var handle: UInt16
    public var endGroupHandle: UInt16
    public var value: [UInt8]
    public init(handle: UInt16, endGroupHandle: UInt16, value: [UInt8]) {
        self.handle = handle
        self.endGroupHandle = endGroupHandle
        self.value = value
    }
}

/// One (handle, type) pair of a Find Information Response.
public struct HandleType: Hashable, Sendable {
    public var handle: UInt16
    public var type: BluetoothUUID
    public init(handle: UInt16, type: BluetoothUUID) {
        self.handle = handle
        self.type = type
    }
}

/// Why bytes were not a valid ATT PDU.
public enum ATTPDUError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    /// The parameters do not have the length or shape the opcode requires.
    case malformed(opcode: UInt8, reason: String)

    public var description: String {
        switch self {
        case .empty: "an ATT PDU needs at least its opcode byte; got 0 bytes"
        case .malformed(let opcode, let reason):
            "ATT PDU with opcode 0x\(BluetoothUUID.hex(UInt64(opcode), digits: 2)) is malformed: \(reason)"
        }
    }
}

/// An ATT protocol data unit: the exact bytes that travel over the L2CAP ATT channel (CID 4) or a socketpair.
public enum ATTPDU: Hashable, Sendable {
    case errorResponse(requestOpcode: UInt8, handle: UInt16, error: ATTErrorCode)
    case exchangeMTURequest(clientRxMTU: UInt16)
    case exchangeMTUResponse(serverRxMTU: UInt16)
    case findInformationRequest(HandleRange)
    case findInformationResponse([HandleType])
    case findByTypeValueRequest(HandleRange, type: UInt16, value: [UInt8])
    /// (found attribute handle, group end handle) pairs.
    case findByTypeValueResponse([HandleRange])
    case readByTypeRequest(HandleRange, type: BluetoothUUID)
    case readByTypeResponse([HandleValue])
    case readRequest(handle: UInt16)
    case readResponse(value: [UInt8])
    case readBlobRequest(handle: UInt16, offset: UInt16)
    case readBlobResponse(value: [UInt8])
    case readByGroupTypeRequest(HandleRange, type: BluetoothUUID)
    case readByGroupTypeResponse([GroupValue])
    case writeRequest(handle: UInt16, value: [UInt8])
    case writeResponse
    case writeCommand(handle: UInt16, value: [UInt8])
    case handleValueNotification(handle: UInt16, value: [UInt8])
    case handleValueIndication(handle: UInt16, value: [UInt8])
    case handleValueConfirmation
    /// Any opcode this implementation does not model (prepare/execute write, read multiple, signed write,
    /// and opcodes the specification does not define). Kept so it can be answered as the spec requires.
    case other(opcode: UInt8, parameters: [UInt8])

    public var opcode: UInt8 {
        switch self {
        case .errorResponse: ATTOpcode.errorResponse.rawValue
        case .exchangeMTURequest: ATTOpcode.exchangeMTURequest.rawValue
        case .exchangeMTUResponse: ATTOpcode.exchangeMTUResponse.rawValue
        case .findInformationRequest: ATTOpcode.findInformationRequest.rawValue
        case .findInformationResponse: ATTOpcode.findInformationResponse.rawValue
        case .findByTypeValueRequest: ATTOpcode.findByTypeValueRequest.rawValue
        case .findByTypeValueResponse: ATTOpcode.findByTypeValueResponse.rawValue
        case .readByTypeRequest: ATTOpcode.readByTypeRequest.rawValue
        case .readByTypeResponse: ATTOpcode.readByTypeResponse.rawValue
        case .readRequest: ATTOpcode.readRequest.rawValue
        case .readResponse: ATTOpcode.readResponse.rawValue
        case .readBlobRequest: ATTOpcode.readBlobRequest.rawValue
        case .readBlobResponse: ATTOpcode.readBlobResponse.rawValue
        case .readByGroupTypeRequest: ATTOpcode.readByGroupTypeRequest.rawValue
        case .readByGroupTypeResponse: ATTOpcode.readByGroupTypeResponse.rawValue
        case .writeRequest: ATTOpcode.writeRequest.rawValue
        case .writeResponse: ATTOpcode.writeResponse.rawValue
        case .writeCommand: ATTOpcode.writeCommand.rawValue
        case .handleValueNotification: ATTOpcode.handleValueNotification.rawValue
        case .handleValueIndication: ATTOpcode.handleValueIndication.rawValue
        case .handleValueConfirmation: ATTOpcode.handleValueConfirmation.rawValue
        case .other(let opcode, _): opcode
        }
    }

    // MARK: Decoding

    /// Decodes one PDU, checking every length against what the opcode requires.
    public init(decoding bytes: [UInt8]) throws(ATTPDUError) {
        guard let opcode = bytes.first else { throw .empty }
        var reader = PayloadReader(Array(bytes.dropFirst()), characteristic: "ATT PDU")
        do {
            self = try Self.decode(opcode: opcode, &reader)
            try reader.finish()
        } catch {
            throw .malformed(
                opcode: opcode, reason: "\(error.field) at parameter offset \(error.offset): \(error.problem)")
        }
    }

    private static func decode(opcode: UInt8, _ r: inout PayloadReader) throws(CharacteristicDecodeError) -> ATTPDU {
        guard let known = ATTOpcode(rawValue: opcode) else {
            return .other(opcode: opcode, parameters: try r.bytes(r.remaining, "parameters"))
        }
        switch known {
        case .errorResponse:
            return .errorResponse(
                requestOpcode: try r.uint8("request_opcode_in_error"),
                handle: try r.uint16("attribute_handle_in_error"),
                error: ATTErrorCode(rawValue: try r.uint8("error_code")))
        case .exchangeMTURequest: return .exchangeMTURequest(clientRxMTU: try r.uint16("client_rx_mtu"))
        case .exchangeMTUResponse: return .exchangeMTUResponse(serverRxMTU: try r.uint16("server_rx_mtu"))
        case .findInformationRequest: return .findInformationRequest(try range(&r))
        case .findInformationResponse:
            let formatOffset = r.offset
            let format = try r.uint8("format")
            let uuidSize: Int
            switch format {
            case 1: uuidSize = 2
            case 2: uuidSize = 16
            default: throw r.error("format", .reservedValue(UInt64(format)), at: formatOffset)
            }
            var entries: [HandleType] = []
            repeat {
                let handle = try r.uint16("handle")
                let uuidOffset = r.offset
                guard let type = BluetoothUUID(attBytes: try r.bytes(uuidSize, "uuid")) else {
                    throw r.error("uuid", .invalidValue("bad UUID size"), at: uuidOffset)
                }
                entries.append(HandleType(handle: handle, type: type))
            } while !r.isAtEnd
            return .findInformationResponse(entries)
        case .findByTypeValueRequest:
            return .findByTypeValueRequest(
                try range(&r), type: try r.uint16("attribute_type"), value: try r.bytes(r.remaining, "attribute_value"))
        case .findByTypeValueResponse:
            var entries: [HandleRange] = []
            repeat {
                entries.append(
                    HandleRange(start: try r.uint16("found_attribute_handle"), end: try r.uint16("group_end_handle")))
            } while !r.isAtEnd
            return .findByTypeValueResponse(entries)
        case .readByTypeRequest: return .readByTypeRequest(try range(&r), type: try uuid(&r, "attribute_type"))
        case .readByTypeResponse:
            let lengthOffset = r.offset
            let length = Int(try r.uint8("length"))
            guard length >= 2 else {
                throw r.error("length", .invalidValue("each entry needs a 2-byte handle"), at: lengthOffset)
            }
            var entries: [HandleValue] = []
            repeat {
                entries.append(
                    HandleValue(
                        handle: try r.uint16("attribute_handle"), value: try r.bytes(length - 2, "attribute_value")))
            } while !r.isAtEnd
            return .readByTypeResponse(entries)
        case .readRequest: return .readRequest(handle: try r.uint16("attribute_handle"))
        case .readResponse: return .readResponse(value: try r.bytes(r.remaining, "attribute_value"))
        case .readBlobRequest:
            return .readBlobRequest(handle: try r.uint16("attribute_handle"), offset: try r.uint16("value_offset"))
        case .readBlobResponse: return .readBlobResponse(value: try r.bytes(r.remaining, "part_attribute_value"))
        case .readByGroupTypeRequest:
            return .readByGroupTypeRequest(try range(&r), type: try uuid(&r, "attribute_group_type"))
        case .readByGroupTypeResponse:
            let lengthOffset = r.offset
            let length = Int(try r.uint8("length"))
            guard length >= 4 else {
                throw r.error("length", .invalidValue("each entry needs two 2-byte handles"), at: lengthOffset)
            }
            var entries: [GroupValue] = []
            repeat {
                entries.append(
                    GroupValue(
                        handle: try r.uint16("attribute_handle"), endGroupHandle: try r.uint16("end_group_handle"),
                        value: try r.bytes(length - 4, "attribute_value")))
            } while !r.isAtEnd
            return .readByGroupTypeResponse(entries)
        case .writeRequest:
            return .writeRequest(
                handle: try r.uint16("attribute_handle"), value: try r.bytes(r.remaining, "attribute_value"))
        case .writeResponse: return .writeResponse
        case .writeCommand:
            return .writeCommand(
                handle: try r.uint16("attribute_handle"), value: try r.bytes(r.remaining, "attribute_value"))
        case .handleValueNotification:
            return .handleValueNotification(
                handle: try r.uint16("attribute_handle"), value: try r.bytes(r.remaining, "attribute_value"))
        case .handleValueIndication:
            return .handleValueIndication(
                handle: try r.uint16("attribute_handle"), value: try r.bytes(r.remaining, "attribute_value"))
        case .handleValueConfirmation: return .handleValueConfirmation
        default:
            return .other(opcode: opcode, parameters: try r.bytes(r.remaining, "parameters"))
        }
    }

    private static func range(_ r: inout PayloadReader) throws(CharacteristicDecodeError) -> HandleRange {
        HandleRange(start: try r.uint16("starting_handle"), end: try r.uint16("ending_handle"))
    }

    private static func uuid(_ r: inout PayloadReader, _ field: String) throws(CharacteristicDecodeError)
        -> BluetoothUUID
    {
        let offset = r.offset
        let size = r.remaining
        guard size == 2 || size == 16, let uuid = BluetoothUUID(attBytes: try r.bytes(size, field)) else {
            throw r.error(field, .invalidValue("a UUID is 2 or 16 bytes, got \(size)"), at: offset)
        }
        return uuid
    }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var w = PayloadWriter()
        w.uint8(opcode)
        switch self {
        case .errorResponse(let requestOpcode, let handle, let error):
            w.uint8(requestOpcode)
            w.uint16(handle)
            w.uint8(error.rawValue)
        case .exchangeMTURequest(let mtu), .exchangeMTUResponse(let mtu): w.uint16(mtu)
        case .findInformationRequest(let range): Self.write(range, &w)
        case .findInformationResponse(let entries):
            let long = entries.contains { $0.type.shortValue == nil }
            w.uint8(long ? 2 : 1)
            for entry in entries {
                w.uint16(entry.handle)
                w.append(long ? entry.type.bytes.reversed() : entry.type.attBytes)
            }
        case .findByTypeValueRequest(let range, let type, let value):
            Self.write(range, &w)
            w.uint16(type)
            w.append(value)
        case .findByTypeValueResponse(let entries):
            for entry in entries { Self.write(entry, &w) }
        case .readByTypeRequest(let range, let type), .readByGroupTypeRequest(let range, let type):
            Self.write(range, &w)
            w.append(type.attBytes)
        case .readByTypeResponse(let entries):
            w.uint8(UInt8(truncatingIfNeeded: 2 + (entries.first?.value.count ?? 0)))
            for entry in entries {
                w.uint16(entry.handle)
                w.append(entry.value)
            }
        case .readRequest(let handle): w.uint16(handle)
        case .readResponse(let value), .readBlobResponse(let value): w.append(value)
        case .readBlobRequest(let handle, let offset):
            w.uint16(handle)
            w.uint16(offset)
        case .readByGroupTypeResponse(let entries):
            w.uint8(UInt8(truncatingIfNeeded: 4 + (entries.first?.value.count ?? 0)))
            for entry in entries {
                w.uint16(entry.handle)
                w.uint16(entry.endGroupHandle)
                w.append(entry.value)
            }
        case .writeRequest(let handle, let value), .writeCommand(let handle, let value),
            .handleValueNotification(let handle, let value), .handleValueIndication(let handle, let value):
            w.uint16(handle)
            w.append(value)
        case .writeResponse, .handleValueConfirmation: break
        case .other(_, let parameters): w.append(parameters)
        }
        return w.bytes
    }

    private static func write(_ range: HandleRange, _ w: inout PayloadWriter) {
        w.uint16(range.start)
        w.uint16(range.end)
    }
}
