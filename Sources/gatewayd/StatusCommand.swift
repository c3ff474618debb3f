import ArgumentParser
import Foundation
import Logging
import Provenance
import StreamEngine
import TimeSeries

/// `gatewayd status`: the health of the flow per device and of the data directory, from what is on disk.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Devices (last contact, readings received vs expected, clock offset), quarantine, store size and bytes/sample.")

    @Option(help: "Data directory.")
    var dir: String

    @Option(help: "IANA time zone for the times shown.")
    var tz = "UTC"

    func run() throws {
        guard let zone = TimeZone(identifier: tz) else { throw ValidationError("--tz: '\(tz)' is not an IANA time zone name") }
        guard FileManager.default.fileExists(atPath: dir + "/engine.sqlite") else {
            throw ValidationError("--dir \(dir): no gateway data here (missing engine.sqlite)")
        }
        let archive = try ReadingArchive(path: dir + "/engine.sqlite")
        var rows: [[String]] = [["device", "model", "last contact", "connections", "received", "expected", "clock offset", "drift", "quarantined", "last problem"]]
        for health in try archive.deviceHealth() {
            rows.append([
                health.device.key, [health.device.manufacturer, health.device.model].compactMap { $0 }.joined(separator: " "),
                TimeFormat.iso8601(health.lastContactMicros, timeZone: zone), String(health.connections), String(health.readingsReceived),
                health.readingsExpected.map(String.init) ?? "-",
                health.clockOffsetMicros.map { Self.offsetText($0) } ?? "-",
                health.clockHistory?.driftPPM.map { String(format: "%+.0f ppm", $0) } ?? "-", String(health.quarantined),
                health.lastError.map { String($0.prefix(60)) } ?? "",
            ])
        }
        print("== devices")
        print(rows.count > 1 ? Table.aligned(rows) : "(no device has connected yet)")
        let mappings = try archive.subjectMappings()
        print("== subjects: " + (mappings.isEmpty ? "none mapped" : mappings.map { "\($0.deviceKey)\($0.userID.map { "#\($0)" } ?? "")=\($0.subject)" }.joined(separator: ", ")))
        let stored = try archive.storedReadingCount()
        print("== readings: \(stored) stored, \(try archive.quarantineCount()) quarantined (unmapped), \(try archive.malformedCount()) malformed payloads kept")
        if FileManager.default.fileExists(atPath: dir + "/store") {
            var logger = Logger(label: "gatewayd.store")
            logger.logLevel = .warning
            let store = try TimeSeriesStore(directory: dir + "/store", logger: logger)
            defer { store.close() }
            let samples = try store.inspect().series.reduce(0) { $0 + $1.samples }
            let bytes = store.diskBytes()
            let perSample = samples > 0 ? String(format: "%.2f", Double(bytes) / Double(samples)) : "-"
            print("== store: \(samples) samples in \(store.allSeries().count) series, \(bytes) bytes on disk, \(perSample) bytes/sample")
        }
    }

    static func offsetText(_ micros: Int64) -> String {
        let seconds = Double(micros) / 1_000_000
        if abs(seconds) >= 86_400 * 365 { return String(format: "%+.1f years (clock reset?)", seconds / (86_400 * 365.25)) }
        if abs(seconds) >= 3600 { return String(format: "%+.1f h", seconds / 3600) }
        return String(format: "%+.0f s", seconds)
    }
}
