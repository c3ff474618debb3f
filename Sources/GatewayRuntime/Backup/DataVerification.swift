import Crypto
import Foundation
import Provenance
import StreamEngine

/// A directory that should hold a gateway's data does not: said the same way by every command that reads one.
package struct NoGatewayData: Error, CustomStringConvertible {
    /// The directory, and how the person gave it ("--dir", "data_directory"), when a command line did.
    package var dir: String
    package var givenAs: String?

    package var description: String {
        (givenAs.map { $0 + " " } ?? "") + "\(dir): no gateway data here (missing engine.sqlite)"
    }

    /// Throws unless `dir` holds a gateway's archive.
    package static func check(_ dir: String, givenAs: String? = "--dir") throws(NoGatewayData) {
        guard FileManager.default.fileExists(atPath: dir + "/engine.sqlite") else {
            throw NoGatewayData(dir: dir, givenAs: givenAs)
        }
    }
}

/// The ledger's check of a data directory — what `gatewayd verify` prints, `backup` checks its copy with and `restore`
/// the restored data: intact when every entry and reading checks out and every stored reading is in the ledger.
package struct DataVerification: Sendable {
    package var report: LedgerVerification
    package var stored: Int
    package var intact: Bool
    package var warning: String?

    package static func check(dir: String, publicKey: Curve25519.Signing.PublicKey? = nil) throws -> DataVerification {
        try NoGatewayData.check(dir)
        let archive = try ReadingArchive(path: dir + "/engine.sqlite")
        let report = try Ledger.verify(
            directory: dir + "/ledger", lookup: { identity in try archive.reading(identity: identity.hex) },
            batch: { entry in try archive.ledgerItems(ledgerSequence: entry.sequence) }, publicKey: publicKey)
        let stored = try archive.storedReadingCount()
        if report.isIntact && report.readingsVerified < stored {
            return DataVerification(
                report: report, stored: stored, intact: false,
                warning: "\(stored - report.readingsVerified) stored reading(s) are not in the ledger")
        }
        return DataVerification(report: report, stored: stored, intact: report.isIntact, warning: nil)
    }
}
