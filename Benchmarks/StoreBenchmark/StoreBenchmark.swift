import ArgumentParser
import Foundation
import TimeSeries

/// Measures the gatewayd store against a plain-SQLite baseline on a real 1 Hz heart-rate recording: bytes on
/// disk, durable ingest rate, 1-minute window latency and bytes written, for one long series and for a hub of
/// interleaved series. Every run uses fresh directories; the table shows medians across runs, so one noisy
/// run (the machine may be shared) cannot decide a figure, and ratios so absolute speed is never the claim.
@main
struct StoreBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark the TimeSeries store against SQLite (WAL, one row per sample).")

    @Option(help: "CSV of ts_ms,bpm samples, plain or zstd-compressed.") var dataset: String
    @Option(help: "Repetitions, each in fresh directories; medians are reported.") var runs = 3
    @Option(help: "Samples per append call and per SQLite transaction.") var batchSize = 1_000
    @Option(help: "Concurrent appenders for the group-commit measurement.") var appenders = 16
    @Option(help: "Series in the hub scenario.") var hubSeries = 100
    @Option(help: "Timed repetitions of each window query, after one warm-up pass.") var queryRepeats = 7
    @Option(help: "Where the run directories are created.") var workDirectory = "/tmp"
    @Flag(help: "Keep the run directories for inspection.") var keep = false

    mutating func validate() throws {
        guard runs >= 1, batchSize >= 1, appenders >= 1, hubSeries >= 1, queryRepeats >= 1 else {
            throw ValidationError("counts must be positive")
        }
    }

    mutating func run() async throws {
        let samples = try CSVSamples.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: dataset))))
        guard !samples.isEmpty, samples.allSatisfy({ $0.value.exponent == 0 }) else {
            throw ValidationError("the baseline table stores integer values; the dataset must hold whole numbers")
        }
        print("dataset \(dataset): \(samples.count) samples; \(runs) runs, medians [min–max across runs]")
        print("batches of \(batchSize) samples; gatewayd appends return after fdatasync. SQLite runs WAL mode with")
        print("synchronous=NORMAL (the baseline: commits are not fsynced) and, for like-for-like durability, FULL.\n")
        var consistent = true
        for workload in [
            Workload.singleSeries(samples, batchSize: batchSize),
            Workload.hub(samples, seriesCount: hubSeries, batchSize: batchSize),
        ] {
            var figures: [Metric: [Double]] = [:]
            var notes: [String] = []
            for run in 1...runs {
                let directory = "\(workDirectory)/storebench-\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                defer { if !keep { try? FileManager.default.removeItem(atPath: directory) } }
                let result = try await measure(workload, in: directory)
                for (metric, value) in result.figures { figures[metric, default: []].append(value) }
                notes = result.notes
                for problem in result.problems {
                    consistent = false
                    print("!!! MISMATCH (run \(run)): \(problem)")
                    FileHandle.standardError.write(Data("!!! MISMATCH (run \(run)): \(problem)\n".utf8))
                }
            }
            print("== \(workload.title)")
            printTable(figures)
            for note in notes { print("   \(note)") }
            print()
        }
        if !consistent { throw ExitCode.failure }
    }

    /// Everything measured in one run of one workload.
    struct RunResult {
        var figures: [Metric: Double] = [:]
        var notes: [String] = []
        var problems: [String] = []
    }

    /// One run: our store with one appender (then its queries), our store with concurrent appenders, SQLite
    /// with synchronous=NORMAL (then its queries) and SQLite with synchronous=FULL — all on the same batches.
    func measure(_ w: Workload, in directory: String) async throws -> RunResult {
        var r = RunResult()
        let n = Double(w.sampleCount)

        let ours = try await GatewaydIngest(w, directory: directory + "/gatewayd-1", appenders: 1)
        r.figures[.oursIngest1] = n / ours.seconds
        r.figures[.oursDisk] = Double(ours.store.diskBytes()) / n
        let files = entrySizes(ours.store.directory)
        let catalogBytes = files.filter { $0.key.hasPrefix("catalog") }.values.reduce(0, +)
        let written = ours.store.bytesWritten
        r.figures[.oursWrittenCounters] = Double(written.log + written.chunks + catalogBytes) / n
        r.figures[.oursWrittenProc] = ours.processWritten.map { Double($0) / n }
        r.notes.append(
            "gatewayd files after sealing (1 appender): "
                + files.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) B" }.joined(separator: ", ")
                + String(format: "; chunks alone %.3f B/sample", Double(files["chunks"] ?? 0) / n))
        let chunks = try ours.verify(&r.problems)

        var ourCheck = WindowCheck()
        var plan = QueryPlanReport()
        for i in 0..<w.seriesCount {  // also the warm-up pass
            let result = try ours.store.windows(
                WindowQuery(series: ours.ids[i], range: w.queryRanges[i], widthMicros: Workload.minute))
            if !result.corruptChunks.isEmpty { r.problems.append("corrupt chunks: \(result.corruptChunks)") }
            for window in result.windows {
                let a = window.aggregate
                ourCheck.add(
                    count: a.count, min: a.min?.doubleValue ?? 0, max: a.max?.doubleValue ?? 0, mean: a.mean ?? 0)
            }
            plan.chunksFromStatistics += result.plan.chunksFromStatistics
            plan.chunksDecoded += result.plan.chunksDecoded
            plan.headSamples += result.plan.headSamples
        }
        r.figures[.oursQuery] = try medianQueryMillis(repeats: queryRepeats, queries: w.seriesCount) { i in
            _ = try ours.store.windows(
                WindowQuery(series: ours.ids[i], range: w.queryRanges[i], widthMicros: Workload.minute))
        }
        r.notes.append(
            "window query plan (all series): \(plan.chunksFromStatistics) chunks from statistics, "
                + "\(plan.chunksDecoded) decoded, \(plan.headSamples) head samples")
        ours.store.close()

        let concurrent = try await GatewaydIngest(w, directory: directory + "/gatewayd-n", appenders: appenders)
        r.figures[.oursIngestN] = n / concurrent.seconds
        r.figures[.oursDiskConcurrent] = Double(concurrent.store.diskBytes()) / n
        r.notes.append(
            "gatewayd chunks: \(chunks) (1 appender), \(try concurrent.verify(&r.problems)) (\(appenders) appenders)")
        concurrent.store.close()

        let baseline = try SQLiteBaseline(path: directory + "/baseline-normal.sqlite", synchronous: "NORMAL")
        let before = processWriteBytes()
        let start = ContinuousClock.now
        try baseline.insert(w.batches)
        r.figures[.sqliteIngestNormal] = n / elapsedSeconds(since: start)
        try baseline.checkpoint()
        if let before, let after = processWriteBytes() { r.figures[.sqliteWrittenProc] = Double(after - before) / n }
        r.figures[.sqliteDisk] = Double(baseline.diskBytes()) / n
        let rows = try baseline.rowCount()
        if rows != w.sampleCount { r.problems.append("SQLite holds \(rows) rows, expected \(w.sampleCount)") }

        let statement = try baseline.windowQuery()
        var baseCheck = WindowCheck()
        for i in 0..<w.seriesCount { try statement.run(series: i, range: w.queryRanges[i], into: &baseCheck) }
        var scratch = WindowCheck()
        r.figures[.sqliteQuery] = try medianQueryMillis(repeats: queryRepeats, queries: w.seriesCount) { i in
            try statement.run(series: i, range: w.queryRanges[i], into: &scratch)
        }
        if ourCheck != baseCheck {
            r.problems.append("window results differ: gatewayd \(ourCheck) vs SQLite \(baseCheck)")
        }
        r.notes.append("window check (both engines): \(ourCheck)")

        let full = try SQLiteBaseline(path: directory + "/baseline-full.sqlite", synchronous: "FULL")
        let fullStart = ContinuousClock.now
        try full.insert(w.batches)
        r.figures[.sqliteIngestFull] = n / elapsedSeconds(since: fullStart)
        return r
    }

    enum Metric: Hashable {
        case oursDisk, oursDiskConcurrent, sqliteDisk
        case oursIngest1, oursIngestN, sqliteIngestNormal, sqliteIngestFull
        case oursQuery, sqliteQuery
        case oursWrittenCounters, oursWrittenProc, sqliteWrittenProc
    }

    /// One line of the table. `ratio` is always "how many times better gatewayd is" (>1 = gatewayd wins).
    struct Row {
        var label: String
        var ours: Metric
        var baseline: Metric?
        var higherIsBetter = false
        var digits = 3
        var goal = "—"
        var met: ((_ ours: Double, _ ratio: Double) -> Bool)? = nil
    }

    var rows: [Row] {
        [
            Row(
                label: "on disk after sealing, B/sample (all files)", ours: .oursDisk, baseline: .sqliteDisk,
                goal: "≤ 0.70 B/sample", met: { o, _ in o <= 0.70 }),
            Row(
                label: "  same, store ingested by \(appenders) appenders", ours: .oursDiskConcurrent,
                baseline: .sqliteDisk),
            Row(
                label: "durable ingest, 1 appender, samples/s", ours: .oursIngest1, baseline: .sqliteIngestNormal,
                higherIsBetter: true, digits: 0, goal: "≥ 10×", met: { _, r in r >= 10 }),
            Row(
                label: "durable ingest, \(appenders) appenders, samples/s", ours: .oursIngestN,
                baseline: .sqliteIngestNormal, higherIsBetter: true, digits: 0, goal: "≥ 10×", met: { _, r in r >= 10 }),
            Row(
                label: "  1 appender vs SQLite synchronous=FULL", ours: .oursIngest1, baseline: .sqliteIngestFull,
                higherIsBetter: true, digits: 0),
            Row(
                label: "  \(appenders) appenders vs SQLite synchronous=FULL", ours: .oursIngestN,
                baseline: .sqliteIngestFull, higherIsBetter: true, digits: 0),
            Row(
                label: "1-min windows over 7 days, ms/query", ours: .oursQuery, baseline: .sqliteQuery, digits: 2,
                goal: "≤ 5 ms, ≥ 50×", met: { o, r in o <= 5 && r >= 50 }),
            Row(
                label: "written during ingest, B/sample (/proc/self/io)", ours: .oursWrittenProc,
                baseline: .sqliteWrittenProc, digits: 2),
            Row(
                label: "written during ingest, B/sample (log+chunks+catalog)", ours: .oursWrittenCounters,
                baseline: nil, digits: 2),
        ]
    }

    func printTable(_ figures: [Metric: [Double]]) {
        func cell(_ metric: Metric?, digits: Int) -> (median: Double?, text: String) {
            guard let metric, let values = figures[metric], !values.isEmpty else { return (nil, "n/a") }
            let m = median(values)
            let text = format(m, digits)
            guard values.count > 1 else { return (m, text) }
            return (m, "\(text) [\(format(values.min()!, digits))–\(format(values.max()!, digits))]")
        }
        var table = [["metric", "gatewayd", "sqlite baseline", "ratio (× better)", "goal", "met?"]]
        for row in rows {
            let (ours, oursText) = cell(row.ours, digits: row.digits)
            let (base, baseText) = cell(row.baseline, digits: row.digits)
            var ratio: Double?
            if let ours, let base, ours > 0, base > 0 { ratio = row.higherIsBetter ? ours / base : base / ours }
            var met = "—"
            if let check = row.met, let ours, let ratio { met = check(ours, ratio) ? "yes" : "NO" }
            table.append([
                row.label, oursText, baseText, ratio.map { format($0, $0 < 1 ? 2 : 1) + "×" } ?? "—", row.goal, met,
            ])
        }
        let widths = (0..<table[0].count).map { c in table.map { $0[c].count }.max()! }
        for (index, line) in table.enumerated() {
            let cells = line.enumerated().map { c, text in
                c == 0
                    ? text.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - text.count) + text
            }
            print("| " + cells.joined(separator: " | ") + " |")
            if index == 0 {
                print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
            }
        }
    }

    func format(_ value: Double, _ digits: Int) -> String {
        guard digits == 0 else { return String(format: "%.\(digits)f", value) }
        let digits = String(Int(value.rounded()))
        return digits.reversed().enumerated().reduce(into: "") { s, e in
            if e.offset > 0 && e.offset % 3 == 0 { s.insert(",", at: s.startIndex) }
            s.insert(e.element, at: s.startIndex)
        }
    }
}

/// A fresh store after a complete durable ingest: every batch appended (with `appenders` concurrent appenders,
/// each owning a contiguous slice of the batches so group commit can merge their fsyncs), then `sealAll`,
/// which is timed too — the ingest is only done when every sample is in a chunk. The catalog checkpoint that
/// follows is untimed housekeeping but counted in the bytes written.
struct GatewaydIngest {
    let store: TimeSeriesStore
    let ids: [SeriesID]
    let seconds: Double
    let processWritten: Int?
    let expected: Int

    init(_ w: Workload, directory: String, appenders: Int) async throws {
        expected = w.sampleCount
        let store = try TimeSeriesStore(directory: directory)
        let ids = try (0..<w.seriesCount).map {
            try store.series(SeriesKey(subject: "bench", device: "strap-\($0)", metric: "heart_rate"))
        }
        let batches = w.batches.map { $0.map { SeriesSample(series: ids[Int($0.series)], sample: $0.sample) } }
        let before = processWriteBytes()
        let start = ContinuousClock.now
        if appenders == 1 {
            for batch in batches { try await store.append(batch) }
        } else {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for k in 0..<appenders {
                    let slice = batches[(k * batches.count / appenders)..<((k + 1) * batches.count / appenders)]
                    group.addTask { for batch in slice { try await store.append(batch) } }
                }
                try await group.waitForAll()
            }
        }
        try store.sealAll()
        seconds = elapsedSeconds(since: start)
        try store.checkpointCatalog()
        if let before, let after = processWriteBytes() { processWritten = after - before } else { processWritten = nil }
        self.store = store
        self.ids = ids
    }

    /// Reads every chunk back (checksums verified) and checks that every sample arrived; returns the chunk count.
    func verify(_ problems: inout [String]) throws -> Int {
        let series = try store.inspect().series
        let stored = series.reduce(0) { $0 + $1.samples }
        if stored != expected { problems.append("gatewayd holds \(stored) samples, expected \(expected)") }
        if let bad = series.first(where: { !$0.corrupt.isEmpty }) { problems.append("corrupt: \(bad.corrupt)") }
        return series.reduce(0) { $0 + $1.chunks }
    }
}
