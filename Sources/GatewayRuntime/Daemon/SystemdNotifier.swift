import CBlueZ
import Foundation
import Logging
import ServiceLifecycle

/// The sd_notify protocol: datagrams such as "READY=1" to the unix socket systemd names in $NOTIFY_SOCKET (an
/// abstract socket when it starts with '@'). Without the variable (not under systemd) every call does nothing.
package struct SystemdNotifier: Sendable {
    package let path: String?

    package init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The watchdog interval systemd expects pings within ($WATCHDOG_USEC, for this process when $WATCHDOG_PID says so).
    package static func watchdogInterval(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> Duration?
    {
        guard let text = environment["WATCHDOG_USEC"], let micros = Int64(text), micros > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], Int32(pid) != getpid() { return nil }
        return .microseconds(micros)
    }

    @discardableResult
    package func notify(_ state: String) -> Bool {
        guard let path else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                // Never blocks: a notify socket whose queue is full (nobody reading) must not stall the daemon.
                message.withUnsafeBytes {
                    sendto(
                        fd, $0.baseAddress, message.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), sockaddrPointer, length)
                }
            }
        }
        return sent == message.count
    }
}

/// Pings systemd's watchdog at half its interval while the daemon runs; systemd restarts a daemon that stops pinging.
package struct WatchdogService: Service {
    package let notifier: SystemdNotifier
    package let interval: Duration
    package var clock: any Clock<Duration> = ContinuousClock()

    package func run() async throws {
        await repeatUntilGracefulShutdown(every: interval / 2, clock: clock) { notifier.notify("WATCHDOG=1") }
    }
}

/// Does `work` now and then every `interval` of `clock` (tests give a manual one) until the service group shuts down
/// gracefully. Cancellation ends the loop quietly: a thrown CancellationError would fail the group.
package func repeatUntilGracefulShutdown(
    every interval: Duration, clock: any Clock<Duration> = ContinuousClock(),
    _ work: @escaping @Sendable () async -> Void
) async {
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            await work()
            try? await clock.sleep(for: interval)
        }
    }
}
