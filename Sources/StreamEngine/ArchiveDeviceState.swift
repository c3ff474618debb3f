import Foundation
import GRDB
import TimeSeries

/// A payload a device sent that did not decode: kept, raw, with why (DESIGN.md: nothing is thrown away), and counted
/// for `gatewayd status`. A row of `malformed`.
struct MalformedPayloadRecord: SnakeCaseRecord, MutablePersistableRecord {
    static let databaseTableName = "malformed"

    var id: Int64?
    var deviceKey: String
    var characteristic: String
    var bytes: Data
    var error: String
    var receivedMicros: Int64

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The next stored record to ask a meter for (RACP "greater than or equal to"). A row of `record_cursor`.
struct RecordCursorRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "record_cursor"

    var deviceKey: String
    var nextSequence: Int
}

extension ReadingArchive {
    public func recordMalformed(
        deviceKey: String, characteristic: String, bytes: [UInt8], error: String, receivedMicros: Int64
    ) throws {
        try queue.write { db in
            var record = MalformedPayloadRecord(
                deviceKey: deviceKey, characteristic: characteristic, bytes: Data(bytes), error: error,
                receivedMicros: receivedMicros)
            try record.insert(db)
        }
    }

    public func malformedCount() throws -> Int {
        try queue.read { db in try MalformedPayloadRecord.fetchCount(db) }
    }

    /// The next stored-record sequence number to ask a device for (nil: from the start).
    public func recordCursor(deviceKey: String) throws -> UInt16? {
        try queue.read { db in
            try RecordCursorRecord.fetchOne(db, key: deviceKey).map { UInt16(clamping: $0.nextSequence) }
        }
    }

    /// Sets a device's stored-record cursor as the cursor itself decided (it moves forward in serial-number order, and
    /// back to nothing when the meter's numbers restarted); nil removes it.
    public func setRecordCursor(deviceKey: String, to next: UInt16?) throws {
        try setRecordCursors([(deviceKey, next)])
    }

    /// Several devices' cursors in one transaction (see `RecordCursorWriter`).
    public func setRecordCursors(_ cursors: [(deviceKey: String, next: UInt16?)]) throws {
        try queue.write { db in
            for (deviceKey, next) in cursors {
                if let next {
                    try RecordCursorRecord(deviceKey: deviceKey, nextSequence: Int(next)).upsert(db)
                } else {
                    _ = try RecordCursorRecord.deleteOne(db, key: deviceKey)
                }
            }
        }
    }
}
