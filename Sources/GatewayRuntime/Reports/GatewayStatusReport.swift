import FHIR
import Foundation
import Logging
import Provenance
import StreamEngine
import TimeSeries

/// What `gatewayd status` prints: the health of the flow per device and of the data directory, read from what is on
/// disk (a read-only snapshot of the store, so it answers while the daemon runs). Each part costs what its answer costs:
/// per device, per destination, the store's index — never a person's history.
package struct GatewayStatusReport {
    package let dir: String
    package let configuration: GatewayConfiguration?
    package let zone: TimeZone

    package init(dir: String, configuration: GatewayConfiguration?, zone: TimeZone) {
        self.dir = dir
        self.configuration = configuration
        self.zone = zone
    }

    /// The report's lines, in order.
    package func lines() throws -> [String] {
        var lines: [String] = []
        let configuration = self.configuration
        let zone = self.zone
        let dir = self.dir
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
        lines.append("== devices")
        lines.append(rows.count > 1 ? TextTable.aligned(rows) : "(no device has connected yet)")
        let mappings = try archive.subjectMappings()
        let paired = (try? PairedDevices(path: BluetoothSettings.pairedFile(data: dir)).load()) ?? []
        if let bluetooth = configuration?.bluetooth {
            lines.append(
                "== bluetooth: hci\(bluetooth.controller), \(paired.count) paired device(s)"
                    + (paired.isEmpty ? " (gatewayd pair adds one)" : ""))
        } else if !paired.isEmpty {
            lines.append(
                "== bluetooth: \(paired.count) paired device(s), but no bluetooth: section in the configuration, so none is connected"
            )
        }
        if !paired.isEmpty {
            lines.append(
                TextTable.aligned(
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
            lines.append("== pairing requests refused (no operator started them)")
            lines.append(
                TextTable.aligned(
                    [["address", "last", "what it means"]]
                        + refusals.map {
                            [
                                $0.address,
                                TimeFormat.iso8601(Int64($0.last.timeIntervalSince1970 * 1_000_000), timeZone: zone),
                                RefusedPairings.advice($0),
                            ]
                        }))
        }
        if let configuration { lines.append(Self.apiLine(configuration)) }
        if let disk = Self.diskLine(dir) { lines.append(disk) }
        lines.append(
            "== subjects: "
                + (mappings.isEmpty
                    ? "none mapped"
                    : mappings.map { "\($0.deviceKey)\($0.userID.map { "#\($0)" } ?? "")=\($0.subject)" }.joined(
                        separator: ", ")))
        if let tests = configuration?.testSubjects, !tests.isEmpty {
            lines.append(
                "   test people (summaries made of test data, labelled HTEST): "
                    + tests.sorted().joined(separator: ", "))
        }
        let stored = try archive.storedReadingCount()
        lines.append(
            "== readings: \(stored) stored, \(try archive.quarantineCount()) quarantined (unmapped), \(try archive.malformedCount()) malformed payloads kept"
        )
        if FileManager.default.fileExists(atPath: dir + "/store") {
            // A read-only snapshot, so status answers while a running gatewayd holds the store for writing.
            let store = try TimeSeriesStore.quietSnapshot(of: dir + "/store")
            defer { store.close() }
            let samples = try store.sampleCount()
            let bytes = store.diskBytes()
            let perSample = samples > 0 ? String(format: "%.2f", Double(bytes) / Double(samples)) : "-"
            lines.append(
                "== store: \(samples) samples in \(store.allSeries().count) series, \(bytes) bytes on disk, \(perSample) bytes/sample"
            )
        }
        if let configuration, !configuration.destinations.isEmpty {
            lines += try Self.outbox(configuration, zone: zone)
        }
        return lines
    }

    /// The data directory's file system: how much is free, and what a full one means (an SD card is small).
    package static func diskLine(_ dir: String) -> String? {
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
    package static func apiLine(_ configuration: GatewayConfiguration) -> String {
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

    /// The sync ledger per destination: pending, sent, refused, lag from measurement to upload, backoff state.
    package static func outbox(_ configuration: GatewayConfiguration, zone: TimeZone) throws -> [String] {
        var lines: [String] = []
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
        lines.append("== outbox (not yet fed entries are counted after the next sync pass)")
        lines.append(TextTable.aligned(rows))
        if !refusals.isEmpty {
            lines.append(
                "refused entries (gatewayd sync --retry-failed NAME queues them again):\n"
                    + refusals.joined(separator: "\n"))
        }
        return lines
    }

    package static func offsetText(_ micros: Int64) -> String {
        let seconds = Double(micros) / 1_000_000
        if abs(seconds) >= 86_400 * 365 {
            return String(format: "%+.1f years (clock reset?)", seconds / (86_400 * 365.25))
        }
        if abs(seconds) >= 3600 { return String(format: "%+.1f h", seconds / 3600) }
        return String(format: "%+.0f s", seconds)
    }
}
