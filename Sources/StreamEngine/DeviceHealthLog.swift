import Foundation
import GRDB
import Metrics
import Provenance
import TimeSeries

/// What the gateway knows of one device's health across connections — first and last contact, readings received
/// against expected, the clock's offset and its history, the last error — for `gatewayd status` and the device page.
/// A row of `device_health`.
struct DeviceHealthRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "device_health"

    var deviceKey: String
    /// The device's record as JSON (the newest connection's).
    var deviceJson: Data
    var firstSeenMicros: Int64
    var lastContactMicros: Int64
    var connections: Int
    var readingsReceived: Int
    var readingsExpected: Int?
    var clockOffsetMicros: Int64?
    var lastError: String?
    /// `DeviceClockHistory` as JSON (absent before the clock history was kept).
    var clockHistory: Data?
}

extension ReadingArchive {
    /// What one connection to a device showed, for `gatewayd status`.
    public struct ConnectionReport: Sendable {
        public var device: DeviceRecord
        public var startedMicros: Int64
        public var endedMicros: Int64
        public var readingsReceived: Int
        /// Readings the device said it would send (RACP count) or should have sent (HR cadence); nil: unknown.
        public var readingsExpected: Int?
        public var clockOffsetMicros: Int64?
        /// Every comparison of the device clock with the gateway's during the connection (CTS reads).
        public var clockComparisons: [ClockComparison] = []
        /// The zone device wall clocks without Local Time Information are read in.
        public var clockZone = "UTC"
        public var error: String?
        /// The device's Battery Level read during the connection.
        public var batteryPercent: Int?

        public init(
            device: DeviceRecord, startedMicros: Int64, endedMicros: Int64, readingsReceived: Int,
            readingsExpected: Int?,
            clockOffsetMicros: Int64?, clockComparisons: [ClockComparison] = [], error: String?
        ) {
            self.device = device
            self.startedMicros = startedMicros
            self.endedMicros = endedMicros
            self.readingsReceived = readingsReceived
            self.readingsExpected = readingsExpected
            self.clockOffsetMicros = clockOffsetMicros
            self.clockComparisons = clockComparisons
            self.error = error
        }
    }

    /// Adds a connection to the device's health, its clock history and its connection log, in one transaction.
    public func recordConnection(_ report: ConnectionReport) throws {
        let dimensions = [("device", report.device.key)]
        Gauge(label: "gatewayd_device_last_contact_seconds", dimensions: dimensions).record(
            Double(report.endedMicros) / 1_000_000)
        Counter(label: "gatewayd_device_readings_received_total", dimensions: dimensions).increment(
            by: report.readingsReceived)
        if let expected = report.readingsExpected {
            Counter(label: "gatewayd_device_readings_expected_total", dimensions: dimensions).increment(by: expected)
        }
        if let offset = report.clockOffsetMicros {
            Gauge(label: "gatewayd_device_clock_offset_seconds", dimensions: dimensions).record(
                Double(offset) / 1_000_000)
        }
        try queue.write { db in
            let deviceJSON = try Self.encoder.encode(report.device)
            var health: DeviceHealthRecord
            if var known = try DeviceHealthRecord.fetchOne(db, key: report.device.key) {
                known.deviceJson = deviceJSON
                known.lastContactMicros = report.endedMicros
                known.connections += 1
                known.readingsReceived += report.readingsReceived
                if let expected = report.readingsExpected {
                    known.readingsExpected = (known.readingsExpected ?? 0) + expected
                }
                known.clockOffsetMicros = report.clockOffsetMicros ?? known.clockOffsetMicros
                known.lastError = report.error
                health = known
            } else {
                health = DeviceHealthRecord(
                    deviceKey: report.device.key, deviceJson: deviceJSON, firstSeenMicros: report.startedMicros,
                    lastContactMicros: report.endedMicros, connections: 1, readingsReceived: report.readingsReceived,
                    readingsExpected: report.readingsExpected, clockOffsetMicros: report.clockOffsetMicros,
                    lastError: report.error)
            }
            // The device's offset and drift history grows by this connection's comparisons (DESIGN.md rule 2).
            var history =
                health.clockHistory.flatMap { try? JSONDecoder().decode(DeviceClockHistory.self, from: $0) }
                ?? DeviceClockHistory(timeZoneIdentifier: report.clockZone)
            for comparison in report.clockComparisons { history.record(comparison) }
            health.clockHistory = try Self.encoder.encode(history)
            try health.save(db)
            try ConnectionLog.record(report, in: db)
        }
    }

    public struct DeviceHealth: Sendable {
        public var device: DeviceRecord
        public var firstSeenMicros: Int64
        public var lastContactMicros: Int64
        public var connections: Int
        public var readingsReceived: Int
        public var readingsExpected: Int?
        public var clockOffsetMicros: Int64?
        public var lastError: String?
        public var quarantined: Int
        public var clockHistory: DeviceClockHistory?
    }

    /// Every device's health, by device key, with how many of its readings wait for a person.
    public func deviceHealth() throws -> [DeviceHealth] {
        try queue.read { db in
            let waiting = try quarantineCounts(db)
            let decoder = JSONDecoder()
            return try DeviceHealthRecord.order(Column("device_key")).fetchAll(db).compactMap { row in
                guard let device = try? decoder.decode(DeviceRecord.self, from: row.deviceJson) else { return nil }
                return DeviceHealth(
                    device: device, firstSeenMicros: row.firstSeenMicros, lastContactMicros: row.lastContactMicros,
                    connections: row.connections, readingsReceived: row.readingsReceived,
                    readingsExpected: row.readingsExpected, clockOffsetMicros: row.clockOffsetMicros,
                    lastError: row.lastError, quarantined: waiting[row.deviceKey] ?? 0,
                    clockHistory: row.clockHistory.flatMap { try? decoder.decode(DeviceClockHistory.self, from: $0) })
            }
        }
    }
}
