import ArgumentParser
import Foundation
import GatewayRuntime

/// `gatewayd backup`: one file holding a consistent, verified copy of a gateway's data directory, taken while it runs
/// (`DataBackup` says how).
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
        let written = try DataBackup.write(
            data: data, to: output, signingKey: configuration?.signingKeyFile, gatewayID: configuration?.gatewayID,
            sealKeysWith: includeKeys ? try passphraseFile.map { try SealedKeys.passphrase(file: $0) } : nil
        ) {
            FileHandleOutput.standardError("gatewayd backup: waiting for the batch being written to finish")
        }
        let manifest = written.manifest
        let paused = written.ingestPaused.components
        print(
            "backup \(output): \(manifest.members.count) files, \(written.bytes) bytes; ledger \(manifest.ledgerEntries) entries, "
                + "\(manifest.storedReadings) readings; keys \(written.keysSealed ? "sealed with the passphrase" : "not included (--include-keys)"); "
                + "verified (\(written.membersReadBack) members read back against MANIFEST.json); ingest paused "
                + "\(paused.seconds * 1000 + paused.attoseconds / 1_000_000_000_000_000) ms for the copy"
        )
    }
}
