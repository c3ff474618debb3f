import BLEGateway
import Foundation

/// `gatewayd run` with simulated heart-rate straps notifying at 1 Hz, each mapped to a person: the bytes the daemon
/// writes per stored notification (`/proc/PID/io` write_bytes over a measured interval, after a warm-up), as a
/// care-facility hub would write them to its SD card.
struct LiveRun {
    var straps: Int
    var seconds: Double
    var warmup: Double = 10
    var port: Int

    func strapKey(_ number: Int) -> String {
        SystemID(manufacturerIdentifier: 0x01_0200 + UInt64(number), organizationallyUniqueIdentifier: 0x00_1B_C5)?
            .eui64Text ?? ""
    }

    func configuration(directory: String) -> String {
        var lines = [
            "data_directory: \(directory)/data",
            "gateway: { id: bench-live, time_zone: UTC }",
            "api: { listen: \"127.0.0.1:\(port)\", allow_loopback: true }",
            "devices:",
        ]
        for index in 1...straps { lines.append("  - { device: \"\(strapKey(index))\", subject: resident-\(index) }") }
        lines.append("simulated_devices:")
        for index in 1...straps {
            lines.append("  - { kind: heart_rate, name: strap-\(index), notify_every: 1s, seed: \(index) }")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Bytes written per stored notification, and the notifications stored in the measured interval.
    func measure(binary: String, directory: String) async throws -> (
        bytesPerNotification: Double, notifications: Int, rssKiB: Int
    ) {
        let config = directory + "/live.yaml"
        try configuration(directory: directory).write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Child.start(binary, ["run", "--config", config])
        defer { daemon.stop() }
        try await Task.sleep(for: .seconds(warmup))
        let (bytes0, stored0) = try sample(daemon, binary: binary, config: config)
        try await Task.sleep(for: .seconds(seconds))
        let (bytes1, stored1) = try sample(daemon, binary: binary, config: config)
        let rss = daemon.memory().rss
        let stored = stored1 - stored0
        guard stored > 0 else { throw BenchmarkError("gatewayd run stored nothing in \(seconds) s") }
        return (Double(bytes1 - bytes0) / Double(stored), stored, rss)
    }

    /// The daemon's bytes written so far, and the readings stored (from `gatewayd status`, beside the running daemon).
    func sample(_ daemon: Child, binary: String, config: String) throws -> (Int, Int) {
        let io = (try? String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/io", encoding: .utf8)) ?? ""
        let written =
            io.split(separator: "\n").first { $0.hasPrefix("write_bytes:") }.flatMap {
                Int($0.split(separator: " ").last ?? "")
            } ?? 0
        let status = try Child.run(binary, ["status", "--config", config])
        // "== readings: N stored, …"
        guard let line = status.output.split(separator: "\n").first(where: { $0.hasPrefix("== readings: ") }),
            let count = Int(line.dropFirst("== readings: ".count).prefix { $0.isNumber })
        else { throw BenchmarkError("gatewayd status said: \(status.output.prefix(500))") }
        return (written, count)
    }
}
