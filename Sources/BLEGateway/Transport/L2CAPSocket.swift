import CBlueZ
import Foundation

/// ATT over an LE L2CAP connection-oriented channel: `AF_BLUETOOTH`/`SOCK_SEQPACKET`/`BTPROTO_L2CAP` on the fixed
/// ATT channel (CID 4), bound to one controller. Each socket becomes a `SeqPacketBearer` — the same bearer the
/// simulated devices use over socketpairs — so the GATT client and profile sessions run unchanged on a radio.
public enum L2CAPSocket {
    /// The fixed L2CAP channel of the Attribute Protocol on LE links.
    public static let attributeProtocolChannel: UInt16 = 4

    /// An LE address type, as `sockaddr_l2.l2_bdaddr_type` takes it.
    public enum AddressType: UInt8, Sendable, CustomStringConvertible {
        case lePublic = 1
        case leRandom = 2

        public var description: String { self == .lePublic ? "LE public" : "LE random" }
    }

    /// `BT_SECURITY` levels: medium asks the kernel to encrypt the link (SMP pairing if there is no bond yet),
    /// high to do so with MITM protection (passkey or numeric comparison).
    public enum Security: UInt8, Sendable {
        case low = 1
        case medium = 2
        case high = 3
    }

    /// Connects to `peer` on the ATT channel from the controller whose address is `local` (nil: any), raising
    /// the link's security first so the kernel runs SMP as the profile requires. Waits at most `timeout`.
    public static func connect(
        local: BluetoothAddress?, peer: BluetoothAddress, peerType: AddressType, security: Security = .low,
        timeout: Duration = .seconds(20)
    ) async throws(BearerError) -> SeqPacketBearer {
        let result: Result<SeqPacketBearer, BearerError> = await withCheckedContinuation { continuation in
            // connect and poll block: off the cooperative pool.
            Thread.detachNewThread {
                continuation.resume(
                    returning: Result { () throws(BearerError) -> SeqPacketBearer in
                        try connectBlocking(
                            local: local, peer: peer, peerType: peerType, security: security, timeout: timeout)
                    })
            }
        }
        return try result.get()
    }

    static func connectBlocking(
        local: BluetoothAddress?, peer: BluetoothAddress, peerType: AddressType, security: Security, timeout: Duration
    ) throws(BearerError) -> SeqPacketBearer {
        let fd = try openSocket()
        do {
            try bind(fd, local: local, type: .lePublic)
            try setSecurity(fd, security)
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var address = socketAddress(peer, type: peerType)
            let started = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_l2>.size))
                }
            }
            if started != 0 {
                guard errno == EINPROGRESS else {
                    // The kernel allows one ATT client channel per link: another process (bluetoothd, which connected
                    // the device itself) holds this one, and would confirm the device's indications, not us.
                    if errno == EBUSY { throw Self.heldByAnotherClient(peer) }
                    throw systemError("connect(\(peer), \(peerType))")
                }
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let milliseconds = Int32(
                    clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
                )
                let ready = poll(&poller, 1, milliseconds)
                guard ready > 0 else {
                    throw ready == 0
                        ? BearerError.system(
                            call: "connect(\(peer))", errno: ETIMEDOUT,
                            message: "no connection within \(timeout) (is the device advertising and in range?)")
                        : systemError("poll(connect \(peer))")
                }
                var code: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
                guard code == 0 else {
                    if code == EBUSY { throw Self.heldByAnotherClient(peer) }
                    throw BearerError.system(
                        call: "connect(\(peer), \(peerType))", errno: code, message: String(cString: strerror(code)))
                }
            }
            _ = fcntl(fd, F_SETFL, flags)
            return SeqPacketBearer(fileDescriptor: fd, label: "l2cap:\(peer)")
        } catch let error as BearerError {
            Glibc.close(fd)
            throw error
        } catch {
            Glibc.close(fd)
            throw .system(call: "connect(\(peer))", errno: 0, message: "\(error)")
        }
    }

    /// EBUSY on connect: another ATT client already has this device's link (Linux gives a link one ATT client channel).
    static func heldByAnotherClient(_ peer: BluetoothAddress) -> BearerError {
        .system(
            call: "connect(\(peer))", errno: EBUSY,
            message:
                "another program's ATT client holds this device's link (bluetoothd connected it itself?); its readings would "
                + "be confirmed by that program, not stored here. Remove the device from bluetoothd (bluetoothctl remove \(peer)) "
                + "or stop bluetoothd (systemctl disable --now bluetooth)")
    }

    /// The security level the kernel reports for a connected socket (2 = encrypted).
    public static func securityLevel(of fd: Int32) -> UInt8? {
        var value = bt_security(level: 0, key_size: 0)
        var length = socklen_t(MemoryLayout<bt_security>.size)
        return getsockopt(fd, SOL_BLUETOOTH, BT_SECURITY, &value, &length) == 0 ? value.level : nil
    }

    /// A listening ATT socket on one controller: what a peripheral (our simulated devices in the test bed) serves on.
    public final class Listener: @unchecked Sendable {
        private let fd: Int32
        public let local: BluetoothAddress?

        public init(local: BluetoothAddress?, type: AddressType = .lePublic, security: Security = .low)
            throws(BearerError)
        {
            self.local = local
            fd = try openSocket()
            do {
                try bind(fd, local: local, type: type)
                try setSecurity(fd, security)
                guard listen(fd, 4) == 0 else { throw L2CAPSocket.systemError("listen(l2cap ATT)") }
            } catch let error as BearerError {
                Glibc.close(fd)
                throw error
            } catch {
                Glibc.close(fd)
                throw .system(call: "listen(l2cap ATT)", errno: 0, message: "\(error)")
            }
        }

        /// Blocks until a central connects; returns the bearer and the central's address.
        public func accept() throws(BearerError) -> (SeqPacketBearer, BluetoothAddress) {
            while true {
                var peer = sockaddr_l2()
                var length = socklen_t(MemoryLayout<sockaddr_l2>.size)
                let client = withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &length) }
                }
                if client >= 0 {
                    let address = BluetoothAddress(bdaddr: peer.l2_bdaddr)
                    return (SeqPacketBearer(fileDescriptor: client, label: "l2cap:\(address)"), address)
                }
                if errno == EINTR { continue }
                throw systemError("accept(l2cap ATT)")
            }
        }

        private let closeLock = NSLock()
        private var closed = false

        /// Stops listening; a blocked `accept` returns with an error. Safe to call more than once.
        public func close() {
            let first = closeLock.withLock {
                defer { closed = true }
                return !closed
            }
            guard first else { return }
            shutdown(fd, Int32(SHUT_RDWR))
            Glibc.close(fd)
        }
    }

    static func openSocket() throws(BearerError) -> Int32 {
        let fd = socket(AF_BLUETOOTH, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), BTPROTO_L2CAP)
        guard fd >= 0 else {
            if errno == EAFNOSUPPORT {
                throw .system(
                    call: "socket(AF_BLUETOOTH, L2CAP)", errno: errno,
                    message:
                        "this kernel has no Bluetooth support (AF_BLUETOOTH); load the bluetooth module or use simulated devices"
                )
            }
            throw systemError("socket(AF_BLUETOOTH, SOCK_SEQPACKET, BTPROTO_L2CAP)")
        }
        return fd
    }

    static func socketAddress(_ address: BluetoothAddress?, type: AddressType) -> sockaddr_l2 {
        var value = sockaddr_l2()
        value.l2_family = sa_family_t(AF_BLUETOOTH)
        value.l2_bdaddr = address?.bdaddr ?? bdaddr_t(b: (0, 0, 0, 0, 0, 0))
        value.l2_cid = attributeProtocolChannel.littleEndian
        value.l2_bdaddr_type = type.rawValue
        return value
    }

    static func bind(_ fd: Int32, local: BluetoothAddress?, type: AddressType) throws(BearerError) {
        var address = socketAddress(local, type: type)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_l2>.size))
            }
        }
        guard bound == 0 else { throw systemError("bind(l2cap ATT, \(local?.description ?? "any controller"))") }
    }

    static func setSecurity(_ fd: Int32, _ security: Security) throws(BearerError) {
        guard security != .low else { return }
        var value = bt_security(level: security.rawValue, key_size: 0)
        guard setsockopt(fd, SOL_BLUETOOTH, BT_SECURITY, &value, socklen_t(MemoryLayout<bt_security>.size)) == 0 else {
            throw systemError("setsockopt(BT_SECURITY, \(security))")
        }
    }

    static func systemError(_ call: String) -> BearerError {
        let code = errno
        return .system(call: call, errno: code, message: String(cString: strerror(code)))
    }
}
