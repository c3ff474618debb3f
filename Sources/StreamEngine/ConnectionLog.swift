import Foundation
import GRDB
import TimeSeries

/// Each connection of a device as it went — when, readings received against expected, the clock's offset, the battery,
/// what failed — for a device's page. Bounded: the newest `kept` per device, so its size follows the devices, not the
/// years.
enum ConnectionLog {
    static let migration = """
        CREATE TABLE device_connection (
            id INTEGER PRIMARY KEY AUTOINCREMENT, device_key TEXT NOT NULL, started_micros INTEGER NOT NULL,
            ended_micros INTEGER NOT NULL, readings_received INTEGER NOT NULL, readings_expected INTEGER,
            clock_offset_micros INTEGER, battery_percent INTEGER, error TEXT);
        CREATE INDEX device_connection_by_device ON device_connection (device_key, id);
        """
    static let kept = 100

    static func record(_ report: ReadingArchive.ConnectionReport, in db: Database) throws {
        var row = DeviceConnectionRecord(
            deviceKey: report.device.key,
            entry: ReadingArchive.ConnectionEntry(
                startedMicros: report.startedMicros, endedMicros: report.endedMicros,
                readingsReceived: report.readingsReceived, readingsExpected: report.readingsExpected,
                clockOffsetMicros: report.clockOffsetMicros, batteryPercent: report.batteryPercent,
                error: report.error))
        try row.insert(db)
        // The device's rows beyond the newest `kept` go (one indexed range: device_connection_by_device).
        let device = DeviceConnectionRecord.Columns.deviceKey == report.device.key
        if let oldestKept = try DeviceConnectionRecord.filter(device).order(DeviceConnectionRecord.Columns.id.desc)
            .limit(1, offset: kept).select(DeviceConnectionRecord.Columns.id, as: Int64.self).fetchOne(db)
        {
            try DeviceConnectionRecord.filter(device && DeviceConnectionRecord.Columns.id <= oldestKept).deleteAll(db)
        }
    }
}

/// A row of `device_connection`: its columns are the record's properties in snake case.
struct DeviceConnectionRecord: SnakeCaseRecord, MutablePersistableRecord {
    static let databaseTableName = "device_connection"

    enum Columns {
        static let id = Column("id")
        static let deviceKey = Column("device_key")
    }

    var id: Int64?
    var deviceKey: String
    var startedMicros: Int64
    var endedMicros: Int64
    var readingsReceived: Int
    var readingsExpected: Int?
    var clockOffsetMicros: Int64?
    var batteryPercent: Int?
    var error: String?

    init(deviceKey: String, entry: ReadingArchive.ConnectionEntry) {
        self.deviceKey = deviceKey
        (startedMicros, endedMicros, readingsReceived) = (
            entry.startedMicros, entry.endedMicros, entry.readingsReceived
        )
        (readingsExpected, clockOffsetMicros) = (entry.readingsExpected, entry.clockOffsetMicros)
        (batteryPercent, error) = (entry.batteryPercent, entry.error)
    }

    var entry: ReadingArchive.ConnectionEntry {
        ReadingArchive.ConnectionEntry(
            startedMicros: startedMicros, endedMicros: endedMicros, readingsReceived: readingsReceived,
            readingsExpected: readingsExpected, clockOffsetMicros: clockOffsetMicros, batteryPercent: batteryPercent,
            error: error)
    }

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension ReadingArchive {
    /// One connection of a device (`ConnectionLog`).
    public struct ConnectionEntry: Sendable, Equatable {
        public var startedMicros: Int64
        public var endedMicros: Int64
        public var readingsReceived: Int
        public var readingsExpected: Int?
        public var clockOffsetMicros: Int64?
        public var batteryPercent: Int?
        public var error: String?
    }

    /// A device's connections, newest first.
    public func connections(deviceKey: String, limit: Int = 30) throws -> [ConnectionEntry] {
        try queue.read { db in
            try DeviceConnectionRecord.filter(DeviceConnectionRecord.Columns.deviceKey == deviceKey)
                .order(DeviceConnectionRecord.Columns.id.desc).limit(limit).fetchAll(db).map(\.entry)
        }
    }
}
