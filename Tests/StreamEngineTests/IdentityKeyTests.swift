import Foundation
import GRDB
import Provenance
import Testing

@testable import StreamEngine

/// A reading anchored on the gateway's receive time (a strap's notification) keeps no identity key: it is found by
/// stream and time, so the hash-keyed index holds only readings the device anchored. Rows written with a key for every
/// reading (v10) convert on first open and are found, deduplicated and read back exactly as before.
@Suite struct IdentityKeyTests {
    @Test func rowsWrittenWithAKeyForEveryReadingConvertAndAreStillFound() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("identity-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/engine.sqlite"
        let readings = ProvenanceCatalogTests.readings()
        #expect(
            readings.contains { $0.identityAnchoredOnReceipt } && readings.contains { !$0.identityAnchoredOnReceipt })
        do {
            // As v10 wrote them: every row with its 16-byte key, in one batch of ledger entry 5.
            let queue = try DatabaseQueue(path: path)
            let catalog = ProvenanceCatalog()
            try ReadingArchive.migrator(catalog: catalog, path: path).migrate(queue, upTo: "v10: journal batches")
            try await queue.write { db in
                var streams = ReadingArchive.StreamIDs()
                for reading in readings {
                    let identity = try #require(reading.identity).hex
                    let (template, variation) = reading.split(evidenceInVariation: false)
                    try db.execute(
                        sql: """
                            INSERT INTO reading (identity, stream, effective_micros, flags, provenance_id, stored, ledger_sequence, body)
                            VALUES (?, ?, ?, ?, ?, 1, 5, ?)
                            """,
                        arguments: [
                            IdentityKey.of(identity),
                            try streams.id(subject: reading.subject ?? "", kind: reading.kind, db),
                            reading.time.effectiveMicros, Int(reading.flags.rawValue),
                            try catalog.entry(of: template, db).id,
                            Data(variation.encoded()),
                        ])
                }
                try db.execute(
                    sql:
                        "INSERT INTO reading_batch (first_row, last_row, ledger_sequence, feed_seq) SELECT min(id), max(id), 5, 1 FROM reading"
                )
            }
        }
        let archive = try ReadingArchive(path: path)
        let keys = try await archive.queue.read { db in
            try Row.fetchAll(db, sql: "SELECT identity FROM reading ORDER BY id").map {
                ($0["identity"] as Data?) != nil
            }
        }
        #expect(keys == readings.map { !$0.identityAnchoredOnReceipt })
        let indexed = try await archive.queue.read { db in
            try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'reading_by_identity'")
        }
        #expect(indexed?.contains("WHERE identity IS NOT NULL") == true)
        #expect(try archive.readings(ledgerSequence: 5) == readings)
        let all = try readings.map { (try #require($0.identity).hex, $0) }
        #expect(try archive.existing(all) == Set(all.map(\.0)))
        for reading in readings {
            let identity = try #require(reading.identity)
            #expect(try archive.archived(reading) == reading)
            #expect(try archive.ledgerSequence(of: reading) == 5)
            if reading.identityAnchoredOnReceipt {
                let found = try archive.readings(
                    effectiveMicros: reading.time.effectiveMicros, identityPrefix: String(identity.hex.prefix(46)),
                    subjects: ["carol", "dave"])
                #expect(found == [reading])
                // Another subject's streams do not answer, and a different identity at the same instant is not it.
                #expect(
                    try archive.readings(
                        effectiveMicros: reading.time.effectiveMicros, identityPrefix: String(identity.hex.prefix(46)),
                        subjects: ["nobody"]
                    ).isEmpty)
                var other = reading
                other.rawPayloads = [[0x00, 0x01]]
                #expect(try archive.archived(other) == nil)
            }
        }
    }

    /// New readings: a strap's notification is kept without a key, deduplicated by stream and time; a second
    /// notification at the same instant whose payload is not the encoding of its values is a reading of its own.
    @Test func aNotificationIsStoredOnceWithoutAKeyAndItsTwinAtTheSameInstantIsKept() async throws {
        let pipeline = try await TestPipeline.make()
        defer { pipeline.remove() }
        let archive = pipeline.archive
        let notification = try #require(ProvenanceCatalogTests.readings().first { $0.identityAnchoredOnReceipt })
        var twin = notification
        twin.rawPayloads = [[0x00, 0x4F]]
        let batch = try [notification, twin].map { (try #require($0.identity).hex, $0) }
        #expect(batch[0].0 != batch[1].0)
        #expect(try archive.existing(batch).isEmpty)
        #expect(
            try await pipeline.engine.ingest(PendingReading(reading: notification) {})
                == .stored(try #require(notification.identity)))
        #expect(try archive.existing(batch) == [batch[0].0])
        #expect(
            try await pipeline.engine.ingest(PendingReading(reading: twin) {}) == .stored(try #require(twin.identity)))
        #expect(try archive.existing(batch) == Set(batch.map(\.0)))
        #expect(
            try await pipeline.engine.ingest(PendingReading(reading: notification) {})
                == .duplicate(try #require(notification.identity)))
        let rows = try await archive.queue.read { db in
            try Row.fetchAll(db, sql: "SELECT identity, span_count FROM reading ORDER BY id").map {
                (($0["identity"] as Data?) != nil, $0["span_count"] as Int?)
            }
        }
        #expect(rows.map(\.0) == [false, false])
        #expect(rows.map(\.1) == [nil, nil])  // one notification in a batch is a row (a span holds several)
        #expect(try archive.archived(notification) == notification && archive.archived(twin) == twin)
        #expect(try archive.readings(subject: notification.subject ?? "") == [notification, twin])
    }
}
