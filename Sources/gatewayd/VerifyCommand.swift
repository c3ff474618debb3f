import ArgumentParser
import Foundation
import Provenance
import StreamEngine

/// `gatewayd verify`: recomputes the ledger's hash chain (and signatures) and every reading's digest against
/// the archive, and names the first batch and reading that no longer match.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that no stored reading was altered: the ledger's hash chain, signatures, and every reading.",
        discussion: "Exit status 0 when intact, 1 with the first problem named (entry, line, reading identity) otherwise.")

    @Option(help: "Data directory.")
    var dir: String

    @Option(help: "The gateway's public key file (hex), to check the entries' Ed25519 signatures.")
    var publicKey: String?

    func run() throws {
        let archivePath = dir + "/engine.sqlite"
        guard FileManager.default.fileExists(atPath: archivePath) else {
            throw ValidationError("--dir \(dir): no gateway data here (missing engine.sqlite)")
        }
        let archive = try ReadingArchive(path: archivePath)
        let key = try publicKey.map { path in
            do {
                return try GatewayKey.loadPublicKey(from: path)
            } catch {
                throw ValidationError("--public-key \(path): \(error)")
            }
        }
        let report = try Ledger.verify(
            directory: dir + "/ledger", lookup: { identity in try archive.reading(identity: identity.hex) },
            batch: { entry in try archive.ledgerItems(ledgerSequence: entry.sequence) }, publicKey: key)
        print(report.summary)
        let stored = try archive.storedReadingCount()
        if report.isIntact && report.readingsVerified < stored {
            print("warning: \(stored - report.readingsVerified) stored reading(s) are not in the ledger")
            throw ExitCode(1)
        }
        if !report.isIntact { throw ExitCode(1) }
    }
}
