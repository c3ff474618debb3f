import Foundation
import Provenance
import StreamEngine
import Testing

@testable import GatewayRuntime

/// `gatewayd backup` while the daemon ingests (a cuff with two users and stored readings, a meter's records, a strap),
/// `gatewayd restore` onto a new data directory: every batch the backup's ledger holds is there, whole, the restored
/// gateway verifies with its restored signing key, and a damaged or altered backup restores nothing.
@Suite(.serialized) struct BackupTests {
    @Test func aBackupTakenDuringIngestRestoresEveryReadingOfItsLedgerAndVerifies() async throws {
        let dir = try APIHarness.scratch("backup")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let devices = DaemonCrashTests.deviceMappings
        let config = dir + "/gatewayd.yaml"
        try DaemonCrashTests.deviceMixConfiguration(
            data: dir + "/data",
            gateway: "{ id: gw-backup, time_zone: Asia/Tokyo, signing_key_file: \(dir)/keys/gateway.key }",
            notifyEvery: "100ms"
        ).write(toFile: config, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/keys", withIntermediateDirectories: true)
        let passphrase = dir + "/passphrase"
        try "correct horse battery staple\n".write(toFile: passphrase, atomically: true, encoding: .utf8)

        let daemon = try GatewaydProcess(["run", "--config", config])
        defer { if daemon.process.isRunning { daemon.process.terminate() } }
        #expect(await daemon.waitForStderr(timeout: .seconds(30)) { $0.contains("gatewayd is running") })
        try await Task.sleep(for: .milliseconds(1500))
        // Taken while the strap notifies and the meter downloads.
        let backup = try await APIHarness.run([
            "backup", "--config", config, "--output", dir + "/gateway.backup", "--include-keys", "--passphrase-file",
            passphrase,
        ])
        #expect(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        #expect(backup.stdout.contains("verified") && backup.stdout.contains("keys sealed"), "\(backup.stdout)")
        try await Task.sleep(for: .milliseconds(700))
        daemon.process.terminate()
        #expect(await DaemonTests.waitForExit(daemon.process, seconds: 60))

        // Restored onto a "new card": its own data directory and key path.
        let restoredConfig = dir + "/restored.yaml"
        try """
        data_directory: \(dir)/restored
        gateway: { id: gw-backup, time_zone: Asia/Tokyo, signing_key_file: \(dir)/keys2/gateway.key }
        \(devices)
        """.write(toFile: restoredConfig, atomically: true, encoding: .utf8)
        let wrong = dir + "/wrong"
        try "not the passphrase\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        let refused = try await APIHarness.run([
            "restore", "--input", dir + "/gateway.backup", "--config", restoredConfig, "--passphrase-file", wrong,
        ])
        #expect(refused.status != 0 && refused.stderr.contains("passphrase does not open"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/restored/engine.sqlite"))
        let restored = try await APIHarness.run([
            "restore", "--input", dir + "/gateway.backup", "--config", restoredConfig, "--passphrase-file", passphrase,
        ])
        #expect(restored.status == 0, "\(restored.stdout)\(restored.stderr)")
        #expect(
            restored.stdout.contains("keys restored: bluetooth")
                || restored.stdout.contains("keys restored: signing.key"), "\(restored.stdout)")
        let keyMode =
            try FileManager.default.attributesOfItem(atPath: dir + "/keys2/gateway.key")[.posixPermissions] as? NSNumber
        #expect(keyMode?.intValue == 0o600)
        // The restored ledger verifies with the restored key's signatures.
        let verified = try await APIHarness.run([
            "verify", "--dir", dir + "/restored", "--public-key", dir + "/keys2/gateway.key.pub",
        ])
        #expect(verified.status == 0 && verified.stdout.contains("intact"), "\(verified.stdout)\(verified.stderr)")
        // The first start's recovery, then: each reading once, readable, in the store once.
        try await DaemonCrashTests.checkInvariant(data: dir + "/restored", final: false)

        // Every batch of the backup's ledger is in the restored data, and nothing the live gateway did not store.
        let manifest = try BackupReader.check(path: dir + "/gateway.backup").manifest
        #expect(manifest.ledgerEntries > 0 && manifest.storedReadings > 0)
        let live = try ReadingArchive(path: dir + "/data/engine.sqlite")
        let back = try ReadingArchive(path: dir + "/restored/engine.sqlite")
        var restoredIdentities: Set<ReadingIdentity> = []
        for subject in try back.subjects() {
            for reading in try back.readings(subject: subject) {
                if let identity = reading.identity { restoredIdentities.insert(identity) }
            }
        }
        var liveIdentities: Set<ReadingIdentity> = []
        for subject in try live.subjects() {
            for reading in try live.readings(subject: subject) {
                if let identity = reading.identity { liveIdentities.insert(identity) }
            }
        }
        #expect(restoredIdentities.count >= manifest.storedReadings)
        #expect(
            restoredIdentities.isSubset(of: liveIdentities),
            "\(restoredIdentities.subtracting(liveIdentities).count) restored readings the gateway never stored")
        for sequence in 1...manifest.ledgerEntries {
            for item in try live.ledgerItems(ledgerSequence: sequence) {
                #expect(
                    restoredIdentities.contains(item.identity),
                    "ledger entry \(sequence): \(item.identity.hex) missing from the restore")
            }
        }
        // Restoring over data is refused; the data there is untouched.
        let again = try await APIHarness.run([
            "restore", "--input", dir + "/gateway.backup", "--config", restoredConfig, "--passphrase-file", passphrase,
        ])
        #expect(again.status != 0 && again.stderr.contains("holds data already"), "\(again.stderr)")
    }

    @Test func anAlteredOrTruncatedBackupRestoresNothingAndNamesWhy() async throws {
        let dir = try APIHarness.scratch("backup-damage")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await APIHarness.importReadings(SyncTests.day(), into: dir)
        let made = try await APIHarness.run(["backup", "--dir", dir + "/data", "--output", dir + "/b.tar"])
        #expect(made.status == 0 && made.stdout.contains("keys not included"), "\(made.stdout)\(made.stderr)")
        // tar itself reads it.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/b.tar")))
        #expect(String(decoding: bytes[257..<262], as: UTF8.self) == "ustar")
        // One byte of the first member's body altered.
        bytes[600] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/altered.tar"))
        let altered = try await APIHarness.run(["restore", "--input", dir + "/altered.tar", "--dir", dir + "/r1"])
        #expect(altered.status != 0 && altered.stderr.contains("differ from MANIFEST.json"), "\(altered.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/r1/engine.sqlite"))
        // Cut short.
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: dir + "/short.tar"))
        let short = try await APIHarness.run(["restore", "--input", dir + "/short.tar", "--dir", dir + "/r2"])
        #expect(
            short.status != 0 && (short.stderr.contains("incomplete") || short.stderr.contains("MANIFEST")),
            "\(short.stderr)")
        // The intact one restores and verifies.
        let good = try await APIHarness.run(["restore", "--input", dir + "/b.tar", "--dir", dir + "/r3"])
        #expect(good.status == 0 && good.stdout.contains("intact"), "\(good.stdout)\(good.stderr)")
    }
}
