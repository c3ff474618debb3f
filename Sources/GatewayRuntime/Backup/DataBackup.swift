import Foundation
import Provenance
import StreamEngine

/// A consistent, verified copy of a gateway's data directory in one file (`gatewayd backup`), and the way back into a
/// new directory (`gatewayd restore`).
///
/// Consistent: the copy is made under the ingest lock (`IngestLock`), which the engine holds for each batch, so it is
/// the data directory between two batches — what a power cut there would leave, which recovery completes on the first
/// start (the crash tests prove every such point). SQLite files are copied with SQLite's online backup; the store's log
/// is copied before its catalog and the catalog before the chunk files, so a chunk sealed meanwhile (the store's own
/// thread) is in the copy once, by its log position. The copy is verified (the ledger and every reading) before it is
/// written, and the file is read back against its manifest after.
package enum DataBackup {
    package struct Written: Sendable {
        package var manifest: BackupManifest
        package var bytes: Int
        package var keysSealed: Bool
        package var membersReadBack: Int
        /// How long the engine's batches waited: what a backup costs a running gateway.
        package var ingestPaused: Duration
    }

    /// Writes the backup of `data` to `output` (outside it); keys only when a passphrase seals them.
    /// `waiting` is told when a batch being written holds the lock.
    package static func write(
        data: String, to output: String, signingKey: String?, gatewayID: String?, sealKeysWith passphrase: String?,
        waiting: () -> Void = {}
    ) throws -> Written {
        let outputPath = URL(fileURLWithPath: output).standardizedFileURL.path
        let dataPath = URL(fileURLWithPath: data).standardizedFileURL.path
        guard !outputPath.hasPrefix(dataPath + "/") else {
            throw BackupError.cannotWrite(path: output, reason: "put the backup outside the data directory")
        }
        try NoGatewayData.check(data, givenAs: nil)
        let keys = BackupKeys(data: data, signingKey: signingKey)
        let staging = outputPath + ".staging-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try? FileManager.default.removeItem(atPath: staging)

        let lock = try IngestLock(dataDirectory: data)
        if !lock.tryLock() {
            waiting()
            lock.lock()
        }
        let copyStart = ContinuousClock.now
        do {
            defer { lock.unlock() }
            try DataSnapshot.copy(data: data, into: staging, skipping: Set(keys.files.values))
        }
        let paused = copyStart.duration(to: .now)
        // The copy must verify before it is worth keeping.
        let check = try DataVerification.check(dir: staging)
        guard check.intact else { throw BackupError.notIntact(check.warning ?? check.report.summary) }

        let partial = outputPath + ".partial"
        var writer = try BackupTarWriter(path: partial)
        for name in try DataSnapshot.files(in: staging) { try writer.add(name: name, file: staging + "/" + name) }
        var sealed = false
        if let passphrase {
            var files: [String: [UInt8]] = [:]
            for (name, path) in keys.files {
                if let bytes = FileManager.default.contents(atPath: path) { files[name] = [UInt8](bytes) }
            }
            try writer.add(
                name: BackupManifest.sealedKeysName, bytes: try SealedKeys.seal(files, passphrase: passphrase),
                mode: 0o600)
            sealed = true
        }
        let manifest = BackupManifest(
            created: ISO8601DateFormatter().string(from: Date()), gatewayID: gatewayID,
            ledgerEntries: check.report.entriesVerified, storedReadings: check.stored, keysSealed: sealed,
            members: writer.members)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writer.add(name: BackupManifest.memberName, bytes: Array(try encoder.encode(manifest)), listed: false)
        try writer.finish()
        // Read back: every member as the manifest says.
        let read = try BackupReader.check(path: partial)
        try FileManager.default.moveItem(atPath: partial, toPath: outputPath)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: outputPath)[.size] as? NSNumber)?.intValue ?? 0
        return Written(
            manifest: manifest, bytes: bytes, keysSealed: sealed, membersReadBack: read.members.count,
            ingestPaused: paused)
    }

    package struct Restored: Sendable {
        package var manifest: BackupManifest
        package var verification: DataVerification
        /// The keys restored, by name; empty when the backup held none or they were left out.
        package var keys: [String]
        package var backupHeldKeys: Bool
    }

    /// Restores `input` into `data` (new or empty). Checked before anything is written, so a damaged backup leaves no
    /// half-restored directory behind; the restored data must then verify. The signing key goes to `signingKey`
    /// (default DATA/gateway.key). `passphrase` opens sealed keys; `withoutKeys` leaves them out.
    package static func restore(
        _ input: String, into data: String, signingKey configuredKey: String?, passphrase: () throws -> String?,
        withoutKeys: Bool
    ) throws -> Restored {
        let manager = FileManager.default
        if manager.fileExists(atPath: data), !((try? manager.contentsOfDirectory(atPath: data)) ?? []).isEmpty {
            throw BackupError.notEmpty(path: data)
        }
        let contents = try BackupReader.check(path: input)
        var keys: [String: [UInt8]] = [:]
        if let sealed = contents.sealedKeys, !withoutKeys {
            guard let passphrase = try passphrase() else {
                throw BackupError.keys(
                    "this backup holds the gateway's keys: give --passphrase-file (or --without-keys to pair devices again)"
                )
            }
            keys = try SealedKeys.open(sealed, passphrase: passphrase)
        }
        try manager.createDirectory(atPath: data, withIntermediateDirectories: true)
        let signingKey = configuredKey ?? data + "/gateway.key"
        do {
            _ = try BackupReader.check(path: input, extractInto: data)
            for (name, bytes) in keys {
                let target: String =
                    switch name {
                    case "signing.key": signingKey
                    case "signing.key.pub": signingKey + ".pub"
                    default: data + "/" + name
                    }
                try manager.createDirectory(
                    atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                guard !manager.fileExists(atPath: target) else {
                    throw BackupError.keys("\(target) exists already; it is not overwritten")
                }
                guard
                    manager.createFile(
                        atPath: target, contents: Data(bytes),
                        attributes: [.posixPermissions: name.hasSuffix(".pub") ? 0o644 : 0o600])
                else {
                    throw BackupError.cannotWrite(path: target, reason: "the key file cannot be created")
                }
            }
        } catch {
            try? manager.removeItem(atPath: data)
            throw error
        }
        let publicKey = keys["signing.key.pub"].flatMap { _ in try? GatewayKey.loadPublicKey(from: signingKey + ".pub")
        }
        let check = try DataVerification.check(dir: data, publicKey: publicKey)
        return Restored(
            manifest: contents.manifest, verification: check, keys: keys.keys.sorted(),
            backupHeldKeys: contents.sealedKeys != nil)
    }
}
