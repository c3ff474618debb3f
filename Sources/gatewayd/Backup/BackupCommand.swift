import ArgumentParser
import Foundation
import GRDB
import GatewayRuntime
import StreamEngine

/// `gatewayd backup`: one file holding a consistent copy of a gateway's data directory, taken while it runs.
///
/// Consistent: the copy is made under the ingest lock (`IngestLock`), which the engine holds for each batch, so it is
/// the data directory between two batches — what a power cut there would leave, which recovery completes on the first
/// start (the crash tests prove every such point). SQLite files are copied with SQLite's online backup; the store's log
/// is copied before its catalog and the catalog before the chunk files, so a chunk sealed meanwhile (the store's own
/// thread) is in the copy once, by its log position. The copy is verified (the ledger and every reading) before it is
/// written, and the file is read back against its manifest after.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent, verified copy of a gateway's data directory (running or not) to one file.",
        discussion: """
            The file is a tar: the data directory's files, then MANIFEST.json with each file's SHA-256. Keys (the \
            ledger signing key, Bluetooth bonds, the TLS key) are left out unless --include-keys is given, and then \
            sealed with the passphrase from --passphrase-file (scrypt + AES-256-GCM). `gatewayd restore` brings it back.
            """)

    @OptionGroup var location: DataLocationOptions

    @Option(help: "The backup file to write (outside the data directory).")
    var output: String

    @Flag(help: "Include the keys, sealed with the passphrase of --passphrase-file.")
    var includeKeys = false

    @Option(help: "A file whose first line is the passphrase that seals the keys (at least 8 characters).")
    var passphraseFile: String?

    func validate() throws {
        if includeKeys && passphraseFile == nil {
            throw ValidationError("--include-keys needs --passphrase-file: keys are never written in clear")
        }
    }

    func run() throws {
        let (data, configuration) = try location.resolve()
        let (signingKey, gatewayID) = (configuration?.signingKeyFile, configuration?.gatewayID)
        let outputPath = URL(fileURLWithPath: output).standardizedFileURL.path
        let dataPath = URL(fileURLWithPath: data).standardizedFileURL.path
        guard !outputPath.hasPrefix(dataPath + "/") else {
            throw ValidationError("--output \(output): put the backup outside the data directory")
        }
        guard FileManager.default.fileExists(atPath: data + "/engine.sqlite") else {
            throw ValidationError("\(data): no gateway data here (missing engine.sqlite)")
        }
        let passphrase = try passphraseFile.map { try SealedKeys.passphrase(file: $0) }
        let keys = BackupKeys(data: data, signingKey: signingKey)
        let staging = outputPath + ".staging-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try? FileManager.default.removeItem(atPath: staging)

        let lock = try IngestLock(dataDirectory: data)
        if !lock.tryLock() {
            FileHandleOutput.standardError("gatewayd backup: waiting for the batch being written to finish")
            lock.lock()
        }
        let copyStart = ContinuousClock.now
        do {
            defer { lock.unlock() }
            try DataSnapshot.copy(data: data, into: staging, skipping: Set(keys.files.values))
        }
        // How long the engine's batches waited: what a backup costs a running gateway.
        let paused = copyStart.duration(to: .now)
        // The copy must verify before it is worth keeping.
        let check = try VerifyCommand.verify(dir: staging)
        guard check.intact else { throw BackupError.notIntact(check.warning ?? check.report.summary) }

        let partial = outputPath + ".partial"
        var writer = try BackupTarWriter(path: partial)
        for name in try DataSnapshot.files(in: staging) { try writer.add(name: name, file: staging + "/" + name) }
        var sealed = false
        if includeKeys, let passphrase {
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
        print(
            "backup \(output): \(manifest.members.count) files, \(bytes) bytes; ledger \(manifest.ledgerEntries) entries, "
                + "\(manifest.storedReadings) readings; keys \(sealed ? "sealed with the passphrase" : "not included (--include-keys)"); "
                + "verified (\(read.members.count) members read back against MANIFEST.json); ingest paused "
                + "\(paused.components.seconds * 1000 + paused.components.attoseconds / 1_000_000_000_000_000) ms for the copy"
        )
    }
}
