import CBlueZ
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An ATT bearer over a connected socket that keeps message boundaries (`SOCK_SEQPACKET`): a unix socketpair,
/// a named unix socket, or (later) an L2CAP LE socket. One reader thread per link blocks in `recv` and feeds
/// `incoming`; `close()` shuts the socket down, which wakes that thread.
public final class SeqPacketBearer: ATTBearer, @unchecked Sendable {
    /// Largest ATT PDU: an L2CAP SDU of 65,535 bytes bounds it; ATT MTUs stay far below.
    public static let maximumPDUSize = 65_535

    private let fd: Int32
    /// The socket, for options such as the L2CAP security level.
    public var fileDescriptor: Int32 { fd }
    private let lock = NSLock()
    private var isClosed = false
    private var reason: BearerError?
    private var continuation: AsyncStream<[UInt8]>.Continuation?
    public let incoming: AsyncStream<[UInt8]>
    /// A label for logs ("socketpair", "unix:/path", "l2cap:AA:BB:…").
    public let label: String

    /// Takes ownership of `fd`, which must be a connected SEQPACKET socket.
    public init(fileDescriptor fd: Int32, label: String) {
        self.fd = fd
        self.label = label
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .unbounded)
        incoming = stream
        self.continuation = continuation
        let thread = Thread { [self] in readLoop() }
        thread.name = "att-bearer \(label)"
        thread.start()
    }

    /// Two connected bearers over `socketpair(AF_UNIX, SOCK_SEQPACKET)`: a simulated peripheral on one end,
    /// the gateway's GATT client on the other, real PDUs between them.
    public static func pair() throws(BearerError) -> (SeqPacketBearer, SeqPacketBearer) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw .system(
                call: "socketpair(AF_UNIX, SOCK_SEQPACKET)", errno: errno, message: String(cString: strerror(errno)))
        }
        return (
            SeqPacketBearer(fileDescriptor: fds[0], label: "socketpair"),
            SeqPacketBearer(fileDescriptor: fds[1], label: "socketpair")
        )
    }

    public var closeReason: BearerError? { lock.withLock { reason } }

    public func send(_ pdu: [UInt8]) async throws(BearerError) {
        guard pdu.count <= Self.maximumPDUSize else { throw .tooLarge(size: pdu.count, limit: Self.maximumPDUSize) }
        let closed = lock.withLock { isClosed }
        guard !closed else { throw .closed }
        let sent = pdu.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) }
        if sent < 0 {
            let code = errno
            if code == EPIPE || code == ECONNRESET || code == ENOTCONN { throw .closed }
            throw .system(call: "send", errno: code, message: String(cString: strerror(code)))
        }
    }

    public func close() {
        let wasOpen = lock.withLock {
            let wasOpen = !isClosed
            isClosed = true
            return wasOpen
        }
        if wasOpen { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// The read buffer a link starts with: an ATT MTU of 517 (the largest LE attribute value plus headers) fits.
    /// A buffer of `maximumPDUSize` per link held 64 KiB resident for each of a hub's hundreds of connections.
    static let initialReadBuffer = 1_024

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: Self.initialReadBuffer)
        while true {
            // Peeking with MSG_TRUNC returns the whole PDU's length (unix and L2CAP sockets alike), so a larger PDU
            // grows the buffer before it is read instead of being cut short. A kernel that ignores MSG_TRUNC returns
            // at most the buffer's size: a full buffer then grows to the largest PDU and is peeked again.
            let waiting = buffer.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress, raw.count, Int32(MSG_PEEK | MSG_TRUNC))
            }
            if waiting >= buffer.count && buffer.count < Self.maximumPDUSize {
                let size = waiting > buffer.count ? min(waiting, Self.maximumPDUSize) : Self.maximumPDUSize
                buffer = [UInt8](repeating: 0, count: size)
                continue
            }
            let count =
                waiting < 0 ? waiting : buffer.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress, raw.count, 0) }
            if count > 0 {
                continuation?.yield(Array(buffer[0..<count]))
                continue
            }
            if count < 0 && errno == EINTR { continue }
            let code = errno
            lock.withLock {
                if !isClosed {
                    // The peer closed or the link failed; a local close() leaves `reason` nil.
                    reason =
                        count == 0 || code == ECONNRESET
                        ? .closed
                        : .system(call: "recv", errno: code, message: String(cString: strerror(code)))
                    isClosed = true
                }
            }
            break
        }
        continuation?.finish()
        continuation = nil
        Glibc.close(fd)
    }
}

/// Named unix `SOCK_SEQPACKET` sockets: a simulated device listens at a path, the gateway (or any scripted
/// peer) connects to it — the same PDUs as a socketpair, between processes.
public enum UnixSeqPacket {
    /// Connects to `path`.
    public static func connect(path: String) throws(BearerError) -> SeqPacketBearer {
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw systemError("socket(AF_UNIX, SOCK_SEQPACKET)") }
        var address = try socketAddress(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let error = systemError("connect(\(path))")
            Glibc.close(fd)
            throw error
        }
        return SeqPacketBearer(fileDescriptor: fd, label: "unix:\(path)")
    }

    /// A listening socket at `path` (an existing socket file there is replaced).
    public final class Listener: @unchecked Sendable {
        private let fd: Int32
        public let path: String

        public init(path: String) throws(BearerError) {
            self.path = path
            unlink(path)
            fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw UnixSeqPacket.systemError("socket(AF_UNIX, SOCK_SEQPACKET)") }
            var address: sockaddr_un
            do {
                address = try UnixSeqPacket.socketAddress(path)
            } catch {
                Glibc.close(fd)
                throw error
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard bound == 0, listen(fd, 8) == 0 else {
                let error = UnixSeqPacket.systemError("bind/listen(\(path))")
                Glibc.close(fd)
                throw error
            }
        }

        /// Blocks until a peer connects.
        public func accept() throws(BearerError) -> SeqPacketBearer {
            while true {
                let client = Glibc.accept(fd, nil, nil)
                if client >= 0 { return SeqPacketBearer(fileDescriptor: client, label: "unix:\(path)") }
                if errno == EINTR { continue }
                throw UnixSeqPacket.systemError("accept(\(path))")
            }
        }

        /// Waits for a peer without holding a thread of the cooperative pool (`accept` blocks, so it runs on its own).
        public func nextConnection() async throws -> SeqPacketBearer {
            try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread {
                    do {
                        continuation.resume(returning: try self.accept())
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        }

        /// Stops listening and removes the socket file.
        public func close() {
            shutdown(fd, Int32(SHUT_RDWR))
            Glibc.close(fd)
            unlink(path)
        }
    }

    static func systemError(_ call: String) -> BearerError {
        let code = errno
        return .system(call: call, errno: code, message: String(cString: strerror(code)))
    }

    static func socketAddress(_ path: String) throws(BearerError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw .system(
                call: "bind/connect", errno: ENAMETOOLONG,
                message: "socket path longer than \(capacity - 1) bytes: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return address
    }
}
