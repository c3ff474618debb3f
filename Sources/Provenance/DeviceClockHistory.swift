import Foundation

/// One device's clock comparisons over time, with the offsets derived from them: the latest offset, the drift of the
/// device's crystal (ppm), and a prediction of the offset at any gateway time. A jump of the clock — a reset to 2000
/// after a battery change, the gateway or the user setting it — starts a new *epoch*: drift is estimated within one
/// epoch only, so a reset never turns into an absurd drift figure.
public struct DeviceClockHistory: Hashable, Sendable, Codable {
    public struct Entry: Hashable, Sendable, Codable {
        public var comparison: ClockComparison
        /// Device clock − gateway clock, µs; nil when the device's current date was unknown (a time fault).
        public var offsetMicros: Int64?
        /// Which run of the clock (between jumps) this comparison belongs to; starts at 0.
        public var epoch: Int
    }

    /// The zone the device's wall clock is read in when a comparison carries no UTC offset (as `TimePolicy`).
    public var timeZoneIdentifier: String
    /// Oldest entries are dropped beyond this many.
    public var maxEntries: Int
    /// An offset that moves more than this (or more than `maxPlausibleDriftPPM` × the time since the previous
    /// comparison, whichever is larger) from the prediction is a jump of the clock, not drift.
    public var jumpThresholdMicros: Int64
    public private(set) var entries: [Entry] = []

    /// Comparisons must span at least this long before a drift is estimated (1 h).
    public static let minimumDriftSpanMicros: Int64 = 3_600_000_000
    /// Quartz clocks in such devices drift by tens of ppm; beyond this it is a jump.
    public static let maxPlausibleDriftPPM: Double = 200

    public init(timeZoneIdentifier: String, maxEntries: Int = 256, jumpThresholdMicros: Int64 = 120_000_000) {
        self.timeZoneIdentifier = timeZoneIdentifier
        self.maxEntries = max(2, maxEntries)
        self.jumpThresholdMicros = max(0, jumpThresholdMicros)
    }

    public init(policy: TimePolicy, maxEntries: Int = 256, jumpThresholdMicros: Int64 = 120_000_000) {
        self.init(
            timeZoneIdentifier: policy.timeZoneIdentifier, maxEntries: maxEntries,
            jumpThresholdMicros: jumpThresholdMicros)
    }

    /// Adds a comparison and returns its entry. Comparisons are recorded in gateway-time order; one older than the
    /// latest recorded is not added (nil).
    @discardableResult
    public mutating func record(_ comparison: ClockComparison) -> Entry? {
        if let last = entries.last, comparison.gatewayMicros < last.comparison.gatewayMicros { return nil }
        let offset = TimeDecisionRules.clockOffsetMicros(
            comparison, policy: TimePolicy(timeZoneIdentifier: timeZoneIdentifier))
        var epoch = currentEpoch
        if !entries.isEmpty, let offset {
            if comparison.afterSet {
                epoch += 1  // the gateway just set the clock: a new run begins
            } else if let predicted = predictedOffset(inEpoch: epoch, at: comparison.gatewayMicros),
                let lastTime = entries.last(where: { $0.epoch == epoch && $0.offsetMicros != nil })?.comparison
                    .gatewayMicros
            {
                let elapsed = Double(max(0, comparison.gatewayMicros - lastTime))
                let allowance = max(Double(jumpThresholdMicros), elapsed * Self.maxPlausibleDriftPPM / 1_000_000)
                if abs(Double(offset) - Double(predicted)) > allowance { epoch += 1 }
            }
        }
        let entry = Entry(comparison: comparison, offsetMicros: offset, epoch: epoch)
        entries.append(entry)
        if entries.count > maxEntries { entries.removeFirst(entries.count - maxEntries) }
        return entry
    }

    /// The epoch of the latest comparison (0 when there is none).
    public var currentEpoch: Int { entries.last?.epoch ?? 0 }

    /// The most recent known offset, µs.
    public var latestOffsetMicros: Int64? { entries.last { $0.offsetMicros != nil }?.offsetMicros }

    /// The drift of the current epoch in ppm (positive: the device clock runs fast), or nil when its comparisons span
    /// less than an hour.
    public var driftPPM: Double? { driftPPM(epoch: currentEpoch) }

    /// Least-squares slope of offset against gateway time over an epoch's comparisons, in ppm.
    public func driftPPM(epoch: Int) -> Double? { fit(epoch: epoch)?.slope.map { $0 * 1_000_000 } }

    /// The offset predicted at `gatewayMicros`, µs: from the epoch in effect then (the latest one that had begun;
    /// the first one for earlier times), along its drift when known, else its latest offset.
    public func offset(at gatewayMicros: Int64) -> Int64? {
        let epochs = entries.filter { $0.offsetMicros != nil }
        guard let first = epochs.first else { return nil }
        let epoch = epochs.last { $0.comparison.gatewayMicros <= gatewayMicros }?.epoch ?? first.epoch
        return predictedOffset(inEpoch: epoch, at: gatewayMicros)
    }

    // MARK: Fitting

    func predictedOffset(inEpoch epoch: Int, at gatewayMicros: Int64) -> Int64? {
        guard let fit = fit(epoch: epoch) else { return nil }
        guard let slope = fit.slope else { return fit.latestOffset }
        // Relative to the first point, so Double keeps microsecond precision.
        let (dt, overflow) = gatewayMicros.subtractingReportingOverflow(fit.originTime)
        guard !overflow else { return fit.latestOffset }
        let value = Double(fit.originOffset) + fit.meanOffset + slope * (Double(dt) - fit.meanTime)
        guard value.isFinite, value.magnitude < 9.2e18 else { return fit.latestOffset }
        return Int64(value.rounded())
    }

    struct Fit {
        /// The epoch's first point; the means are relative to it.
        var originTime: Int64
        var originOffset: Int64
        var meanTime: Double
        var meanOffset: Double
        /// µs per µs; nil when the points span less than `minimumDriftSpanMicros`.
        var slope: Double?
        var latestOffset: Int64
    }

    func fit(epoch: Int) -> Fit? {
        let points = entries.compactMap { entry -> (Int64, Int64)? in
            guard entry.epoch == epoch, let offset = entry.offsetMicros else { return nil }
            return (entry.comparison.gatewayMicros, offset)
        }
        guard let (t0, o0) = points.first, let last = points.last else { return nil }
        let xs = points.map { Double($0.0 - t0) }
        let ys = points.map { Double($0.1 - o0) }
        let n = Double(points.count)
        let meanX = xs.reduce(0, +) / n
        let meanY = ys.reduce(0, +) / n
        var slope: Double?
        if points.count >= 2, last.0 - t0 >= Self.minimumDriftSpanMicros {
            var sxx = 0.0
            var sxy = 0.0
            for (x, y) in zip(xs, ys) {
                sxx += (x - meanX) * (x - meanX)
                sxy += (x - meanX) * (y - meanY)
            }
            if sxx > 0 { slope = sxy / sxx }
        }
        return Fit(
            originTime: t0, originOffset: o0, meanTime: meanX, meanOffset: meanY, slope: slope, latestOffset: last.1)
    }
}
