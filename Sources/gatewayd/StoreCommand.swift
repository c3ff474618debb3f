import ArgumentParser
import Foundation
import GatewayRuntime
import Logging
import TimeSeries

/// `gatewayd store …`: exercise the embedded time-series store directly.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Import, query and maintain the time-series store.",
        subcommands: [
            StoreImport.self, StoreQuery.self, StoreScan.self, StoreInfo.self, StoreRetain.self, StoreGenerate.self,
            StoreCrashWriter.self,
        ])
}

/// Options every store command shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store's data directory.")
    var dir: String = "gatewayd-data"

    @Flag(name: .long, help: "Log store events (replay, torn tails, sealing) to stderr.")
    var verbose = false

    func open(configuration: StoreConfiguration = .init()) throws -> TimeSeriesStore {
        var logger = Logger(label: "gatewayd.store")
        logger.logLevel = verbose ? .debug : .warning
        return try TimeSeriesStore(directory: dir, configuration: configuration, logger: logger)
    }
}

/// Parses "subject/device/metric".
struct SeriesArgument: ExpressibleByArgument {
    let key: SeriesKey
    init?(argument: String) {
        guard let key = SeriesKey(parsing: argument) else { return nil }
        self.key = key
    }
    static var defaultValueDescription: String { "subject/device/metric" }
}

/// A positive duration like 90s, 15m, 1h, 7d, or ISO-8601 PT1H / P1D (`DurationText`, as in the configuration).
struct DurationArgument: ExpressibleByArgument {
    let micros: Int64
    init?(argument: String) {
        guard let seconds = DurationText.seconds(argument), seconds > 0 else { return nil }
        micros = Int64((seconds * 1_000_000).rounded())
    }
}

/// An ISO-8601 instant.
struct InstantArgument: ExpressibleByArgument {
    let micros: Int64
    init?(argument: String) {
        guard let micros = TimeFormat.parse(argument) else { return nil }
        self.micros = micros
    }
}

struct StoreImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Append samples from a CSV file (ts_ms|ts_us|ts_s,value[,flags][,tag]; .zst accepted) durably.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "CSV file to import.") var file: String
    @Option(help: "Series to append to.") var series: SeriesArgument
    @Option(help: "Samples per durable append.") var batch: Int = 10_000

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
    }

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read \(file): no such file or not readable")
        }
        let samples: [Sample]
        do { samples = try CSVSamples.parse([UInt8](data)) } catch {
            throw ValidationError("\(file): \(error)")
        }
        let db = try store.open()
        defer { db.close() }
        let progress = Progress(total: samples.count, label: "importing")
        try await db.importSamples(samples, into: series.key, batch: batch, progress: progress.update)
        progress.finish()
        print("imported \(samples.count) samples into \(series.key) (\(db.diskBytes()) bytes on disk in \(store.dir))")
    }
}

struct StoreQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Windowed aggregates of one series, as a table.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Series to query.") var series: SeriesArgument
    @Option(help: "Window width: 60s, 15m, 1h, 1d (or PT1H, P1D).") var window: DurationArgument
    @Option(help: "IANA time zone the windows align to (e.g. Asia/Tokyo). Default UTC.", transform: ZoneArgument.parse)
    var tz = ZoneArgument.utc
    @Option(help: "Start (ISO 8601). Default: the first sample.") var from: InstantArgument?
    @Option(help: "End, exclusive (ISO 8601). Default: after the last sample.") var to: InstantArgument?
    @Option(help: "Exclude samples whose flags share a bit with this mask (e.g. 0xFFFF = any flag).")
    var excludeFlags: String = "0"

    func run() async throws {
        let zone = tz.zone
        let maskText = excludeFlags.lowercased()
        guard let mask = maskText.hasPrefix("0x") ? UInt16(maskText.dropFirst(2), radix: 16) : UInt16(maskText)
        else { throw ValidationError("--exclude-flags: '\(excludeFlags)' is not a 16-bit number") }
        let db = try store.open()
        defer { db.close() }
        guard let id = db.existingSeries(series.key) else {
            throw ValidationError("--series: no series \(series.key) in \(store.dir); `gatewayd store info` lists them")
        }
        let range = (from?.micros ?? Int64.min / 4)..<(to?.micros ?? Int64.max / 4)
        let result = try db.windows(
            WindowQuery(series: id, range: range, widthMicros: window.micros, timeZone: zone, excludeFlags: mask))
        print(TextTable.windows(result, timeZone: zone))
        print(
            "\(result.windows.count) windows; excluded \(result.excludedTotal) flagged samples; "
                + "\(result.plan.chunksFromStatistics) chunks from statistics, \(result.plan.chunksDecoded) decoded, "
                + "\(result.plan.rollupChunksRead) rollup chunks, \(result.plan.headSamples) unsealed samples")
        for report in result.corruptChunks { print("warning: \(report)") }
    }
}

struct StoreScan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scan", abstract: "Raw samples in a range, as CSV.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Series to scan.") var series: SeriesArgument
    @Option(help: "Start (ISO 8601).") var from: InstantArgument?
    @Option(help: "End, exclusive (ISO 8601).") var to: InstantArgument?
    @Option(help: "At most this many rows.") var limit: Int = 100

    func run() async throws {
        let db = try store.open()
        defer { db.close() }
        guard let id = db.existingSeries(series.key) else {
            throw ValidationError("--series: no series \(series.key) in \(store.dir)")
        }
        let result = try db.scan(id, range: (from?.micros ?? Int64.min / 4)..<(to?.micros ?? Int64.max / 4))
        print("ts_us,value,flags,tag,time")
        for s in result.samples.prefix(limit) {
            print(
                "\(s.timestampMicros),\(s.value),\(s.flags),\(s.contextTag.map(String.init) ?? ""),\(TimeFormat.iso8601(s.timestampMicros))"
            )
        }
        if result.samples.count > limit { print("… \(result.samples.count - limit) more (raise --limit)") }
        for report in result.corruptChunks { print("warning: \(report)") }
    }
}

struct StoreInfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Series, sample counts and bytes per sample; verifies every chunk's checksum.")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let db = try store.open()
        defer { db.close() }
        let info = try db.inspect()
        print("series                                     samples   chunks  corrupt")
        for s in info.series {
            print(
                "\(s.key.description.padding(toLength: 40, withPad: " ", startingAt: 0)) \(pad(s.samples, 10)) "
                    + "\(pad(s.chunks, 8)) \(pad(s.corrupt.count, 8))")
            for report in s.corrupt { print("  warning: \(report)") }
        }
        let total = info.series.reduce(0) { $0 + $1.samples }
        let bytes = db.diskBytes()
        print(
            "\(total) samples, \(bytes) bytes on disk, \(total > 0 ? String(format: "%.3f", Double(bytes) / Double(total)) : "-") bytes/sample"
        )
    }

    private func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }
}

struct StoreRetain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retain",
        abstract: "Drop raw samples older than an age (or before an instant), keeping 1 min/1 h/1 d rollups.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Keep raw samples this long (e.g. 30d), counted back from now.") var rawAge: DurationArgument?
    @Option(help: "Drop raw chunks that end before this instant (ISO 8601) instead.") var before: InstantArgument?

    func validate() throws {
        guard (rawAge == nil) != (before == nil) else {
            throw ValidationError("give exactly one of --raw-age or --before")
        }
    }

    func run() async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let cutoff = before?.micros ?? (now - (rawAge?.micros ?? 0))
        let db = try store.open()
        defer { db.close() }
        try db.sealAll()
        let report = try db.applyRetention(rawOlderThan: cutoff)
        try db.checkpointCatalog()
        print(
            "rolled up \(report.chunksRolledUp) chunks (\(report.samplesDropped) raw samples dropped, "
                + "\(report.rollupBuckets) rollup buckets kept); deleted \(report.filesDeleted) files, "
                + "rewrote \(report.filesRewritten)")
        for r in report.corruptChunks { print("warning: \(r)") }
    }
}
