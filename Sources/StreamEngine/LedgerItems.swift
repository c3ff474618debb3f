import Crypto
import Foundation
import GRDB
import Provenance

extension ReadingArchive {
    /// The digest a ledger entry (format 2) records for a reading: SHA-256 over a domain line, the digest of its
    /// provenance entry's stored JSON and its stored variation — the canonical bytes of the reading as the archive
    /// keeps it, so verifying hashes what is on disk, and ingest hashes a few dozen bytes, not the reading's JSON.
    static func digest(template: Data, body: [UInt8]) -> ReadingDigest {
        var hasher = SHA256()
        hasher.update(data: Array("gatewayd-reading-v2\n".utf8))
        hasher.update(data: template)
        hasher.update(data: body)
        return ReadingDigest(hex: hasher.finalize().hexString)
    }

    /// A journaled reading's ledger item (recovery records readings journaled before a crash).
    func ledgerItem(identity: String, reading: Reading) throws -> LedgerEntry.Item {
        let (template, variation) = reading.split()
        let entry = try queue.write { db in try catalog.entry(of: template, db) }
        return LedgerEntry.Item(identity: ReadingIdentity(hex: identity), digest: Self.digest(template: entry.digest, body: variation.encoded()))
    }

    /// The ledger items of what the archive holds for an entry, from the bytes on disk: each reading's identity
    /// recomputed from the reading, its digest from its provenance entry's stored JSON and its stored variation.
    public func ledgerItems(ledgerSequence: Int) throws -> [LedgerEntry.Item] {
        try queue.read { db in
            var templateDigests: [Int64: Data] = [:]
            return try rows(ledgerSequence: ledgerSequence, db).map { row in
                let id: Int64 = row["id"], provenance: Int64 = row["provenance_id"], body: Data = row["body"]
                let reading = try strictReading(from: row, db)
                guard let subject = reading.subject else { throw ReadingSplitError(description: "reading row \(id) has no subject") }
                if templateDigests[provenance] == nil {
                    let stored: Data
                    do { stored = try catalog.json(provenance, db) } catch {
                        throw ReadingSplitError(description: "reading row \(id): \(error)")
                    }
                    templateDigests[provenance] = Data(SHA256.hash(data: stored))
                }
                return LedgerEntry.Item(
                    identity: ReadingIdentity(of: reading, subject: subject),
                    digest: Self.digest(template: templateDigests[provenance] ?? Data(), body: Array(body)))
            }
        }
    }
}
