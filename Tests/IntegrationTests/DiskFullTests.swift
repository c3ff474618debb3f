import Foundation
import StreamEngine
import Testing

@testable import GatewayRuntime

/// A gateway whose data directory's file system fills up (an SD card is small): it stops confirming — devices keep
/// their readings — says why in the log, `/metrics` and `gatewayd status`, keeps serving reads, and stores again by
/// itself once space is freed; nothing it confirmed is lost. On a real, tiny file system (a tmpfs the test mounts).
/// A tmpfs of a few megabytes the test mounts (root only): a real file system that fills up.
enum SmallFileSystem {
    static let canMount: Bool = {
        guard let dir = try? APIHarness.scratch("mount-probe") else { return false }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard mount(dir, megabytes: 1) else { return false }
        unmount(dir)
        return true
    }()

    @discardableResult
    static func mount(_ dir: String, megabytes: Int) -> Bool {
        tool("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", dir]) == 0
    }

    static func unmount(_ dir: String) { _ = tool("/bin/umount", [dir]) }

    /// (Synchronous, unlike the tests' other commands: the probe is a trait's condition and the unmount a `defer`; mount
    /// and umount take no time.)
    private static func tool(_ path: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Suite(
    .serialized,
    .enabled(if: SmallFileSystem.canMount, "mounting a small tmpfs needs root; scripts/test says when this did not run")
)
struct DiskFullTests {
    @Test func aFullDiskStopsConfirmationsSaysWhyAndStoringResumesWhenSpaceReturns() async throws {
        let dir = try APIHarness.scratch("disk-full")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fs = dir + "/card"
        try FileManager.default.createDirectory(atPath: fs, withIntermediateDirectories: true)
        try #require(SmallFileSystem.mount(fs, megabytes: 8))
        defer { SmallFileSystem.unmount(fs) }
        let port = FHIRAPITests.freePort()
        let config = dir + "/gatewayd.yaml"
        let daemon = try DaemonCrashTests.runDeviceMix(
            config: config, data: fs + "/data",
            gateway: "{ id: gw-full, time_zone: Asia/Tokyo, notification_linger: 200ms }", port: port,
            notifyEvery: "50ms")
        defer { if daemon.process.isRunning { daemon.process.terminate() } }
        #expect(await daemon.waitForStderr(timeout: .seconds(30)) { $0.contains("gatewayd is running") })
        try await Task.sleep(for: .milliseconds(1500))

        // Fill the card, and keep it full: a failed batch's rolled-back files give a few pages back, and a filler that
        // stopped at its first failed 64 KiB block left up to 64 KiB, where the next small batch was stored (CI saw
        // the gauge back at 0 by the time it was read).
        let filler = try await DiskFiller(path: fs + "/filler")
        #expect(
            await daemon.waitForStderr(timeout: .seconds(30)) {
                $0.contains("the disk is full: no reading is confirmed")
            }, "\(daemon.stderr.suffix(2000))")
        let metrics = try await APIHarness.send("GET", "http://127.0.0.1:\(port)/metrics", token: nil)
        #expect(
            String(decoding: metrics.data, as: UTF8.self).contains("gatewayd_storage_failing{reason=\"disk_full\"} 1"))
        let status = try await FHIRAPITests.run(["status", "--config", config])
        #expect(status.output.contains("FULL or nearly"), "\(status.output)")
        // Reads go on.
        let read = try await FHIRAPITests.get(
            "http://127.0.0.1:\(port)/fhir/Observation?subject=alice&_count=5", token: nil)
        #expect(read.status == 200)
        let storedWhenFull = try ReadingArchive(path: fs + "/data/engine.sqlite").storedReadingCount()

        // Space returns: storing resumes by itself.
        try await filler.remove()
        #expect(
            await daemon.waitForStderr(timeout: .seconds(60)) { $0.contains("readings are stored again") },
            "\(daemon.stderr.suffix(2000))")
        try await Task.sleep(for: .milliseconds(2500))  // the devices whose links failed connect again
        #expect(try ReadingArchive(path: fs + "/data/engine.sqlite").storedReadingCount() > storedWhenFull)
        let after = try await APIHarness.send("GET", "http://127.0.0.1:\(port)/metrics", token: nil)
        #expect(
            String(decoding: after.data, as: UTF8.self).contains("gatewayd_storage_failing{reason=\"disk_full\"} 0"))
        daemon.process.terminate()
        daemon.process.waitUntilExit()

        // Every reading it stored is there once and readable, and the ledger holds together.
        try await DaemonCrashTests.checkInvariant(data: fs + "/data", final: true)
        let verified = try await FHIRAPITests.run(["verify", "--dir", fs + "/data"])
        #expect(
            verified.status == 0 && verified.output.contains("intact"),
            "\(verified.output)\n\(daemon.stderr.split(separator: "\n").filter { $0.contains("error") || $0.contains("warning") }.joined(separator: "\n"))"
        )
    }
}

/// Writes a file until the file system is full, and goes on taking any space that comes back until `remove()`. It
/// works on a thread of its own: file writes block.
final class DiskFiller: @unchecked Sendable {
    private let path: String
    private let handle: FileHandle
    private let lock = NSLock()
    private var stopping = false
    private var stopped: CheckedContinuation<Void, Never>?
    private var ended = false

    /// Returns once the file system is full.
    init(path: String) async throws {
        self.path = path
        FileManager.default.createFile(atPath: path, contents: nil)
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        await withCheckedContinuation { (full: CheckedContinuation<Void, Never>) in
            Thread { [self] in
                var full: CheckedContinuation<Void, Never>? = full
                while !lock.withLock({ stopping }) {
                    fill()
                    full?.resume()
                    full = nil
                    Thread.sleep(forTimeInterval: 0.01)
                }
                let waiter = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                    ended = true
                    return stopped
                }
                waiter?.resume()
            }.start()
        }
    }

    /// Writes ever smaller blocks until not even a byte fits.
    private func fill() {
        for size in [64 << 10, 4 << 10, 512, 1] {
            let block = Data(count: size)
            while (try? handle.write(contentsOf: block)) != nil {}
        }
    }

    /// Stops filling and deletes the file: the space returns.
    func remove() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = lock.withLock { () -> Bool in
                stopping = true
                if ended { return true }
                stopped = continuation
                return false
            }
            if done { continuation.resume() }
        }
        try? handle.close()
        try FileManager.default.removeItem(atPath: path)
    }
}
