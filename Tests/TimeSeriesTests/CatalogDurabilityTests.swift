import Foundation
import GRDB
import TestSupport
import Testing

@testable import TimeSeries

/// The catalog's commits must reach the disk before the log segments they replace are deleted: its writer runs with
/// `synchronous = FULL`, also after the pool switched the file to WAL (GRDB then sets NORMAL).
@Suite struct CatalogDurabilityTests {
    @Test func theCatalogWriterCommitsWithSynchronousFull() throws {
        let dir = TemporaryDirectory()
        let store = try TimeSeriesStore(directory: dir.path)
        defer { store.close() }
        let writer = try store.catalog.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        let reader = try store.catalog.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(writer == 2, "FULL is 2; NORMAL (1) can lose a committed chunk row in a power cut")
        #expect(reader == 2)
    }
}
