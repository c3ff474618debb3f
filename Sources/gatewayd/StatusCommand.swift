import ArgumentParser
import FHIR
import Foundation
import GatewayRuntime
import Logging
import Provenance
import StreamEngine
import TimeSeries

/// `gatewayd status`: the health of the flow per device and of the data directory, from what is on disk.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "Devices (last contact, readings received vs expected, clock offset), quarantine, store size and bytes/sample."
    )

    @OptionGroup var location: DataLocationOptions

    @Option(help: "IANA time zone for the times shown.", transform: ZoneArgument.parse)
    var tz = ZoneArgument.utc

    /// The data directory's file system: how much is free, and what a full one means (an SD card is small).
    static func diskLine(_ dir: String) -> String? {
        var stats = statvfs()
        guard statvfs(dir, &stats) == 0 else { return nil }
        let free = Double(stats.f_bavail) * Double(stats.f_frsize)
        let total = Double(stats.f_blocks) * Double(stats.f_frsize)
        var line = String(format: "== disk: %.1f MiB free of %.1f MiB", free / 1_048_576, total / 1_048_576)
        if free < max(2 * 1_048_576, total * 0.01) {
            line += " — FULL or nearly: \(StorageFailure.diskFull.advice)"
        }
        return line
    }

    /// Where the API listens and how: with TLS, the certificate's fingerprint, which a phone or a home gateway pins.
    static func apiLine(_ configuration: GatewayConfiguration) -> String {
        let api = configuration.api
        let host = (try? ListenAddress.parse(api.listen).host) ?? api.listen
        let security: ListenerSecurity
        do {
            security = try ListenerSecurity.resolve(
                choice: api.tls, plainHTTP: api.plainHTTP, listen: api.listen, host: host,
                dataDirectory: configuration.dataDirectory)
        } catch {
            return "== api: \(api.listen): \(error)"
        }
        var line = "== api: \(security.scheme)://\(api.listen)/fhir"
        if case .tls(let certificate, _, let generated) = security {
            if let fingerprint = security.fingerprint {
                line +=
                    ", TLS certificate SHA-256 \(fingerprint)"
                    + (generated ? " (the gateway's own, \(certificate))" : "")
            } else {
                line +=
                    generated
                    ? ", TLS with the gateway's own certificate (made when it first starts)"
                    : ", TLS certificate \(certificate) unreadable"
            }
        } else if !ListenerSecurity.isLoopback(host: host) {
            line += " — plain HTTP off loopback (plain_http: true): tokens and readings cross the network in clear text"
        }
        return line
    }

    func run() throws {
        let zone = tz.zone
        let (dir, configuration) = try location.resolve()
        guard FileManager.default.fileExists(atPath: dir + "/engine.sqlite") else {
            throw ValidationError("--dir \(dir): no gateway data here (missing engine.sqlite)")
        }
        let archive = try ReadingArchive(path: dir + "/engine.sqlite")
        var rows: [[String]] = [
            [
                "device", "model", "last contact", "connections", "received", "expected", "clock offset", "drift",
                "quarantined", "last problem",
            ]
        ]
        for health in try archive.deviceHealth() {
            rows.append([
                health.device.key,
                [health.device.manufacturer, health.device.model].compactMap { $0 }.joined(separator: " "),
                TimeFormat.iso8601(health.lastContactMicros, timeZone: zone), String(health.connections),
                String(health.readingsReceived),
                health.readingsExpected.map(String.init) ?? "-",
                health.clockOffsetMicros.map { Self.offsetText($0) } ?? "-",
                health.clockHistory?.driftPPM.map { String(format: "%+.0f ppm", $0) } ?? "-",
                String(health.quarantined),
                health.lastError.map { String($0.prefix(60)) } ?? "",
            ])
        }
        print("== devices")
        print(rows.count > 1 ? Table.aligned(rows) : "(no device has connected yet)")
        let mappings = try archive.subjectMappings()
        let paired = (try? PairedDevices(path: BluetoothSettings.pairedFile(data: dir)).load()) ?? []
        if let bluetooth = configuration?.bluetooth {
            print(
                "== bluetooth: hci\(bluetooth.controller), \(paired.count) paired device(s)"
                    + (paired.isEmpty ? " (gatewayd pair adds one)" : ""))
        } else if !paired.isEmpty {
            print(
                "== bluetooth: \(paired.count) paired device(s), but no bluetooth: section in the configuration, so none is connected"
            )
        }
        if !paired.isEmpty {
            print(
                Table.aligned(
                    [["address", "kind", "name", "device", "paired"]]
                        + paired.map {
                            [
                                $0.address, $0.kind, $0.name ?? "-", $0.deviceKey ?? "-",
                                ISO8601DateFormatter().string(from: $0.pairedAt),
                            ]
                        }))
        }
        let refusals = RefusedPairings(data: dir).load()
        if !refusals.isEmpty {
            print("== pairing requests refused (no operator started them)")
            print(
                Table.aligned(
                    [["address", "last", "what it means"]]
                        + refusals.map {
                            [
                                $0.address,
                                TimeFormat.iso8601(Int64($0.last.timeIntervalSince1970 * 1_000_000), timeZone: zone),
                                RefusedPairings.advice($0),
                            ]
                        }))
        }
        if let configuration { print(Self.apiLine(configuration)) }
        if let disk = Self.diskLine(dir) { print(disk) }
        print(
            "== subjects: "
                + (mappings.isEmpty
                    ? "none mapped"
                    : mappings.map { "\($0.deviceKey)\($0.userID.map { "#\($0)" } ?? "")=\($0.subject)" }.joined(
                        separator: ", ")))
        if let tests = configuration?.testSubjects, !tests.isEmpty {
            print(
                "   test people (summaries made of test data, labelled HTEST): "
                    + tests.sorted().joined(separator: ", "))
        }
        let stored = try archive.storedReadingCount()
        print(
            "== readings: \(stored) stored, \(try archive.quarantineCount()) quarantined (unmapped), \(try archive.malformedCount()) malformed payloads kept"
        )
        if FileManager.default.fileExists(atPath: dir + "/store") {
            var logger = Logger(label: "gatewayd.store")
            logger.logLevel = .warning
            // A read-only snapshot, so status answers while a running gatewayd holds the store for writing.
            let store = try TimeSeriesStore(snapshotOf: dir + "/store", logger: logger)
            defer { store.close() }
            let samples = try store.inspect().series.reduce(0) { $0 + $1.samples }
            let bytes = store.diskBytes()
            let perSample = samples > 0 ? String(format: "%.2f", Double(bytes) / Double(samples)) : "-"
            print(
                "== store: \(samples) samples in \(store.allSeries().count) series, \(bytes) bytes on disk, \(perSample) bytes/sample"
            )
        }
        if let configuration, !configuration.destinations.isEmpty {
            try printOutbox(configuration, zone: zone)
        }
    }

    /// The sync ledger per destination: pending, sent, refused, lag from measurement to upload, backoff state.
    func printOutbox(_ configuration: GatewayConfiguration, zone: TimeZone) throws {
        let outbox = try Outbox(path: configuration.dataDirectory + "/outbox.sqlite")
        var rows: [[String]] = [
            [
                "destination", "pending", "sent", "refused", "oldest pending", "lag p50", "lag max", "failures",
                "last error",
            ]
        ]
        var refusals: [String] = []
        for destination in configuration.destinations {
            let report = try outbox.report(destination: destination.name)
            func lag(_ seconds: Double?) -> String {
                seconds.map { Self.offsetText(Int64($0 * 1_000_000)).replacingOccurrences(of: "+", with: "") } ?? "-"
            }
            rows.append([
                destination.name, String(report.pending), String(report.sent), String(report.failed),
                report.oldestPendingMeasuredMicros.map { TimeFormat.iso8601($0, timeZone: zone) } ?? "-",
                lag(report.medianLagSeconds), lag(report.maximumLagSeconds), String(report.state.failures),
                report.state.lastError.map { String($0.prefix(60)) } ?? "",
            ])
            refusals += report.failures.map { "  \(destination.name): \($0.resource): \($0.reason)" }
        }
        print("== outbox (not yet fed entries are counted after the next sync pass)")
        print(Table.aligned(rows))
        if !refusals.isEmpty {
            print(
                "refused entries (gatewayd sync --retry-failed NAME queues them again):\n"
                    + refusals.joined(separator: "\n"))
        }
    }

    static func offsetText(_ micros: Int64) -> String {
        let seconds = Double(micros) / 1_000_000
        if abs(seconds) >= 86_400 * 365 {
            return String(format: "%+.1f years (clock reset?)", seconds / (86_400 * 365.25))
        }
        if abs(seconds) >= 3600 { return String(format: "%+.1f h", seconds / 3600) }
        return String(format: "%+.0f s", seconds)
    }
}
