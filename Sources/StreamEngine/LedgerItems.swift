import Crypto
import Foundation
import GRDB
import Provenance

extension ReadingArchive {
    /// The digest a ledger entry (formats 2 and 4) records for a reading: SHA-256 over a domain line, the digest of its
    /// provenance entry's stored JSON and its stored variation — the canonical bytes of the reading as the archive
    /// keeps it, so verifying hashes what is on disk, and ingest hashes a few dozen bytes, not the reading's JSON.
    /// A series reading's variation is the one its samples give again (`SeriesReadings.split`), payload left out.
    static func digest(template: Data, body: [UInt8]) -> ReadingDigest {
        var hasher = SHA256()
        hasher.update(data: Array("gatewayd-reading-v2\n".utf8))
        hasher.update(data: template)
        hasher.update(data: body)
        return ReadingDigest(hex: hasher.finalize().hexString)
    }

    /// A reading's ledger item as the journal computes it (tests record entries by hand with it).
    func ledgerItem(identity: String, reading: Reading) throws -> LedgerEntry.Item {
        let prepared = Prepared(reading)
        catalog.discardPending()
        let entry: (id: Int64, digest: Data)
        do { entry = try queue.write { db in try catalog.entry(of: prepared.template, db) } } catch {
            catalog.discardPending()
            throw error
        }
        catalog.commitPending()
        return LedgerEntry.Item(
            identity: ReadingIdentity(hex: identity), digest: Self.digest(template: entry.digest, body: prepared.body))
    }

    /// The ledger items of what the archive holds for an entry, from the bytes on disk: each reading's identity
    /// recomputed from the reading, its digest from its provenance entry's stored JSON and its stored variation.
    public func ledgerItems(ledgerSequence: Int) throws -> [LedgerEntry.Item] {
        try queue.read { db in
            try contents(ledgerSequence: ledgerSequence, db).flatMap { content in
                try ledgerItems(of: content.row, within: content.within, db).map(\.item)
            }
        }
    }

    /// The readings a row holds with their ledger items, in the order a ledger entry lists them. A row that does not
    /// decode throws, naming it (so `gatewayd verify` reports it instead of counting it missing).
    /// `within`: a batch's part of an extendable span (nil: the whole row).
    func ledgerItems(of row: ReadingRecord, within: Range<Int64>? = nil, _ db: Database) throws -> [(
        reading: Reading, item: LedgerEntry.Item
    )] {
        let id = row.id
        let readings: [(reading: Reading, provenanceID: Int64)]
        do { readings = try expanded(row, within: within ?? Int64.min..<Int64.max, db) } catch {
            throw ReadingSplitError(description: "reading row \(id) does not decode: \(error)")
        }
        let isSpan = Self.span(of: row) != nil
        var templateDigests: [Int64: Data] = [:]
        return try readings.map { reading, provenance in
            guard let subject = reading.subject else {
                throw ReadingSplitError(description: "reading row \(id) has no subject")
            }
            if templateDigests[provenance] == nil {
                let stored: Data
                do { stored = try catalog.json(provenance, db) } catch {
                    throw ReadingSplitError(description: "reading row \(id): \(error)")
                }
                templateDigests[provenance] = Data(SHA256.hash(data: stored))
            }
            let body: [UInt8]
            if isSpan {
                guard let (_, variation) = SeriesReadings.split(reading) else {
                    throw ReadingSplitError(
                        description:
                            "a series reading of row \(id) at \(reading.time.effectiveMicros) µs no longer rebuilds exactly"
                    )
                }
                body = variation.encoded()
            } else {
                body = Array(row.body)
            }
            let item = LedgerEntry.Item(
                identity: ReadingIdentity(of: reading, subject: subject),
                digest: Self.digest(template: templateDigests[provenance] ?? Data(), body: body))
            return (reading, item)
        }
    }
}
