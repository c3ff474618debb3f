import ArgumentParser
import Crypto
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine

/// `gatewayd verify`: recomputes the ledger's hash chain (and signatures) and every reading's digest against
/// the archive, and names the first batch and reading that no longer match.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that no stored reading was altered: the ledger's hash chain, signatures, and every reading.",
        discussion:
            "Exit status 0 when intact, 1 with the first problem named (entry, line, reading identity) otherwise.")

    @Option(help: "Data directory.")
    var dir: String

    @Option(help: "The gateway's public key file (hex), to check the entries' Ed25519 signatures.")
    var publicKey: String?

    func run() throws {
        let key = try publicKey.map { path in
            do {
                return try GatewayKey.loadPublicKey(from: path)
            } catch {
                throw ValidationError("--public-key \(path): \(error)")
            }
        }
        let result = try Self.verify(dir: dir, publicKey: key)
        print(result.report.summary)
        if let warning = result.warning { print("warning: " + warning) }
        if !result.intact { throw ExitCode(1) }
    }

    /// The ledger's check of the data directory `dir` (what `verify` prints, `backup` checks its copy with and `restore`
    /// the restored data): intact when every entry and reading checks out and every stored reading is in the ledger.
    static func verify(
        dir: String, publicKey: Curve25519.Signing.PublicKey? = nil
    ) throws -> (report: LedgerVerification, stored: Int, intact: Bool, warning: String?) {
        let archivePath = dir + "/engine.sqlite"
        guard FileManager.default.fileExists(atPath: archivePath) else {
            throw ValidationError("--dir \(dir): no gateway data here (missing engine.sqlite)")
        }
        let archive = try ReadingArchive(path: archivePath)
        let report = try Ledger.verify(
            directory: dir + "/ledger", lookup: { identity in try archive.reading(identity: identity.hex) },
            batch: { entry in try archive.ledgerItems(ledgerSequence: entry.sequence) }, publicKey: publicKey)
        let stored = try archive.storedReadingCount()
        if report.isIntact && report.readingsVerified < stored {
            return (
                report, stored, false, "\(stored - report.readingsVerified) stored reading(s) are not in the ledger"
            )
        }
        return (report, stored, report.isIntact, nil)
    }
}
