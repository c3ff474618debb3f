import Provenance
import TimeSeries

/// One local day's resting heart rate and the evidence for it.
public struct RestingHeartRateDay: Hashable, Sendable {
    public var day: LocalDate
    /// The resting rate (/min), rounded half to even; nil when no window of the day had enough clean samples.
    public var rate: DecimalValue?
    /// The window it was measured in.
    public var window: MeasurementWindow?
    /// Clean samples in that window.
    public var samplesInWindow: Int
    /// Windows of the day with enough clean samples to be candidates.
    public var qualifyingWindows: Int
    /// Clean samples on the day in all windows.
    public var cleanSamples: Int
    public var excluded: ExclusionCount
}

/// Resting heart rate per local day, defined as **the lowest mean heart rate over any window of `windowMicros`
/// (default 5 minutes, aligned to the local clock) that holds at least `minimumSamples` clean samples.**
///
/// Why this definition: a resting rate is measured after a sustained rest (office practice is 5 minutes
/// seated), so it should be a sustained low, not the day's single lowest sample — one spurious 38 /min from a
/// loose strap cannot set it, because it would have to pull down a whole window's mean that still has enough
/// samples. A percentile of the day (e.g. the 10th) was rejected: it depends on how many hours the strap was worn
/// at rest versus in activity. The window length matches the HRV windows, so the two can be read side by side.
/// When the strap is worn overnight the lowest window is usually during sleep — the "resting" rate wearables
/// report; the window is returned so a reader can see when it was.
///
/// The window's mean is exact (sum of integers and a count) and compared exactly across windows (no division);
/// it is rounded half to even at `places` (default 1) only for the result. Equal means: the earlier window wins.
/// A day is the local date the window starts on.
public struct RestingHeartRate: Sendable {
    public let clock: LocalClock
    public let windowMicros: Int64
    public let minimumSamples: Int
    public let excluding: ReadingFlags
    public let places: Int

    /// `windowMicros` must be positive and at most a day; `minimumSamples` at least 1.
    public init(
        clock: LocalClock, windowMicros: Int64 = 300_000_000, minimumSamples: Int = 30,
        excluding: ReadingFlags = .doubtful, places: Int = 1
    ) throws(SummaryError) {
        guard windowMicros > 0, windowMicros <= LocalClock.microsPerDay else {
            throw .invalidWindow("resting heart rate window must be 1 µs…1 day, got \(windowMicros) µs")
        }
        guard minimumSamples >= 1 else { throw .invalidWindow("minimum samples must be at least 1") }
        self.clock = clock
        self.windowMicros = windowMicros
        self.minimumSamples = minimumSamples
        self.excluding = excluding
        self.places = places
    }

    public func days(_ points: [SummaryPoint]) -> [RestingHeartRateDay] {
        var windows: [Int64: (window: MeasurementWindow, mean: ExactMean)] = [:]
        var excluded: [LocalDate: ExclusionCount] = [:]
        for point in points {
            let window = clock.measurementWindow(containing: point.micros, widthMicros: windowMicros)
            let reasons = ExclusionCount.reasons(flags: point.flags, hasValue: point.value != nil, excluding: excluding)
            guard reasons.isEmpty, let value = point.value else {
                excluded[window.day, default: ExclusionCount()].record(reasons)
                continue
            }
            windows[window.startMicros, default: (window, ExactMean())].mean.add(value)
        }
        var byDay: [LocalDate: [(window: MeasurementWindow, mean: ExactMean)]] = [:]
        for entry in windows.values { byDay[entry.window.day, default: []].append(entry) }

        return Set(byDay.keys).union(excluded.keys).sorted().map { day in
            let all = (byDay[day] ?? []).sorted { $0.window.startMicros < $1.window.startMicros }
            let candidates = all.filter { $0.mean.count >= minimumSamples }
            var lowest = candidates.first
            for candidate in candidates.dropFirst() {
                if let current = lowest, candidate.mean.compare(current.mean) == -1 { lowest = candidate }
            }
            return RestingHeartRateDay(
                day: day, rate: lowest?.mean.value(places: places), window: lowest?.window,
                samplesInWindow: lowest?.mean.count ?? 0, qualifyingWindows: candidates.count,
                cleanSamples: all.reduce(0) { $0 + $1.mean.count }, excluded: excluded[day] ?? ExclusionCount())
        }
    }
}
