/// What went wrong talking to a device, with what a person needs to act on it.
public enum GATTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The peer answered a request with an ATT Error Response.
    case errorResponse(request: UInt8, handle: UInt16, code: ATTErrorCode)
    /// No response within the ATT transaction timeout; the bearer is now unusable (Vol 3 F 3.3.3).
    case transactionTimeout(request: UInt8, seconds: Double)
    /// The response did not have the shape the request requires.
    case invalidResponse(request: UInt8, reason: String)
    /// The link closed (peer disconnect, device out of range, or after a timeout).
    case linkClosed(BearerError?)
    /// The bearer refused to send.
    case bearer(BearerError)
    /// The caller did not acknowledge an indication in time, so it was not confirmed; the device keeps it.
    case indicationNotAcknowledged(handle: UInt16, seconds: Double)
    /// An acknowledgement for an indication that is no longer outstanding (already confirmed or timed out).
    case indicationNotOutstanding(handle: UInt16)
    /// A value longer than the negotiated MTU allows for this procedure.
    case valueTooLong(size: Int, limit: Int)
    /// The device lacks a service or characteristic the procedure needs.
    case missing(String)

    static func opcodeName(_ raw: UInt8) -> String {
        ATTOpcode(rawValue: raw).map { "\($0)" } ?? "opcode 0x" + BluetoothUUID.hex(UInt64(raw), digits: 2)
    }

    public var description: String {
        switch self {
        case .errorResponse(let request, let handle, let code):
            "the device refused \(Self.opcodeName(request)) on handle 0x\(BluetoothUUID.hex(UInt64(handle), digits: 4)): \(code)"
        case .transactionTimeout(let request, let seconds):
            "the device did not answer \(Self.opcodeName(request)) within \(seconds) s (ATT transaction timeout); the link must be re-established"
        case .invalidResponse(let request, let reason):
            "the device answered \(Self.opcodeName(request)) with an invalid PDU: \(reason)"
        case .linkClosed(let reason):
            "the link to the device closed" + (reason.map { ": \($0)" } ?? "")
        case .bearer(let error): "could not send to the device: \(error)"
        case .indicationNotAcknowledged(let handle, let seconds):
            "the indication on handle 0x\(BluetoothUUID.hex(UInt64(handle), digits: 4)) was not acknowledged as durable within \(seconds) s, so it was not confirmed; the device keeps it and the link was closed"
        case .indicationNotOutstanding(let handle):
            "the indication on handle 0x\(BluetoothUUID.hex(UInt64(handle), digits: 4)) is no longer outstanding (already confirmed, or timed out)"
        case .valueTooLong(let size, let limit): "a \(size)-byte value exceeds the \(limit) bytes the ATT MTU allows"
        case .missing(let what): "the device does not expose \(what)"
        }
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
