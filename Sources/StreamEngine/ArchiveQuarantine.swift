import Foundation
import GRDB
import Provenance
import TimeSeries

/// A reading held until its (device, user slot) is given a person (DESIGN.md rule 6: nothing is inferred, nothing is
/// thrown away). A row of `quarantine`.
struct QuarantineRecord: SnakeCaseRecord, MutablePersistableRecord {
    static let databaseTableName = "quarantine"

    enum Columns {
        static let id = Column("id")
        static let deviceKey = Column("device_key")
        static let userId = Column("user_id")
        static let receivedMicros = Column("received_micros")
    }

    var id: Int64?
    var deviceKey: String
    /// The user slot, or -1 for a device without users.
    var userId: Int
    var receivedMicros: Int64
    /// The reading as JSON (a held reading is few and short-lived; it is stored whole).
    var json: Data

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// How many readings wait for one (device, user slot), and the newest's receive time.
struct WaitingGroupRow: SnakeCaseRecord {
    var deviceKey: String
    var userId: Int
    var count: Int
    var newest: Int64
}

/// How many readings one device has waiting.
struct DeviceQuarantineCount: SnakeCaseRecord {
    var deviceKey: String
    var count: Int
}

extension ReadingArchive {
    public struct QuarantinedReading: Sendable {
        public var id: Int64
        public var reading: Reading
    }

    /// Holds readings that have no person yet, and lets go of the released ones, in the journal's transaction.
    static func hold(_ readings: [Reading], released: [Int64], _ db: Database) throws {
        for reading in readings {
            var row = QuarantineRecord(
                deviceKey: reading.device.key, userId: userKey(reading.context.userID),
                receivedMicros: reading.time.receivedMicros, json: try encoder.encode(reading))
            try row.insert(db)
        }
        try QuarantineRecord.deleteAll(db, keys: released)
    }

    /// The held readings, oldest first: all, one device's, or one (device, user slot)'s.
    public func quarantined(deviceKey: String? = nil, userID: UInt8?? = nil) throws -> [QuarantinedReading] {
        try queue.read { db in
            var request = QuarantineRecord.order(QuarantineRecord.Columns.id)
            if let deviceKey {
                request = request.filter(QuarantineRecord.Columns.deviceKey == deviceKey)
                if let userID { request = request.filter(QuarantineRecord.Columns.userId == Self.userKey(userID)) }
            }
            let decoder = JSONDecoder()
            return try request.fetchAll(db).compactMap { row in
                guard let id = row.id, let reading = try? decoder.decode(Reading.self, from: row.json) else {
                    return nil
                }
                return QuarantinedReading(id: id, reading: reading)
            }
        }
    }

    /// Readings waiting for a person, by device and user slot: how many and the newest's receive time. What a page asks
    /// ("whose are these?") costs the quarantine's size, never a person's history.
    public struct WaitingGroup: Sendable, Equatable {
        public var deviceKey: String
        public var userID: UInt8?
        public var count: Int
        public var newestReceivedMicros: Int64
    }

    public func waitingGroups() throws -> [WaitingGroup] {
        try queue.read { db in
            let columns = QuarantineRecord.Columns.self
            return try QuarantineRecord.select(
                columns.deviceKey, columns.userId, count(columns.id).forKey("count"),
                max(columns.receivedMicros).forKey("newest")
            )
            .group(columns.deviceKey, columns.userId)
            .order(columns.deviceKey, columns.userId)
            .asRequest(of: WaitingGroupRow.self)
            .fetchAll(db)
            .map { group in
                WaitingGroup(
                    deviceKey: group.deviceKey, userID: group.userId < 0 ? nil : UInt8(clamping: group.userId),
                    count: group.count, newestReceivedMicros: group.newest)
            }
        }
    }

    public func quarantineCount() throws -> Int {
        try queue.read { db in try QuarantineRecord.fetchCount(db) }
    }

    /// How many readings each device has waiting.
    func quarantineCounts(_ db: Database) throws -> [String: Int] {
        let deviceKey = QuarantineRecord.Columns.deviceKey
        let rows = try QuarantineRecord.select(deviceKey, count(QuarantineRecord.Columns.id).forKey("count"))
            .group(deviceKey).asRequest(of: DeviceQuarantineCount.self).fetchAll(db)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0.deviceKey, $0.count) })
    }
}
