import Foundation
import Synchronization

/// The UTC offsets of one IANA zone over time, as segments of constant offset: the one place the gateway asks a
/// `TimeZone` what its clocks read, so the store's windows, the summaries' days and `$stats` cannot disagree.
///
/// The table grows on demand (a year and more around any instant asked about) and is shared by every clock of
/// the zone: a summary reads the clock once per sample, and asking Foundation each time was most of its cost.
/// Instants before 1900 or after 2200 take the offset at the table's nearest edge.
final class ZoneOffsets: Sendable {
    /// Segment i holds from `starts[i]` (UTC µs; the first from −∞) until `starts[i + 1]`, at `offsets[i]` µs.
    struct Table {
        var starts: [Int64]
        var offsets: [Int64]
        /// The instants whose transitions have been looked up.
        var covered: Range<Int64>

        /// Whether every instant of `range` (within `bounds`) has been looked up.
        func covers(_ range: ClosedRange<Int64>) -> Bool {
            let (lower, upper) = ZoneOffsets.clamped(range)
            return covered.contains(lower) && covered.contains(upper)
        }

        func segment(containing t: Int64) -> Int {
            var lo = 0
            var hi = starts.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if starts[mid] <= t { lo = mid } else { hi = mid - 1 }
            }
            return lo
        }
    }

    static let microsPerDay: Int64 = 86_400_000_000
    /// 1900-01-01 and 2200-01-01 (UTC µs): the span transitions are looked up for.
    static let bounds: Range<Int64> = -2_208_988_800_000_000..<7_258_118_400_000_000
    /// How far around an instant a lookup extends the table.
    static let reach: Int64 = 400 * microsPerDay

    let timeZone: TimeZone
    private let table = Mutex<Table?>(nil)

    private init(_ timeZone: TimeZone) { self.timeZone = timeZone }

    private static let shared = Mutex<[String: ZoneOffsets]>([:])

    /// The one table of `timeZone` (by identifier) in this process.
    static func of(_ timeZone: TimeZone) -> ZoneOffsets {
        shared.withLock { tables in
            if let known = tables[timeZone.identifier] { return known }
            let made = ZoneOffsets(timeZone)
            tables[timeZone.identifier] = made
            return made
        }
    }

    /// Runs `body` over a table that covers `range` (clamped to `bounds`), extending it first when needed.
    func withTable<R>(covering range: ClosedRange<Int64>, _ body: (borrowing Table) -> R) -> R {
        let (lower, upper) = Self.clamped(range)
        return table.withLock { table in
            if let known = table, known.covered.contains(lower), known.covered.contains(upper) {
                return body(known)
            }
            var from = lower &- Self.reach
            var to = upper &+ Self.reach
            if let known = table {
                from = min(from, known.covered.lowerBound)
                to = max(to, known.covered.upperBound)
            }
            let built = build(from: max(from, Self.bounds.lowerBound), to: min(to, Self.bounds.upperBound))
            table = built
            return body(built)
        }
    }

    /// The table as it is now, covering at least a year around the present: a clock keeps one and reads it without
    /// the lock (a summary reads the clock once per sample).
    func snapshot() -> Table {
        let now = Int64(Date().timeIntervalSince1970) * 1_000_000
        return withTable(covering: now...now) { copy $0 }
    }

    /// `range` within `bounds` (a table never grows past them).
    static func clamped(_ range: ClosedRange<Int64>) -> (lower: Int64, upper: Int64) {
        (
            min(max(range.lowerBound, bounds.lowerBound), bounds.upperBound - 1),
            min(max(range.upperBound, bounds.lowerBound), bounds.upperBound - 1)
        )
    }

    private func build(from: Int64, to: Int64) -> Table {
        let fromDate = Date(timeIntervalSince1970: TimeInterval(from / 1_000_000))
        var starts: [Int64] = [Int64.min]
        var offsets: [Int64] = [Int64(timeZone.secondsFromGMT(for: fromDate)) * 1_000_000]
        var cursor = fromDate
        if timeZone.identifier != "GMT" && timeZone.identifier != "UTC" {
            while let next = timeZone.nextDaylightSavingTimeTransition(after: cursor),
                Int64(next.timeIntervalSince1970) * 1_000_000 < to
            {
                let micros = Int64(next.timeIntervalSince1970.rounded()) * 1_000_000
                let offset = Int64(timeZone.secondsFromGMT(for: next)) * 1_000_000
                if offset != offsets[offsets.count - 1] {
                    starts.append(micros)
                    offsets.append(offset)
                }
                cursor = next
            }
        }
        return Table(starts: starts, offsets: offsets, covered: from..<to)
    }
}
