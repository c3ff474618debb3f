import FHIR
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine

/// `GET /fhir/Provenance?target=Observation/ID`: the Provenance of the ledger batch each target's reading was
/// accepted in — rebuilt by `ProvenanceMapper` from the ledger entry (DATA/ledger/ledger.jsonl) and the archived
/// readings of that batch, so it carries the entry's hash and signature. A patient-scoped caller gets the batch
/// restricted to its subjects (another subject's Observations are never named), which gives a different id.
package struct ProvenanceSearch: Sendable {
    package static let known: Set<String> = ["target"]
    package var targets: [String]

    package init(_ query: APIQuery) throws(APIError) {
        for item in query.items where !Self.known.contains(item.name) && !APIQuery.isResponseFormatting(item.name) {
            throw .badParameter(item.name, "not a supported search parameter of Provenance (only target)")
        }
        guard let text = try query.single("target") else { throw .badParameter("target", "required: Observation/ID") }
        targets = try ReferenceParameter(text, type: "Observation", parameter: "target").ids
    }

    package func run(_ data: APIData, grant: APIGrant, directory: String, base: String, touched: inout [String]) throws
        -> ExactJSON
    {
        let path = directory + "/ledger/" + Ledger.fileName
        var resources: [FHIRResource] = []
        for id in targets {
            guard let hit = try data.observation(id: id, subjects: try data.subjects(allowed: grant.subjects)),
                let reading = hit.reading, let identity = reading.identity,
                let entry = try Self.entry(recording: reading, identity: identity, archive: data.archive, ledger: path)
            else { continue }
            // Format 1 entries list their readings; format 2 and 4 entries are found through the archive's batch ranges.
            let recorded =
                entry.format == 1
                ? try entry.items.compactMap { try data.archive.reading(identity: $0.identity.hex) }
                : try data.archive.readings(ledgerSequence: entry.sequence)
            let batch = recorded.filter { $0.subject.map(grant.allows(subject:)) ?? false }
            touched += batch.compactMap(\.subject)
            // A restricted batch is not the ledger entry any more: do not claim its hash and signature.
            let whole = batch.count == entry.readingCount
            if let provenance = ProvenanceMapper.provenance(
                batch: batch, ledgerEntry: whole ? entry : nil, recordedMicros: entry.recordedMicros,
                gatewayDeviceID: data.gatewayDeviceID), !resources.contains(where: { $0.id == provenance.id })
            {
                resources.append(provenance)
            }
        }
        touched = Array(Set(touched)).sorted()
        return SearchBundle.searchset(resources, total: resources.count, base: base, links: [])
    }

    /// The ledger entry that recorded a reading: found by the sequence the archive keeps with the reading (a binary
    /// search over the file), or — for a reading stored without one — by reading the format 1 entries through.
    package static func entry(
        recording reading: Reading, identity: ReadingIdentity, archive: ReadingArchive, ledger path: String
    ) throws -> LedgerEntry? {
        if let sequence = try archive.ledgerSequence(of: reading),
            let entry = LedgerLookup.entry(sequence: sequence, inFile: path),
            entry.root != nil || entry.items.contains(where: { $0.identity == identity })
        {
            return entry
        }
        return ledgerEntries(path).first { $0.items.contains { $0.identity == identity } }
    }

    /// The ledger's entries; lines that do not decode (a torn tail) are skipped — `gatewayd verify` reports them.
    package static func ledgerEntries(_ path: String) -> [LedgerEntry] {
        guard let contents = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        return contents.split(separator: UInt8(ascii: "\n")).compactMap {
            try? decoder.decode(LedgerEntry.self, from: Data($0))
        }
    }
}
