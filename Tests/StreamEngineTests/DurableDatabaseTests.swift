import Foundation
import GRDB
import TestSupport
import Testing
import TimeSeries

@testable import StreamEngine

/// The engine archive, the outbox and the hub store open through `DurableDatabase`: a pool whose writer commits with
/// `synchronous = FULL` (an acknowledged reading survives a power cut), in WAL, with the page size asked for.
@Suite struct DurableDatabaseTests {
    @Test func aPoolCommitsDurablyInWALWithItsPageSize() throws {
        let dir = TemporaryDirectory()
        let pool = try DurableDatabase.open(path: dir.path + "/engine.sqlite", pageSize: 1024)
        try pool.write { db in try db.execute(sql: "CREATE TABLE t (x INTEGER)") }
        let (synchronous, journal, pageSize) = try pool.write { db in
            (
                try Int.fetchOne(db, sql: "PRAGMA synchronous"), try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Int.fetchOne(db, sql: "PRAGMA page_size")
            )
        }
        #expect(synchronous == 2, "FULL is 2; the pool's default NORMAL (1) can lose a commit in a power cut")
        #expect(journal == "wal" && pageSize == 1024)
        #expect(try pool.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } == 2)
    }

    @Test func theArchiveIsCreatedWithItsSmallPages() throws {
        let dir = TemporaryDirectory()
        let archive = try ReadingArchive(path: dir.path + "/engine.sqlite")
        #expect(
            try archive.queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } == ReadingArchive.pageSize)
    }
}
