import Foundation
import TestSupport
import Testing

@testable import TimeSeries

/// Window results must equal a naive computation over the raw samples: every sample's wall-clock label is
/// computed independently with Foundation's Calendar, never decreasing (the documented fall-back rule).
@Suite struct WindowTests {
    static func naive(_ samples: [Sample], width: Int64, zone: TimeZone, exclude: UInt16) -> [Int64: (Aggregate, Int)] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        var result: [Int64: (Aggregate, Int)] = [:]
        var highest = Int64.min
        for s in samples.sorted(by: { $0.timestampMicros < $1.timestampMicros }) {
            let date = Date(timeIntervalSince1970: TimeInterval(s.timestampMicros / 1_000_000))
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let wall = Int64(utc.date(from: c)!.timeIntervalSince1970) * 1_000_000 + s.timestampMicros % 1_000_000
            highest = max(highest, wall)
            let label = (highest / width) * width
            var cell = result[label] ?? (Aggregate(), 0)
            if s.flags & exclude != 0 { cell.1 += 1 } else { cell.0.add(s) }
            result[label] = cell
        }
        return result
    }

    static let cases: [(String, Int64)] = [
        ("UTC", 60_000_000), ("UTC", 3_600_000_000), ("Asia/Tokyo", 86_400_000_000), ("Asia/Tokyo", 900_000_000),
        ("Europe/Berlin", 3_600_000_000), ("Europe/Berlin", 86_400_000_000), ("Europe/Berlin", 900_000_000),
        ("America/St_Johns", 86_400_000_000),
    ]

    @Test(arguments: [
        Int64(1_774_569_600_000_000),  // 2026-03-27: Berlin springs forward on the 29th
        Int64(1_792_540_800_000_000),  // 2026-10-20: Berlin falls back on the 25th
    ])
    func windowsMatchNaiveComputation(start: Int64) async throws {
        let dir = TemporaryDirectory()
        let store = try TimeSeriesStore(directory: dir.path, configuration: StoreConfiguration(chunkMaxSamples: 400))
        defer { store.close() }
        let id = try store.series(SeriesKey(subject: "s", device: "d", metric: "m"))
        var samples = StoreTests.samples(from: start, count: 9000, stepMicros: 61_000_000, seed: 11)
        // late
        samples += StoreTests.samples(from: start + 3_600_000_000, count: 50, stepMicros: 3_000_000_000, seed: 12)
        for batch in stride(from: 0, to: samples.count, by: 250) {
            try await store.append(Array(samples[batch..<min(batch + 250, samples.count)]), to: id)
        }
        let range = (start + 1_800_000_000)..<(start + 6 * 86_400_000_000)
        let inRange = samples.filter { range.contains($0.timestampMicros) }
        for (zoneName, width) in Self.cases {
            let zone = try #require(TimeZone(identifier: zoneName))
            for exclude: UInt16 in [0, 0x2] {
                let result = try store.windows(
                    WindowQuery(series: id, range: range, widthMicros: width, timeZone: zone, excludeFlags: exclude))
                let expected = Self.naive(inRange, width: width, zone: zone, exclude: exclude)
                #expect(result.windows.map(\.labelMicros) == expected.keys.sorted(), "\(zoneName) \(width)")
                for w in result.windows {
                    #expect(w.aggregate == expected[w.labelMicros]?.0, "\(zoneName) \(width) \(w.labelMicros)")
                    #expect(w.excludedCount == expected[w.labelMicros]?.1)
                }
                // Windows are contiguous and ordered in UTC.
                for (a, b) in zip(result.windows, result.windows.dropFirst()) { #expect(a.endMicros <= b.startMicros) }
                if width == 86_400_000_000 && exclude == 0 {
                    #expect(result.plan.chunksFromStatistics > 0, "whole chunks should come from statistics")
                }
                // Chunks spanning several hourly or daily windows come from their per-hour statistics when every
                // flagged sample is excluded (zones a whole number of hours from UTC).
                if width >= 3_600_000_000 && exclude != 0 && zoneName != "America/St_Johns" {
                    #expect(
                        result.plan.chunksFromBuckets > 0,
                        "\(zoneName) \(width): chunks should come from per-hour statistics")
                }
            }
        }
    }

    @Test func tokyoDayStartsAtMidnightJST() {
        let tokyo = TimeZone(identifier: "Asia/Tokyo")!
        let calendar = WindowCalendar(widthMicros: 86_400_000_000, timeZone: tokyo)
        // 2026-01-01T15:00:00Z is 2026-01-02T00:00 JST.
        let t: Int64 = 1_767_279_600_000_000
        #expect(calendar.window(containing: t).start == t)
        #expect(calendar.window(containing: t - 1).end == t)
    }

    @Test func berlinDaysAcrossDSTLast23And25Hours() {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        let calendar = WindowCalendar(widthMicros: 86_400_000_000, timeZone: berlin)
        let spring = calendar.window(containing: 1_774_760_400_000_000)  // 2026-03-29T05:00Z
        #expect(spring.end - spring.start == 23 * 3_600_000_000)
        let autumn = calendar.window(containing: 1_792_904_400_000_000)  // 2026-10-25T05:00Z
        #expect(autumn.end - autumn.start == 25 * 3_600_000_000)
    }
}
