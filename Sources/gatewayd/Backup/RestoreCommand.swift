import ArgumentParser
import Foundation
import GatewayRuntime

/// `gatewayd restore`: a backup back into a new data directory (a new SD card), checked member by member, then verified.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup made by `gatewayd backup` into a new, empty data directory, and verify it.",
        discussion: """
            Every file is checked against the backup's manifest (SHA-256); the restored data must then pass the same \
            check as `gatewayd verify`. Keys sealed in the backup need --passphrase-file; the signing key goes to the \
            configuration's gateway.signing_key_file (with --dir: DATA/gateway.key). The first start recovers the batch \
            that was in progress when the backup was taken, as after a power cut.
            """)

    @Option(help: "The backup file.")
    var input: String

    /// The gateway to restore to: its data directory (new or empty) and signing key path.
    @OptionGroup var location: DataLocationOptions

    @Option(help: "The file whose first line is the passphrase the keys were sealed with.")
    var passphraseFile: String?

    @Flag(help: "Restore without the keys even though the backup holds them (devices must then be paired again).")
    var withoutKeys = false

    func run() throws {
        let (data, configuration) = try location.resolve()
        let restored = try DataBackup.restore(
            input, into: data, signingKey: configuration?.signingKeyFile,
            passphrase: { try passphraseFile.map { try SealedKeys.passphrase(file: $0) } }, withoutKeys: withoutKeys)
        let check = restored.verification
        print(check.report.summary)
        guard check.intact else { throw BackupError.notIntact(check.warning ?? check.report.summary) }
        let manifest = restored.manifest
        print(
            "restored \(manifest.members.count) files of the backup made \(manifest.created) into \(data): "
                + "\(manifest.storedReadings) readings, ledger \(manifest.ledgerEntries) entries; "
                + (restored.keys.isEmpty
                    ? (restored.backupHeldKeys ? "keys left out" : "the backup held no keys")
                        + " (pair devices again; a new signing key starts on the first run)"
                    : "keys restored: \(restored.keys.joined(separator: ", "))"))
    }
}
