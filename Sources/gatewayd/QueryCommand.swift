import ArgumentParser
import Foundation
import GatewayRuntime
import Provenance
import TimeSeries

/// `gatewayd query`: a person's windowed aggregates of one metric, per device, as a table — the store's view,
/// doubtful readings left out and counted unless asked for.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Windowed aggregates (count, min, max, mean, sd…) of a subject's metric, as a table.",
        discussion: """
            gatewayd query --dir DATA --subject alice --metric heart_rate --window 1h --tz Asia/Tokyo --from 2026-11-18T00:00:00+09:00
            Metrics: \(Metric.allCases.map(\.rawValue).joined(separator: ", ")). While `gatewayd run` has the store open, ask its API \
            ($stats) instead.
            """)

    @OptionGroup var location: DataLocationOptions
    @Option(help: "Whose readings.") var subject: String
    @Option(help: "The metric (e.g. bp_systolic, heart_rate, glucose).") var metric: String
    @Option(help: "Window width: 60s, 15m, 1h, 1d (or PT1H, P1D).") var window: DurationArgument
    @Option(help: "IANA time zone the windows align to (default: the subject's from --config, else UTC).") var tz:
        String?
    @Option(help: "Start (ISO 8601). Default: the first sample.") var from: InstantArgument?
    @Option(help: "End, exclusive (ISO 8601). Default: after the last sample.") var to: InstantArgument?
    @Flag(help: "Include doubtful readings (status bits, test data, refused clock) in the figures.")
    var includeDoubtful = false

    func run() async throws {
        let (dir, configuration) = try location.resolve()
        guard Metric(rawValue: metric) != nil else {
            throw ValidationError(
                "--metric: '\(metric)' is not one of \(Metric.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let zoneName = tz ?? configuration?.zone(for: subject).identifier ?? "UTC"
        guard let zone = TimeZone(identifier: zoneName) else {
            throw ValidationError("--tz: '\(zoneName)' is not an IANA time zone name")
        }
        // A read-only snapshot: the query answers beside a running daemon, which keeps the store open for writing.
        let store: TimeSeriesStore
        do { store = try TimeSeriesStore.quietSnapshot(of: dir + "/store") } catch { throw ValidationError("\(error)") }
        defer { store.close() }
        let series = store.allSeries().filter { $0.key.subject == subject && $0.key.metric == metric }.sorted {
            $0.key.device < $1.key.device
        }
        guard !series.isEmpty else { throw ValidationError("no \(metric) readings of '\(subject)' in \(dir)") }
        let range = (from?.micros ?? Int64.min / 4)..<(to?.micros ?? Int64.max / 4)
        let mask = includeDoubtful ? 0 : ReadingFlags.doubtful.rawValue
        for (key, id) in series {
            let result = try store.windows(
                WindowQuery(series: id, range: range, widthMicros: window.micros, timeZone: zone, excludeFlags: mask))
            print("== \(key.device) (\(zone.identifier))")
            print(TextTable.windows(result, timeZone: zone))
            print(
                "\(result.windows.count) windows; \(result.excludedTotal) doubtful readings \(includeDoubtful ? "included" : "excluded")"
            )
            for report in result.corruptChunks { print("warning: \(report)") }
        }
    }
}
