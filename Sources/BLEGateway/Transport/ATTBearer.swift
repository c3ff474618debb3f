/// What carries ATT PDUs between two ends: "send one PDU, receive PDUs", with message boundaries kept.
///
/// An L2CAP LE socket on CID 4 (BlueZ), a `socketpair(AF_UNIX, SOCK_SEQPACKET)`, a named unix SEQPACKET
/// socket and an in-process pair all fit, so the GATT client and the simulated peripherals run unchanged
/// over each of them.
public protocol ATTBearer: AnyObject, Sendable {
    /// Sends one whole PDU.
    func send(_ pdu: [UInt8]) async throws(BearerError)
    /// Every PDU the peer sends, in order; the stream ends when the link closes (see `closeReason`).
    var incoming: AsyncStream<[UInt8]> { get }
    /// Why the link closed, once it has: nil while open or after a local `close()`.
    var closeReason: BearerError? { get }
    /// Closes the link; `incoming` then ends. Idempotent.
    func close()
}

/// Why a bearer could not send, or why it closed.
public enum BearerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The link is closed (by us, by the peer, or because the device went away).
    case closed
    /// The operating system refused: the call that failed and the errno text.
    case system(call: String, errno: Int32, message: String)
    /// The PDU is larger than the bearer carries.
    case tooLarge(size: Int, limit: Int)

    public var description: String {
        switch self {
        case .closed: "the link is closed"
        case .system(let call, let errno, let message): "\(call) failed: \(message) (errno \(errno))"
        case .tooLarge(let size, let limit): "a \(size)-byte PDU exceeds the bearer's limit of \(limit) bytes"
        }
    }
}
