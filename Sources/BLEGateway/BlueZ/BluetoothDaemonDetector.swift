import Foundation

/// Whether BlueZ's daemon is running next to gatewayd. Both talk to the same kernel management interface: bluetoothd
/// answers pairing requests with its own agent, loads its own bonds (replacing ours) and may auto-connect devices it
/// knows, so the operator has to choose who owns pairing.
public struct BluetoothDaemonDetector: Sendable {
    /// Where to look for processes (a test points it at a fake tree).
    public var procRoot: String
    public var processName: String

    public init(procRoot: String = "/proc", processName: String = "bluetoothd") {
        self.procRoot = procRoot
        self.processName = processName
    }

    /// The finding and what it means for the operator.
    public struct Status: Equatable, Sendable {
        public var processIDs: [Int32]
        public var isRunning: Bool { !processIDs.isEmpty }

        /// One paragraph for the log at start-up.
        public var advice: String {
            guard isRunning else {
                return
                    "bluetoothd is not running: gatewayd answers pairing requests itself and restores its saved bonds into the kernel at start."
            }
            let pids = processIDs.map(String.init).joined(separator: ", ")
            return
                "bluetoothd is running (pid \(pids)): it also answers pairing requests, replaces the kernel's keys with its own bonds and may connect to devices gatewayd wants. Either stop it (systemctl disable --now bluetooth) so gatewayd owns the controller, or let bluetoothd own pairing (pair once with bluetoothctl) and run gatewayd without its pairing agent and bond store."
        }
    }

    /// Scans `procRoot/<pid>/comm` for the daemon's name. Unreadable entries (processes that just exited, hidepid)
    /// are skipped.
    public func detect() -> Status {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: procRoot)) ?? []
        var pids: [Int32] = []
        for entry in entries {
            guard let pid = Int32(entry), pid > 0 else { continue }
            guard let data = FileManager.default.contents(atPath: "\(procRoot)/\(entry)/comm") else { continue }
            let name = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if name == processName { pids.append(pid) }
        }
        return Status(processIDs: pids.sorted())
    }
}
