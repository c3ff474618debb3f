import Provenance
import StreamEngine
import TimeSeries

/// A block of days' readings read once for many days' summaries: a page of 90 days' summaries asked the archive for
/// each day and kind in turn (hundreds of read transactions) and looked up the store as often. The block is what the
/// days need and no more — a search stepping through a long range prefetches block by block, so its cost still
/// follows the days it returns, not the history.
public final class PrefetchedReadings: Sendable {
    let range: Range<Int64>
    let byKind: [ReadingKind: [Reading]]
    let store: TimeSeriesStore?

    init(range: Range<Int64>, byKind: [ReadingKind: [Reading]], store: TimeSeriesStore?) {
        (self.range, self.byKind, self.store) = (range, byKind, store)
    }

    /// The kinds' readings in `from..<to`, in the archive's order; nil when the block does not cover that range or kind.
    func readings(kind: ReadingKind, from: Int64, to: Int64) -> [Reading]? {
        guard from >= range.lowerBound, to <= range.upperBound, let all = byKind[kind] else { return nil }
        return all.filter { $0.time.effectiveMicros >= from && $0.time.effectiveMicros < to }
    }
}

extension DailySummaries {
    /// These summaries with `days`' readings of the kinds `kinds` need read at once (and the store looked up once).
    public func prefetching(subject: String, days: ClosedRange<LocalDate>, kinds: Set<Kind>) throws -> DailySummaries {
        var needed: Set<ReadingKind> = []
        if !kinds.isDisjoint(with: [.morningBloodPressure, .eveningBloodPressure]) { needed.insert(.bloodPressure) }
        if kinds.contains(.glucoseByMeal) { needed.insert(.glucose) }
        if kinds.contains(.weightWeeklyChange) { needed.insert(.bodyWeight) }
        // A weekly change looks a week (and a day) back from the day's last weighing.
        let lookBack = kinds.contains(.weightWeeklyChange) ? Self.weekMicros + Self.dayMicros : 0
        let range =
            (Self.utcSpan(of: days.lowerBound).lowerBound - lookBack)..<Self.utcSpan(of: days.upperBound).upperBound
        var byKind: [ReadingKind: [Reading]] = [:]
        for kind in needed {
            byKind[kind] = try archive.readings(
                subject: subject, from: range.lowerBound, to: range.upperBound, kind: kind)
        }
        var copy = self
        copy.prefetched = PrefetchedReadings(range: range, byKind: byKind, store: try archive.sampleStore())
        return copy
    }

    /// A kind's readings in `from..<to`: from the prefetched block when it covers them, else from the archive.
    func readings(subject: String, from: Int64, to: Int64, kind: ReadingKind) throws -> [Reading] {
        if let held = prefetched?.readings(kind: kind, from: from, to: to) { return held }
        return try archive.readings(subject: subject, from: from, to: to, kind: kind)
    }

    /// The sample store, looked up once for a prefetched block.
    func sampleStore() throws -> TimeSeriesStore? {
        if let prefetched { return prefetched.store }
        return try archive.sampleStore()
    }
}
