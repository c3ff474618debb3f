import Foundation

/// A simulated device's wall clock, with the faults real devices have: an offset, a drift, and a reset to
/// 2000-01-01 00:00:00 when the battery was changed.
public struct SimulatedClock: Sendable {
    /// Device time minus true time at `reference`, in seconds.
    public var offset: Double
    /// Parts per million the device clock runs fast (+) or slow (−).
    public var driftPPM: Double
    public var reference: Date
    /// When the battery was changed: from then on the clock counts up from 2000-01-01 00:00:00.
    public var batteryChangedAt: Date?
    /// The zone of the device's wall clock (devices show local time).
    public var timeZone: TimeZone

    public init(
        offset: Double = 0, driftPPM: Double = 0, reference: Date = Date(), batteryChangedAt: Date? = nil,
        timeZone: TimeZone = .current
    ) {
        self.offset = offset
        self.driftPPM = driftPPM
        self.reference = reference
        self.batteryChangedAt = batteryChangedAt
        self.timeZone = timeZone
    }

    /// 2000-01-01 00:00:00 in the device's zone: where a reset clock starts.
    public var resetEpoch: Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar.date(from: DateComponents(year: 2000, month: 1, day: 1))
            ?? Date(timeIntervalSince1970: 946_684_800)
    }

    /// What the device's clock shows at true time `now` (as an instant read in `timeZone`).
    public func deviceDate(at now: Date) -> Date {
        if let reset = batteryChangedAt, now >= reset {
            return resetEpoch.addingTimeInterval(now.timeIntervalSince(reset) * (1 + driftPPM / 1e6))
        }
        let elapsed = now.timeIntervalSince(reference)
        return now.addingTimeInterval(offset + elapsed * driftPPM / 1e6)
    }

    /// The device's Date Time at true time `now`.
    public func dateTime(at now: Date) -> DateTime {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: deviceDate(at: now))
        return DateTime(
            year: parts.year, month: parts.month, day: parts.day, hour: parts.hour ?? 0, minute: parts.minute ?? 0,
            second: parts.second ?? 0)
    }

    /// The device's Current Time at true time `now`.
    public func currentTime(at now: Date) -> CurrentTime {
        var value = SessionPrelude.currentTime(at: deviceDate(at: now), zone: timeZone)
        value.adjustReason = CurrentTime.AdjustReason()
        return value
    }

    /// Sets the clock so it shows `time` at true time `now` (a gateway writing CTS); clears a battery reset.
    public mutating func set(to time: DateTime, at now: Date) {
        guard let shown = SessionPrelude.date(of: time, zone: timeZone) else { return }
        batteryChangedAt = nil
        reference = now
        offset = shown.timeIntervalSince(now)
    }
}
