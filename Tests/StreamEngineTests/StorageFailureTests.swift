import Foundation
import GRDB
import Provenance
import Testing
import TimeSeries

@testable import StreamEngine

/// What the operator is told about a batch that could not be stored: the cause, wherever in the stack it came from.
@Suite struct StorageFailureTests {
    @Test func errnoFromTheStoreTheLedgerOrSQLiteNamesTheCause() {
        let eio = StoreIOError(operation: "write", path: "/data/store/wal", code: EIO)
        #expect(StorageFailure(eio) == .ioError)
        #expect(StorageFailure(StoreError.io(eio)) == .ioError)
        #expect(StorageFailure(StoreError.io(StoreIOError(operation: "write", path: "/w", code: ENOSPC))) == .diskFull)
        #expect(StorageFailure(LedgerError.io(FileSystemError(operation: "write", path: "/l", code: EIO))) == .ioError)
        #expect(StorageFailure(DatabaseError(resultCode: .SQLITE_IOERR)) == .ioError)
        #expect(StorageFailure(DatabaseError(resultCode: .SQLITE_FULL)) == .diskFull)
        #expect(StorageFailure(StoreError.closed) == .other)
    }

    @Test func aFailureWithoutACauseOfItsOwnKeepsTheCauseAlreadyShown() {
        let unusable = StorageFailure(LedgerError.unusable(path: "/l", reason: "an earlier append failed"))
        #expect(unusable == .other)
        #expect(unusable.following(.ioError) == .ioError)
        #expect(unusable.following(nil) == .other)
        // A named cause replaces another one: the disk filled after it failed, or the other way round.
        #expect(StorageFailure.diskFull.following(.ioError) == .diskFull)
        #expect(StorageFailure.ioError.following(.diskFull) == .ioError)
    }
}
