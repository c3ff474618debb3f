import Foundation
import StreamEngine
import Testing

@testable import GatewayRuntime

/// A card that starts failing writes (EIO) under a running gateway, made with device-mapper: the gateway's data
/// directory is on ext2 over a dm device that is switched from `linear` to `flakey … error_writes` (reads still work,
/// every write fails). It runs in the hw/testbed guest, a whole Linux machine where the test is root and the kernel
/// has device-mapper; elsewhere it is skipped, and scripts/test runs the guest.
@Suite(
    .serialized,
    .enabled(
        if: ProcessInfo.processInfo.environment["GATEWAYD_TESTBED_GUEST"] == "1",
        "needs the hw/testbed guest (root, device-mapper); hw/testbed/run-bluetooth-tests.sh runs it"))
struct FailingDiskTests {
    /// Runs `command` with /bin/sh; its status and what it printed.
    @discardableResult
    static func shell(_ command: String) async throws -> (status: Int32, output: String) {
        // No udev in the guest: libdevmapper makes the /dev/mapper nodes itself.
        try await FHIRAPITests.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "export DM_DISABLE_UDEV=1; " + command])
    }

    static let sectors = 65_536  // 32 MiB

    @Test func aDiskThatFailsWritesStopsConfirmationsSaysSoAndLosesNothingConfirmed() async throws {
        try #require(
            try await Self.shell("command -v dmsetup && modprobe dm-flakey && modprobe loop && modprobe ext4").status
                == 0,
            "the guest lacks dmsetup or the dm-flakey, loop or ext4 modules: rebuild it (hw/testbed/build-guest.sh)")
        let dir = try APIHarness.scratch("failing-disk")
        let card = dir + "/card"
        try FileManager.default.createDirectory(atPath: card, withIntermediateDirectories: true)
        let loop = try await Self.shell("truncate -s 32M \(dir)/card.img && losetup -f --show \(dir)/card.img").output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(loop.hasPrefix("/dev/loop"), "losetup: \(loop)")
        let linear = "0 \(Self.sectors) linear \(loop) 0"
        let setUp = try await Self.shell(
            "dmsetup create gwcard --table '\(linear)' && mkfs.ext2 -q /dev/mapper/gwcard && mount -o errors=continue /dev/mapper/gwcard \(card)"
        )
        try #require(setUp.status == 0, "\(setUp.output)")
        defer {
            // (Synchronous in a `defer`; these take no time.)
            let cleanUp = Process()
            cleanUp.executableURL = URL(fileURLWithPath: "/bin/sh")
            cleanUp.arguments = [
                "-c", "export DM_DISABLE_UDEV=1; umount -l \(card); dmsetup remove --force gwcard; losetup -d \(loop)",
            ]
            if (try? cleanUp.run()) != nil { cleanUp.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let port = FHIRAPITests.freePort()
        let config = dir + "/gatewayd.yaml"
        let daemon = try DaemonCrashTests.runDeviceMix(
            config: config, data: card + "/data",
            gateway: "{ id: gw-eio, time_zone: Asia/Tokyo, notification_linger: 200ms }", port: port,
            notifyEvery: "100ms")
        defer { if daemon.process.isRunning { daemon.process.terminate() } }
        #expect(await daemon.waitForStderr(timeout: .seconds(120)) { $0.contains("gatewayd is running") })
        // (Counted with the archive opened for the moment only: an open file would keep the card from unmounting.)
        func stored() throws -> Int { try ReadingArchive(path: card + "/data/engine.sqlite").storedReadingCount() }
        for _ in 0..<200 where try stored() < 20 { try await Task.sleep(for: .milliseconds(200)) }

        // The card starts failing every write; reads still work.
        let storedBefore = try stored()
        let fail = try await Self.shell(
            "dmsetup suspend gwcard && dmsetup load gwcard --table '0 \(Self.sectors) flakey \(loop) 0 0 3600 1 error_writes' && dmsetup resume gwcard"
        )
        try #require(fail.status == 0, "\(fail.output)")
        #expect(
            await daemon.waitForStderr(timeout: .seconds(120)) { $0.contains("the disk fails writes (I/O error)") },
            "\(daemon.stderr.suffix(3000))")
        let metrics = String(
            decoding: try await APIHarness.send("GET", "http://127.0.0.1:\(port)/metrics", token: nil).data,
            as: UTF8.self)
        // (What the engine logged for each failed batch says which error was classed how.)
        let failures = metrics.split(separator: "\n").filter {
            $0.contains("storage_failing") || $0.contains("batches_failed")
        }
        let logged = daemon.stderr.split(separator: "\n").filter { $0.contains("reason=") }.suffix(8)
        #expect(
            metrics.contains("gatewayd_storage_failing{reason=\"io_error\"} 1"),
            "\(failures.joined(separator: "\n"))\n\(logged.joined(separator: "\n"))")
        // Reads go on.
        let read = try await FHIRAPITests.get(
            "http://127.0.0.1:\(port)/fhir/Observation?subject=alice&_count=5", token: nil)
        #expect(read.status == 200)

        // The operator stops it and moves the data to a working card: here the same card working again, checked.
        daemon.process.terminate()
        #expect(
            await DaemonTests.waitForExit(daemon.process, seconds: 120),
            "gatewayd did not stop on a failing card: \(daemon.stderr.suffix(4000))")
        let repair = try await Self.shell(
            "umount \(card) && dmsetup suspend gwcard && dmsetup load gwcard --table '\(linear)' && dmsetup resume gwcard "
                + "&& (e2fsck -fy /dev/mapper/gwcard; [ $? -le 1 ]) && mount -o errors=continue /dev/mapper/gwcard \(card)"
        )
        try #require(repair.status == 0, "\(repair.output)")

        // Every reading it confirmed is there once and readable, and the signed ledger holds together.
        try await DaemonCrashTests.checkInvariant(data: card + "/data", final: false)
        #expect(try stored() >= storedBefore)
        let verified = try await FHIRAPITests.run(["verify", "--dir", card + "/data"])
        #expect(verified.status == 0 && verified.output.contains("intact"), "\(verified.output)")
    }
}
