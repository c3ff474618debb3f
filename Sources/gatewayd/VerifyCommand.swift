import ArgumentParser
import Foundation
import GatewayRuntime
import Provenance

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
        let result = try DataVerification.check(dir: dir, publicKey: key)
        print(result.report.summary)
        if let warning = result.warning { print("warning: " + warning) }
        if !result.intact { throw ExitCode(1) }
    }
}
