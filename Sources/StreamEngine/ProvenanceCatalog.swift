import Crypto
import Foundation
import GRDB
import Provenance
import Synchronization

/// The content-addressed store of reading templates in engine.sqlite (`provenance`), with an in-memory cache both
/// ways: ingest looks templates up by digest, reads decode each template once.
final class ProvenanceCatalog: Sendable {
    static let migration = """
        CREATE TABLE provenance (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, body BLOB NOT NULL);
        """
    /// The device of each entry, so "readings of this device" is a filter on provenance ids, not a column per reading.
    static let deviceMigration = "ALTER TABLE provenance ADD COLUMN device_key TEXT"

    private let byDigest = Mutex<[Data: Int64]>([:])
    private let byID = Mutex<[Int64: ReadingTemplate]>([:])
    /// Ingest's fast path: a strap's notifications share one template, found by value without encoding or hashing it.
    private let byTemplate = Mutex<[ReadingTemplate: (id: Int64, digest: Data)]>([:])
    /// The caches are bounded: every connection of a device with a clock brings a new template.
    static let cacheLimit = 4096

    /// The id of a template, inserting it on first sight (inside the caller's transaction).
    func id(of template: ReadingTemplate, _ db: Database) throws -> Int64 { try entry(of: template, db).id }

    /// The id of a template and its digest (SHA-256 of its stored canonical JSON), inserting it on first sight.
    func entry(of template: ReadingTemplate, _ db: Database) throws -> (id: Int64, digest: Data) {
        if let entry = byTemplate.withLock({ $0[template] }) { return entry }
        let body = try ReadingArchive.encoder.encode(template)
        let digest = Data(SHA256.hash(data: body))
        if let id = byDigest.withLock({ $0[digest] }) { return (id, digest) }
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM provenance WHERE digest = ?", arguments: [digest]) {
            remember(id, digest: digest, template: template)
            return (id, digest)
        }
        try db.execute(
            sql: "INSERT INTO provenance (digest, body, device_key) VALUES (?, ?, ?)", arguments: [digest, body, template.device.key])
        let id = db.lastInsertedRowID
        // Cached only after the transaction that inserted it commits would be safer; a rolled-back insert leaves an
        // id that the next lookup misses in SQLite and re-inserts, so the cache is filled on read instead.
        return (id, digest)
    }

    /// The template with this id, decoded once.
    func template(_ id: Int64, _ db: Database) throws -> ReadingTemplate {
        if let cached = byID.withLock({ $0[id] }) { return cached }
        guard let body = try Data.fetchOne(db, sql: "SELECT body FROM provenance WHERE id = ?", arguments: [id]) else {
            throw ReadingSplitError(description: "provenance entry \(id) is missing from the catalog")
        }
        let digest = Data(SHA256.hash(data: body))
        let template: ReadingTemplate
        do { template = try JSONDecoder().decode(ReadingTemplate.self, from: body) } catch {
            throw ReadingSplitError(description: "provenance entry \(id) does not decode: \(error)")
        }
        byID.withLock {
            if $0.count >= Self.cacheLimit { $0.removeAll(keepingCapacity: true) }
            $0[id] = template
        }
        remember(id, digest: digest, template: template)
        return template
    }

    /// Caches a committed entry both ways (cleared wholesale when full: the catalog in SQLite stays the truth).
    private func remember(_ id: Int64, digest: Data, template: ReadingTemplate) {
        byDigest.withLock {
            if $0.count >= Self.cacheLimit { $0.removeAll(keepingCapacity: true) }
            $0[digest] = id
        }
        byTemplate.withLock {
            if $0.count >= Self.cacheLimit { $0.removeAll(keepingCapacity: true) }
            $0[template] = (id, digest)
        }
    }

    /// A stored reading from its template id, variation body and effective time.
    func reading(provenance id: Int64, body: Data, effectiveMicros: Int64, _ db: Database) throws -> Reading {
        let variation = try ReadingVariation(decoding: Array(body), effectiveMicros: effectiveMicros)
        return try Reading(template: try template(id, db), variation: variation)
    }
}
