import Foundation
import GRDB

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
        try db.execute(
            sql: """
                INSERT INTO device_connection (device_key, started_micros, ended_micros, readings_received,
                    readings_expected, clock_offset_micros, battery_percent, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                report.device.key, report.startedMicros, report.endedMicros, report.readingsReceived,
                report.readingsExpected, report.clockOffsetMicros, report.batteryPercent, report.error,
            ])
        try db.execute(
            sql: """
                DELETE FROM device_connection WHERE device_key = ? AND id <= (
                    SELECT id FROM device_connection WHERE device_key = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
                """,
            arguments: [report.device.key, report.device.key, kept])
    }
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
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM device_connection WHERE device_key = ? ORDER BY id DESC LIMIT ?
                    """, arguments: [deviceKey, limit]
            ).map { row in
                ConnectionEntry(
                    startedMicros: row["started_micros"], endedMicros: row["ended_micros"],
                    readingsReceived: row["readings_received"], readingsExpected: row["readings_expected"],
                    clockOffsetMicros: row["clock_offset_micros"], batteryPercent: row["battery_percent"],
                    error: row["error"])
            }
        }
    }
}
