import Foundation

/// A windowed aggregate query over one series.
public struct WindowQuery: Sendable {
    public var series: SeriesID
    /// UTC µs, half-open.
    public var range: Range<Int64>
    public var widthMicros: Int64
    /// IANA zone the windows are aligned to; UTC when nil.
    public var timeZone: TimeZone
    /// A sample is excluded when `flags & excludeFlags != 0` (e.g. the "doubtful" bits); excluded samples
    /// are counted per window so the exclusion is visible.
    public var excludeFlags: UInt16

    public init(
        series: SeriesID, range: Range<Int64>, widthMicros: Int64, timeZone: TimeZone = .gmt, excludeFlags: UInt16 = 0
    ) {
        self.series = series
        self.range = range
        self.widthMicros = widthMicros
        self.timeZone = timeZone
        self.excludeFlags = excludeFlags
    }
}

/// One window's result.
public struct WindowSummary: Hashable, Sendable {
    /// Wall-clock label of the window (local µs since 1970 in the query's zone).
    public var labelMicros: Int64
    public var startMicros: Int64
    public var endMicros: Int64
    public var aggregate: Aggregate
    public var excludedCount: Int

    public init(labelMicros: Int64, startMicros: Int64, endMicros: Int64, aggregate: Aggregate, excludedCount: Int) {
        (self.labelMicros, self.startMicros, self.endMicros) = (labelMicros, startMicros, endMicros)
        (self.aggregate, self.excludedCount) = (aggregate, excludedCount)
    }
}

/// How a query was answered, so "whole chunks from statistics" is observable.
public struct QueryPlanReport: Hashable, Sendable {
    public var chunksFromStatistics = 0
    /// Chunks answered from their per-hour statistics (each hour inside one window).
    public var chunksFromBuckets = 0
    public var chunksDecoded = 0
    public var rollupChunksRead = 0
    public var headSamples = 0

    public init() {}
}

public struct WindowResult: Sendable {
    public var windows: [WindowSummary]
    public var corruptChunks: [CorruptChunkReport]
    public var plan: QueryPlanReport
    public var excludedTotal: Int { windows.reduce(0) { $0 + $1.excludedCount } }
}

/// Collects partial aggregates per window label.
struct WindowAccumulator {
    struct Cell {
        var aggregate = Aggregate()
        var excluded = 0
    }
    let calendar: WindowCalendar
    var cells: [Int64: Cell] = [:]

    mutating func merge(label: Int64, _ aggregate: Aggregate, excluded: Int) {
        cells[label, default: Cell()].aggregate.merge(aggregate)
        cells[label, default: Cell()].excluded += excluded
    }

    /// Adds decoded samples (sorted by time) that fall in `range`, one integer run per window and exponent.
    mutating func add(_ chunk: DecodedChunk, range: Range<Int64>, excludeFlags: UInt16) {
        let n = chunk.count
        guard n > 0 else { return }
        var run = RunAccumulator()
        var windowStart = Int64.max
        var windowEnd = Int64.min
        var label: Int64 = 0
        var cell = Cell()
        var haveCell = false
        chunk.timestamps.withUnsafeBufferPointer { ts in
            chunk.mantissas.withUnsafeBufferPointer { ms in
                chunk.exponents.withUnsafeBufferPointer { es in
                    chunk.flags.withUnsafeBufferPointer { fs in
                        for i in 0..<n {
                            let t = ts[i]
                            guard t >= range.lowerBound && t < range.upperBound else { continue }
                            if t >= windowEnd || t < windowStart {
                                if haveCell {
                                    run.flush(into: &cell.aggregate)
                                    commit(label, cell)
                                }
                                let w = calendar.window(containing: t)
                                (label, windowStart, windowEnd) = (w.label, w.start, w.end)
                                cell = Cell()
                                haveCell = true
                            }
                            if UInt16(truncatingIfNeeded: fs[i]) & excludeFlags != 0 {
                                cell.excluded += 1
                                continue
                            }
                            let e = Int8(truncatingIfNeeded: es[i])
                            if e != run.exponent && run.count > 0 { run.flush(into: &cell.aggregate) }
                            run.exponent = e
                            run.add(ms[i], at: t)
                        }
                    }
                }
            }
        }
        if haveCell {
            run.flush(into: &cell.aggregate)
            commit(label, cell)
        }
    }

    mutating func add(_ samples: [Sample], range: Range<Int64>, excludeFlags: UInt16) {
        for s in samples where range.contains(s.timestampMicros) {
            let label = calendar.label(for: s.timestampMicros)
            if s.flags & excludeFlags != 0 {
                cells[label, default: Cell()].excluded += 1
            } else {
                cells[label, default: Cell()].aggregate.add(s)
            }
        }
    }

    private mutating func commit(_ label: Int64, _ cell: Cell) {
        if var existing = cells[label] {
            existing.aggregate.merge(cell.aggregate)
            existing.excluded += cell.excluded
            cells[label] = existing
        } else {
            cells[label] = cell
        }
    }

    func summaries() -> [WindowSummary] {
        cells.keys.sorted().compactMap { label in
            guard let cell = cells[label], cell.aggregate.count > 0 || cell.excluded > 0 else { return nil }
            return WindowSummary(
                labelMicros: label, startMicros: calendar.start(ofLabel: label),
                endMicros: calendar.start(ofLabel: label + calendar.widthMicros), aggregate: cell.aggregate,
                excludedCount: cell.excluded)
        }
    }
}

extension TimeSeriesStore {
    /// Tumbling-window aggregates. Whole chunks inside one window (and the range) with no excluded sample are
    /// answered from their catalogued statistics; other chunks are decoded; rollups answer where retention
    /// dropped the raw samples; unsealed samples come from memory. Corrupt chunks are reported and skipped.
    public func windows(_ query: WindowQuery) throws -> WindowResult {
        guard query.widthMicros > 0 else {
            throw StoreError.invalidArgument(name: "window", problem: "the window width must be positive")
        }
        guard query.range.lowerBound < query.range.upperBound else {
            throw StoreError.invalidArgument(name: "range", problem: "the start must be before the end")
        }
        let calendar = WindowCalendar(widthMicros: query.widthMicros, timeZone: query.timeZone)
        var accumulator = WindowAccumulator(calendar: calendar)
        var plan = QueryPlanReport()
        var corrupt: [CorruptChunkReport] = []
        let (chunks, head) = try snapshot(query.series, kind: .samples, range: query.range)
        for chunk in chunks {
            if let stats = chunk.statistics, stats.flagsUnion & query.excludeFlags == 0,
                query.range.contains(stats.minTimestampMicros), query.range.contains(stats.maxTimestampMicros)
            {
                let label = calendar.label(for: stats.minTimestampMicros)
                if label == calendar.label(for: stats.maxTimestampMicros) {
                    accumulator.merge(label: label, stats.aggregate, excluded: 0)
                    plan.chunksFromStatistics += 1
                    continue
                }
            }
            // A chunk inside the range whose every hour lies inside one window, and whose flagged samples are all
            // excluded by the query, is answered from its per-hour statistics.
            if let buckets = chunk.hourBuckets, query.range.contains(chunk.minTimestampMicros),
                query.range.contains(chunk.maxTimestampMicros),
                buckets.allSatisfy({ b in
                    calendar.label(for: b.startMicros) == calendar.label(for: b.startMicros + b.widthMicros - 1)
                        && (b.flaggedCount == 0 || (query.excludeFlags != 0 && b.flagsUnion & ~query.excludeFlags == 0))
                })
            {
                for b in buckets {
                    accumulator.merge(label: calendar.label(for: b.startMicros), b.clean, excluded: b.flaggedCount)
                }
                plan.chunksFromBuckets += 1
                continue
            }
            do {
                let decoded = try ChunkDecoder.decode(try readChunk(chunk)[...])
                accumulator.add(decoded, range: query.range, excludeFlags: query.excludeFlags)
                plan.chunksDecoded += 1
            } catch {
                corrupt.append(report(corrupt: chunk, "\(error)"))
            }
        }
        try addRollups(query, calendar: calendar, into: &accumulator, plan: &plan, corrupt: &corrupt)
        accumulator.add(head, range: query.range, excludeFlags: query.excludeFlags)
        plan.headSamples = head.count
        return WindowResult(windows: accumulator.summaries(), corruptChunks: corrupt, plan: plan)
    }
}
