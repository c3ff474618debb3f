import CBlueZ
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What carries management packets: one whole packet per send, whole packets in `incoming`. The kernel socket is
/// one; tests use an in-memory fake that answers like a kernel.
public protocol ManagementTransport: AnyObject, Sendable {
    /// Sends one whole packet (header included).
    func send(_ packet: [UInt8]) throws(ManagementSocketError)
    /// Every packet the kernel sends, in order; ends when the socket closes (see `closeReason`).
    var incoming: AsyncStream<[UInt8]> { get }
    /// Why the socket closed, once it has; nil while open or after a local `close()`.
    var closeReason: ManagementSocketError? { get }
    /// Closes the socket; `incoming` then ends. Idempotent.
    func close()
}

/// Why the management socket could not be opened, written or read.
public enum ManagementSocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `socket(AF_BLUETOOTH, …)` failed with EAFNOSUPPORT.
    case bluetoothUnsupported
    /// EPERM/EACCES from `call`.
    case permissionDenied(call: String)
    case system(call: String, errno: Int32, message: String)
    case closed
    case tooLarge(size: Int, limit: Int)

    public var description: String {
        switch self {
        case .bluetoothUnsupported:
            "socket(AF_BLUETOOTH, SOCK_RAW, BTPROTO_HCI) failed: this kernel has no Bluetooth support (AF_BLUETOOTH); load the bluetooth module (modprobe bluetooth) or run gatewayd with simulated devices"
        case .permissionDenied(let call):
            "\(call) failed: the Bluetooth management socket needs CAP_NET_ADMIN (run as root, or give the service AmbientCapabilities=CAP_NET_ADMIN)"
        case .system(let call, let errno, let message): "\(call) failed: \(message) (errno \(errno))"
        case .closed: "the Bluetooth management socket is closed"
        case .tooLarge(let size, let limit): "a \(size)-byte management packet exceeds the \(limit)-byte maximum"
        }
    }

    /// Maps `errno` from `call` to the case an operator can act on.
    static func fromErrno(_ code: Int32, call: String) -> ManagementSocketError {
        switch code {
        case EAFNOSUPPORT: .bluetoothUnsupported
        case EPERM, EACCES: .permissionDenied(call: call)
        default: .system(call: call, errno: code, message: String(cString: strerror(code)))
        }
    }
}

/// The kernel's management channel: `socket(AF_BLUETOOTH, SOCK_RAW | SOCK_CLOEXEC, BTPROTO_HCI)` bound to
/// `{AF_BLUETOOTH, HCI_DEV_NONE, HCI_CHANNEL_CONTROL}`. One reader thread blocks in `poll` on the socket and a
/// wake-up pipe — HCI sockets do not implement `shutdown`, so closing must wake the reader another way.
public final class ManagementSocket: ManagementTransport, @unchecked Sendable {
    /// Header plus the largest parameter block.
    public static let maximumPacketSize = ManagementPacket.headerSize + ManagementPacket.maximumParameterLength

    private let fd: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let lock = NSLock()
    private var isClosed = false
    private var reason: ManagementSocketError?
    private var continuation: AsyncStream<[UInt8]>.Continuation?
    public let incoming: AsyncStream<[UInt8]>

    /// Opens and binds the control channel. Fails with `.bluetoothUnsupported` on kernels without Bluetooth (like
    /// this project's build machines) and `.permissionDenied` without CAP_NET_ADMIN.
    public init() throws(ManagementSocketError) {
        let fd = socket(AF_BLUETOOTH, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), BTPROTO_HCI)
        guard fd >= 0 else {
            throw ManagementSocketError.fromErrno(errno, call: "socket(AF_BLUETOOTH, SOCK_RAW, BTPROTO_HCI)")
        }
        var address = sockaddr_hci()
        address.hci_family = sa_family_t(AF_BLUETOOTH)
        address.hci_dev = UInt16(HCI_DEV_NONE)
        address.hci_channel = UInt16(HCI_CHANNEL_CONTROL)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_hci>.size))
            }
        }
        guard bound == 0 else {
            let error = ManagementSocketError.fromErrno(errno, call: "bind(HCI_CHANNEL_CONTROL)")
            Glibc.close(fd)
            throw error
        }
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            let error = ManagementSocketError.fromErrno(errno, call: "pipe")
            Glibc.close(fd)
            throw error
        }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        self.fd = fd
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .unbounded)
        incoming = stream
        self.continuation = continuation
        let thread = Thread { [self] in readLoop() }
        thread.name = "bluetooth-mgmt"
        thread.start()
    }

    public var closeReason: ManagementSocketError? { lock.withLock { reason } }

    public func send(_ packet: [UInt8]) throws(ManagementSocketError) {
        guard packet.count <= Self.maximumPacketSize else {
            throw .tooLarge(size: packet.count, limit: Self.maximumPacketSize)
        }
        // Under the lock so the reader thread cannot close (and the kernel reuse) the descriptor mid-send.
        let failure: ManagementSocketError? = lock.withLock {
            guard !isClosed else { return .closed }
            while true {
                let sent = packet.withUnsafeBytes { raw in
                    Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                }
                if sent >= 0 { return nil }
                let code = errno
                if code == EINTR { continue }
                return .fromErrno(code, call: "send(mgmt)")
            }
        }
        if let failure { throw failure }
    }

    public func close() {
        lock.withLock {
            guard !isClosed else { return }
            isClosed = true
            var byte: UInt8 = 1
            _ = Glibc.write(wakeWrite, &byte, 1)
        }
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: Self.maximumPacketSize)
        var failure: ManagementSocketError?
        loop: while true {
            var descriptors = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                failure = .fromErrno(errno, call: "poll(mgmt)")
                break
            }
            if descriptors[1].revents != 0 { break }
            let socketEvents = descriptors[0].revents
            guard socketEvents != 0 else { continue }
            if socketEvents & Int16(POLLIN) == 0 && socketEvents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                failure = .closed
                break
            }
            let count = buffer.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress, raw.count, 0) }
            switch count {
            case 1...:
                continuation?.yield(Array(buffer[0..<count]))
            case 0:
                failure = .closed
                break loop
            default:
                let code = errno
                if code == EINTR || code == EAGAIN { continue }
                failure = .fromErrno(code, call: "recv(mgmt)")
                break loop
            }
        }
        lock.withLock {
            if !isClosed { reason = failure ?? .closed }  // a local close() leaves `reason` nil
            isClosed = true
            Glibc.close(fd)
            Glibc.close(wakeRead)
            Glibc.close(wakeWrite)
        }
        continuation?.finish()
        continuation = nil
    }
}
