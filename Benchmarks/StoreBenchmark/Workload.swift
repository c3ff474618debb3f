import Foundation
import TimeSeries

/// One ingest scenario: the append batches (series given as an index 0..<seriesCount, mapped to real ids per
/// run) and, per series, the 7-day range the window query covers.
struct Workload: Sendable {
    let title: String
    let seriesCount: Int
    let sampleCount: Int
    let batches: [[SeriesSample]]
    let queryRanges: [Range<Int64>]

    static let minute: Int64 = 60_000_000
    static let week: Int64 = 7 * 86_400_000_000

    /// Every sample in one series, appended in time order, `batchSize` per append.
    static func singleSeries(_ samples: [Sample], batchSize: Int) -> Workload {
        let entries = samples.map { SeriesSample(series: 0, sample: $0) }
        let batches = stride(from: 0, to: entries.count, by: batchSize).map {
            Array(entries[$0..<min($0 + batchSize, entries.count)])
        }
        return Workload(
            title: "1 series × \(samples.count) samples", seriesCount: 1, sampleCount: samples.count,
            batches: batches, queryRanges: [queryRange(startingAt: samples)])
    }

    /// A hub: the samples sliced into `seriesCount` contiguous series (timestamps unchanged); every batch holds
    /// `batchSize / seriesCount` consecutive samples of each series, interleaved the way a hub receives them.
    static func hub(_ samples: [Sample], seriesCount: Int, batchSize: Int) -> Workload {
        precondition(batchSize % seriesCount == 0, "the batch size must be a multiple of the series count")
        let perSeries = samples.count / seriesCount
        let perBatch = batchSize / seriesCount
        let slices = (0..<seriesCount).map { samples[($0 * perSeries)..<(($0 + 1) * perSeries)] }
        var batches: [[SeriesSample]] = []
        for first in stride(from: 0, to: perSeries, by: perBatch) {
            var batch: [SeriesSample] = []
            batch.reserveCapacity(batchSize)
            for j in first..<min(first + perBatch, perSeries) {
                for (k, slice) in slices.enumerated() {
                    batch.append(SeriesSample(series: SeriesID(k), sample: slice[slice.startIndex + j]))
                }
            }
            batches.append(batch)
        }
        return Workload(
            title: "\(seriesCount) interleaved series × \(perSeries) samples", seriesCount: seriesCount,
            sampleCount: perSeries * seriesCount, batches: batches,
            queryRanges: slices.map { queryRange(startingAt: Array($0)) })
    }

    /// 7 days from the series' first sample, rounded down to a whole UTC minute so the store's UTC-aligned
    /// windows and the baseline's `(ts - start) / 60 s` buckets are the same windows.
    static func queryRange(startingAt samples: [Sample]) -> Range<Int64> {
        let first = samples.map(\.timestampMicros).min() ?? 0
        let start = first - ((first % minute) + minute) % minute
        return start..<(start + week)
    }
}

/// What both engines must agree on for the window query: a cheap fingerprint of all windows of all series.
struct WindowCheck: Equatable, CustomStringConvertible {
    var windows = 0
    var count = 0
    var sumOfMins = 0.0
    var sumOfMaxes = 0.0
    var sumOfMeans = 0.0

    mutating func add(count: Int, min: Double, max: Double, mean: Double) {
        windows += 1
        self.count += count
        sumOfMins += min
        sumOfMaxes += max
        sumOfMeans += mean
    }

    /// Means are averaged in floating point by SQLite and exactly by the store, so they match to a tolerance.
    static func == (a: WindowCheck, b: WindowCheck) -> Bool {
        a.windows == b.windows && a.count == b.count && a.sumOfMins == b.sumOfMins && a.sumOfMaxes == b.sumOfMaxes
            && abs(a.sumOfMeans - b.sumOfMeans) <= 1e-6 * max(1, abs(a.sumOfMeans))
    }

    var description: String {
        "\(windows) windows, \(count) samples, Σmin \(sumOfMins), Σmax \(sumOfMaxes), Σmean "
            + String(format: "%.4f", sumOfMeans)
    }
}

/// The median single-query time of `repeats` timed passes over queries 0..<queries (call after a warm-up pass).
func medianQueryMillis(repeats: Int, queries: Int, _ query: (Int) throws -> Void) rethrows -> Double {
    var millis: [Double] = []
    for _ in 0..<repeats {
        for i in 0..<queries {
            let start = ContinuousClock.now
            try query(i)
            millis.append(elapsedSeconds(since: start) * 1_000)
        }
    }
    return median(millis)
}

func elapsedSeconds(since start: ContinuousClock.Instant) -> Double { start.duration(to: .now) / .seconds(1) }

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// The process's `write_bytes` from /proc/self/io: bytes this process (all threads) caused to be sent to the
/// block layer, counted when pages are dirtied. Nil where the kernel does not offer it.
func processWriteBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("write_bytes:") {
        return Int(line.dropFirst("write_bytes:".count).trimmingCharacters(in: .whitespaces))
    }
    return nil
}

/// Sizes of the top-level entries of a directory (sub-directories summed), for the on-disk breakdown.
func entrySizes(_ directory: String) -> [String: Int] {
    let fm = FileManager.default
    var sizes: [String: Int] = [:]
    for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] {
        let path = directory + "/" + name
        var isDirectory: ObjCBool = false
        _ = fm.fileExists(atPath: path, isDirectory: &isDirectory)
        let files =
            isDirectory.boolValue ? ((try? fm.contentsOfDirectory(atPath: path)) ?? []).map { path + "/" + $0 } : [path]
        sizes[name] = files.reduce(0) { $0 + (((try? fm.attributesOfItem(atPath: $1))?[.size] as? Int) ?? 0) }
    }
    return sizes
}
