import ArgumentParser
import Crypto
import Foundation
import GatewayRuntime
import Provenance

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
        let configuredKey = configuration?.signingKeyFile
        let manager = FileManager.default
        if manager.fileExists(atPath: data), !((try? manager.contentsOfDirectory(atPath: data)) ?? []).isEmpty {
            throw BackupError.notEmpty(path: data)
        }
        // Checked before anything is written: a damaged backup leaves no half-restored directory behind.
        let contents = try BackupReader.check(path: input)
        var keys: [String: [UInt8]] = [:]
        if let sealed = contents.sealedKeys, !withoutKeys {
            guard let passphraseFile else {
                throw BackupError.keys(
                    "this backup holds the gateway's keys: give --passphrase-file (or --without-keys to pair devices again)"
                )
            }
            keys = try SealedKeys.open(sealed, passphrase: try SealedKeys.passphrase(file: passphraseFile))
        }
        try manager.createDirectory(atPath: data, withIntermediateDirectories: true)
        do {
            _ = try BackupReader.check(path: input, extractInto: data)
            let signingKey = configuredKey ?? data + "/gateway.key"
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
        let publicKey = keys["signing.key.pub"].flatMap { _ in
            try? GatewayKey.loadPublicKey(from: (configuredKey ?? data + "/gateway.key") + ".pub")
        }
        let check = try VerifyCommand.verify(dir: data, publicKey: publicKey)
        print(check.report.summary)
        guard check.intact else { throw BackupError.notIntact(check.warning ?? check.report.summary) }
        let manifest = contents.manifest
        print(
            "restored \(manifest.members.count) files of the backup made \(manifest.created) into \(data): "
                + "\(manifest.storedReadings) readings, ledger \(manifest.ledgerEntries) entries; "
                + (keys.isEmpty
                    ? (contents.sealedKeys == nil ? "the backup held no keys" : "keys left out")
                        + " (pair devices again; a new signing key starts on the first run)"
                    : "keys restored: \(keys.keys.sorted().joined(separator: ", "))"))
    }
}
