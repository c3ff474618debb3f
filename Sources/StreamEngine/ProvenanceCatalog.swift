import Crypto
import Foundation
import GRDB
import Provenance
import Synchronization
import TimeSeries

/// The content-addressed store of reading templates in engine.sqlite (`provenance`), with an in-memory cache both
/// ways: ingest looks templates up by digest, reads decode each template once.
///
/// Entries are stored zstd-compressed: every `keyframeInterval`-th entry of a device on its own (a keyframe), the
/// others against the device's latest keyframe as a dictionary. A cuff's connections differ only in their clock
/// comparison, so such an entry takes ~50 bytes instead of ~850 of JSON. The digest is of the JSON, whatever the
/// storage; entries written before compression (no `json_length`) are plain JSON.
final class ProvenanceCatalog: Sendable {
    static let migration = """
        CREATE TABLE provenance (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, body BLOB NOT NULL);
        """
    /// The device of each entry (since v17 of each keyframe only), so "readings of this device" is a filter on
    /// provenance ids, not a column per reading;
    /// the keyframe an entry is compressed against (NULL: on its own) and its JSON's length (NULL: stored as JSON).
    static let deviceMigration = """
        ALTER TABLE provenance ADD COLUMN device_key TEXT; ALTER TABLE provenance ADD COLUMN base_id INTEGER;
        ALTER TABLE provenance ADD COLUMN json_length INTEGER
        """
    /// Entries keep the first 8 bytes of their digest (to find an entry by content; a candidate's JSON is hashed again
    /// to confirm it) and only keyframes name their device (an entry compressed against one is of its device): the
    /// full digest with its unique index and the device key with its index were ~160 of the ~250 bytes of the entry
    /// each cuff connection adds.
    static let compactMigration = """
        CREATE TABLE provenance_v17 (
            id INTEGER PRIMARY KEY, digest_key BLOB NOT NULL, body BLOB NOT NULL, device_key TEXT, base_id INTEGER,
            json_length INTEGER, last_row INTEGER);
        INSERT INTO provenance_v17
            SELECT id, substr(digest, 1, 8), body, CASE WHEN base_id IS NULL THEN device_key END, base_id, json_length, last_row
            FROM provenance ORDER BY id;
        DROP TABLE provenance;
        ALTER TABLE provenance_v17 RENAME TO provenance;
        CREATE INDEX provenance_by_digest ON provenance(digest_key);
        CREATE INDEX provenance_by_device ON provenance(device_key) WHERE device_key IS NOT NULL;
        CREATE INDEX provenance_by_last_row ON provenance(last_row);
        CREATE INDEX provenance_by_base ON provenance(base_id);
        """
    static let digestKeyLength = 8

    static let keyframeInterval = 32
    /// Sizes are the same at 3 as at 19 for entries this small (measured), and 3 costs less on a connection's first reading.
    static let compressionLevel: Int32 = 3

    private let byDigest = Mutex<[Data: Int64]>([:])
    private let byID = Mutex<[Int64: ReadingTemplate]>([:])
    /// Ingest's fast path: a strap's notifications share one template, found by value without encoding or hashing it.
    /// Keyed by the template's hash value, the few templates of a hash compared by value: a dictionary keyed by the
    /// template itself keeps its ~900 inline bytes in every bucket (twice the entries), ~470 KB at 256 entries.
    private let byTemplate = Mutex<[Int: [(template: ReadingTemplate, id: Int64, digest: Data)]]>([:])
    /// The caches are bounded: every connection of a device with a clock brings a new template.
    static let cacheLimit = 4096
    /// Ingest's caches hold the templates of the connections in progress (a few hundred on a busy hub). A template is
    /// ~900 bytes inline: 1,024 of them held 1.8 MB. A template dropped from here is found again by its digest.
    static let ingestCacheLimit = 256
    /// An entry's `last_row` is written again only once it is this many rows behind a row that uses the entry, so it
    /// costs one update per entry per 65,536 readings, and is never more than this far behind: retention removes an
    /// entry only when its `last_row` is at least this far before the retired rows.
    static let defaultLastUseSlack: Int64 = 65_536
    let lastUseSlack: Int64

    init(lastUseSlack: Int64 = ProvenanceCatalog.defaultLastUseSlack) { self.lastUseSlack = lastUseSlack }
    /// The `last_row` each entry has in SQLite as far as this process wrote it (forgotten when a journal fails).
    private let lastRows = Mutex<[Int64: Int64]>([:])

    /// The id of a template, inserting it on first sight (inside the caller's transaction).
    func id(of template: ReadingTemplate, _ db: Database) throws -> Int64 { try entry(of: template, db).id }

    /// The id of a template and its digest (SHA-256 of its stored canonical JSON), inserting it on first sight.
    func entry(of template: ReadingTemplate, _ db: Database) throws -> (id: Int64, digest: Data) {
        let hash = template.hashValue
        let cached = byTemplate.withLock { $0[hash]?.first { $0.template == template } }
        if let cached { return (cached.id, cached.digest) }
        if let entry = pending.withLock({ $0[template] }) { return entry }
        let body = try ReadingArchive.encoder.encode(template)
        let digest = Data(SHA256.hash(data: body))
        if let id = byDigest.withLock({ $0[digest] }) { return (id, digest) }
        // Migrations before v17 (the conversion of v9) still write the table as it was then.
        let compact = try db.columns(in: "provenance").contains { $0.name == "digest_key" }
        let key = compact ? digest.prefix(Self.digestKeyLength) : digest
        let lookup =
            compact ? "SELECT id FROM provenance WHERE digest_key = ?" : "SELECT id FROM provenance WHERE digest = ?"
        // A damaged candidate is no match: the template gets a sound entry of its own instead of failing the journal.
        for id in try Int64.fetchAll(db.cachedStatement(sql: lookup), arguments: [key])
        where (try? json(id, db)).map({ Data(SHA256.hash(data: $0)) == digest }) == true {
            remember(id, digest: digest, template: template)
            return (id, digest)
        }
        let stored = try Self.compressed(Array(body), device: template.device.key, db)
        try db.cachedStatement(
            sql:
                "INSERT INTO provenance (\(compact ? "digest_key" : "digest"), body, device_key, base_id, json_length) VALUES (?, ?, ?, ?, ?)"
        ).execute(arguments: [
            key, Data(stored.body), stored.base == nil || !compact ? template.device.key : nil, stored.base, body.count,
        ])
        let id = db.lastInsertedRowID
        // Cached once the journal's transaction commits (`commitPending`): a rolled-back insert's id must never be used.
        pending.withLock { $0[template] = (id, digest) }
        return (id, digest)
    }

    /// Entries inserted by the transaction in progress: found again within it without encoding and hashing the template
    /// once more (a meter's records of one connection share a new template), and cached once it commits.
    private let pending = Mutex<[ReadingTemplate: (id: Int64, digest: Data)]>([:])

    /// The transaction that inserted the pending entries committed: they are cached like any other.
    func commitPending() {
        let entries = pending.withLock { entries in
            defer { entries.removeAll() }
            return entries
        }
        for (template, entry) in entries { remember(entry.id, digest: entry.digest, template: template) }
    }

    /// The transaction was rolled back, or another one begins: its pending entries are forgotten.
    func discardPending() { pending.withLock { $0.removeAll() } }

    /// Notes that `row` uses entry `id` (inside the journal's transaction): `last_row` is moved up when it is more
    /// than `lastUseSlack` behind.
    func noteUse(_ id: Int64, row: Int64, _ db: Database) throws {
        if let known = lastRows.withLock({ $0[id] }), known > row - lastUseSlack { return }
        // Never backwards: an extended span notes the use at its own (older) row.
        try db.cachedStatement(sql: "UPDATE provenance SET last_row = max(COALESCE(last_row, 0), ?) WHERE id = ?")
            .execute(arguments: [row, id])
        lastRows.withLock {
            if $0.count >= Self.cacheLimit { $0.removeAll(keepingCapacity: true) }
            $0[id] = row
        }
    }

    /// Forgets what `noteUse` wrote: a rolled-back journal did not write it.
    func forgetUses() { lastRows.withLock { $0.removeAll() } }

    /// Forgets every cached entry (retention removed some).
    func forgetAll() {
        forgetUses()
        discardPending()
        byDigest.withLock { $0.removeAll() }
        byID.withLock { $0.removeAll() }
        byTemplate.withLock { $0.removeAll() }
    }

    /// Removes the entries no row after `horizon` uses — their `last_row` at least `lastUseSlack` before it — except a
    /// keyframe another remaining entry is compressed against. Returns how many went.
    func retire(rowsThrough horizon: Int64, _ db: Database) throws -> Int {
        let before = horizon - lastUseSlack
        try db.execute(sql: "DELETE FROM provenance WHERE last_row <= ? AND base_id IS NOT NULL", arguments: [before])
        var removed = db.changesCount
        try db.execute(
            sql: """
                DELETE FROM provenance WHERE last_row <= ? AND base_id IS NULL
                AND NOT EXISTS (SELECT 1 FROM provenance d WHERE d.base_id = provenance.id)
                """,
            arguments: [before])
        removed += db.changesCount
        return removed
    }

    /// The template with this id, decoded once.
    func template(_ id: Int64, _ db: Database) throws -> ReadingTemplate {
        if let cached = byID.withLock({ $0[id] }) { return cached }
        let body = try json(id, db)
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

    /// The stored form of a new entry's JSON: against the device's latest keyframe while it has fewer than
    /// `keyframeInterval` entries after it, else on its own (a new keyframe). Read from SQLite every time, not cached:
    /// new entries are rare (one per connection at most) and a keyframe from a rolled-back transaction must never be used.
    static func compressed(_ text: [UInt8], device: String, _ db: Database) throws -> (body: [UInt8], base: Int64?) {
        if let keyframe = try ProvenanceEntryRecord.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT \(ProvenanceEntryRecord.columns) FROM provenance
                    WHERE device_key = ? AND base_id IS NULL AND json_length IS NOT NULL ORDER BY id DESC LIMIT 1
                    """),
            arguments: [device]),
            (try Int.fetchOne(
                db.cachedStatement(sql: "SELECT count(*) FROM provenance WHERE base_id = ?"), arguments: [keyframe.id])
                ?? 0) < keyframeInterval - 1
        {
            let dictionary = try Array(json(keyframe.id, db))
            return (try Zstd.compress(text, dictionary: dictionary, level: compressionLevel), keyframe.id)
        }
        return (try Zstd.compress(text, level: compressionLevel), nil)
    }

    /// An entry's JSON from its stored form (plain, on its own, or against its keyframe). A damaged entry is an error
    /// naming it, never another template.
    static func json(_ id: Int64, _ db: Database) throws -> Data {
        let read = try db.cachedStatement(sql: "SELECT \(ProvenanceEntryRecord.columns) FROM provenance WHERE id = ?")
        guard let entry = try ProvenanceEntryRecord.fetchOne(read, arguments: [id]) else {
            throw ReadingSplitError(description: "provenance entry \(id) is missing from the catalog")
        }
        guard let length = entry.jsonLength else { return entry.body }
        do {
            guard let base = entry.baseId else {
                return Data(try Zstd.decompress(Array(entry.body)[...], expectedLength: length))
            }
            guard base != id, let keyframe = try ProvenanceEntryRecord.fetchOne(read, arguments: [base]),
                keyframe.baseId == nil, let keyframeLength = keyframe.jsonLength
            else {
                throw ReadingSplitError(
                    description: "provenance entry \(id): its keyframe \(base) is missing or not a keyframe")
            }
            let dictionary = try Zstd.decompress(Array(keyframe.body)[...], expectedLength: keyframeLength)
            return Data(try Zstd.decompress(Array(entry.body)[...], dictionary: dictionary, expectedLength: length))
        } catch let error as ZstdError {
            throw ReadingSplitError(description: "provenance entry \(id) is damaged: \(error)")
        }
    }

    func json(_ id: Int64, _ db: Database) throws -> Data { try Self.json(id, db) }

    /// Caches a committed entry both ways (cleared wholesale when full: the catalog in SQLite stays the truth).
    private func remember(_ id: Int64, digest: Data, template: ReadingTemplate) {
        byDigest.withLock {
            if $0.count >= Self.ingestCacheLimit { $0.removeAll(keepingCapacity: true) }
            $0[digest] = id
        }
        byTemplate.withLock {
            if $0.count >= Self.ingestCacheLimit { $0.removeAll(keepingCapacity: true) }
            let hash = template.hashValue
            guard $0[hash]?.contains(where: { $0.template == template }) != true else { return }
            $0[hash, default: []].append((template, id, digest))
        }
    }

    /// A stored reading from its template id, variation body and effective time.
    func reading(provenance id: Int64, body: Data, effectiveMicros: Int64, _ db: Database) throws -> Reading {
        let variation = try ReadingVariation(decoding: Array(body), effectiveMicros: effectiveMicros)
        return try Reading(template: try template(id, db), variation: variation)
    }
}

/// A row of `provenance`: a reading template's JSON, stored plain (`jsonLength` nil), zstd-compressed on its own (a
/// keyframe, naming its device) or against its device's keyframe (`baseId`). Entries are inserted by
/// `ProvenanceCatalog.entry(of:)`, which still writes the table as it was while migrations before v17 run.
struct ProvenanceEntryRecord: SnakeCaseRecord, TableRecord {
    static let databaseTableName = "provenance"

    var id: Int64
    var body: Data
    /// A keyframe's device (since v17 only keyframes name theirs).
    var deviceKey: String?
    var baseId: Int64?
    var jsonLength: Int?
    /// The first 8 bytes of the JSON's SHA-256 (nil when not selected: reads select `columns`, which every version of
    /// the table since v9 has, so the migrations before v17 read entries through this record too).
    var digestKey: Data?
    /// The newest reading row using the entry, for retention (`ProvenanceCatalog.noteUse`).
    var lastRow: Int64?

    /// The columns reads select (SQL).
    static let columns = "id, body, device_key, base_id, json_length"
}
