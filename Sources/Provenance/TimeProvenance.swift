/// A device's wall-clock reading, without a zone, as BLE Date Time carries it (BLEGateway decodes the characteristic
/// straight into this type: the one wall-clock type). Unknown parts stay nil.
public struct DeviceWallClock: Hashable, Sendable, Codable, CustomStringConvertible {
    public var year: Int?
    public var month: Int?
    public var day: Int?
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int?, month: Int?, day: Int?, hour: Int, minute: Int, second: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    public var isComplete: Bool { year != nil && month != nil && day != nil }

    /// "2026-11-21T08:30:05" (no zone: it is the device's wall clock); unknown parts print as "????"/"??".
    public var description: String {
        func two(_ v: Int?) -> String { v.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "??" }
        let y = year.map { String(repeating: "0", count: max(0, 4 - String($0).count)) + String($0) } ?? "????"
        return "\(y)-\(two(month))-\(two(day))T\(two(hour)):\(two(minute)):\(two(second))"
    }
}

/// One comparison of the device's clock with the gateway's (Current Time Service read).
public struct ClockComparison: Hashable, Sendable, Codable {
    public var deviceTime: DeviceWallClock
    /// The device's own UTC offset when it has Local Time Information, in minutes.
    public var deviceUTCOffsetMinutes: Int?
    /// Gateway UTC time at the middle of the read, microseconds since 1970.
    public var gatewayMicros: Int64
    public var roundTripMicros: Int64
    /// True when the gateway had just set the device clock.
    public var afterSet: Bool

    public init(
        deviceTime: DeviceWallClock, deviceUTCOffsetMinutes: Int?, gatewayMicros: Int64, roundTripMicros: Int64,
        afterSet: Bool
    ) {
        self.deviceTime = deviceTime
        self.deviceUTCOffsetMinutes = deviceUTCOffsetMinutes
        self.gatewayMicros = gatewayMicros
        self.roundTripMicros = roundTripMicros
        self.afterSet = afterSet
    }
}

/// What the gateway did with a reading's timestamp (the PHD IG's decision, recorded — DESIGN.md rule 2).
public enum TimeDecision: Hashable, Sendable, Codable {
    /// The device's timestamp was trusted as it is (clock in sync within the tolerance).
    case kept
    /// The device's timestamp was moved onto the gateway's timeline by `correctionMicros` (the clock offset).
    case mapped(correctionMicros: Int64)
    /// The device had no timestamp; the gateway's receive time is the reading's time.
    case receiveTime
    /// The device's timestamp was not believable (e.g. a clock reset to 2000); the reading's time became the
    /// receive time and the reading is flagged.
    case refused(reason: String)

    public var label: String {
        switch self {
        case .kept: "kept"
        case .mapped: "mapped"
        case .receiveTime: "receive_time"
        case .refused: "refused"
        }
    }
}

/// Everything known about when a reading was measured, and the time the gateway decided on.
public struct TimeProvenance: Hashable, Sendable, Codable {
    /// The device's timestamp as sent (base time + offset applied for glucose), nil when it sent none.
    public var deviceTimestamp: DeviceWallClock?
    /// Glucose: the time offset in minutes the meter added to its base time.
    public var deviceTimeOffsetMinutes: Int?
    /// When the gateway received the reading, UTC µs.
    public var receivedMicros: Int64
    /// The clock comparison used for the decision (the latest from this connection).
    public var clock: ClockComparison?
    /// Device clock minus gateway clock, µs, when known.
    public var clockOffsetMicros: Int64?
    public var decision: TimeDecision
    /// The reading's time, UTC µs: what is stored and what FHIR shows.
    public var effectiveMicros: Int64
    /// The UTC offset of the subject's (or device's) local time at `effectiveMicros`, seconds.
    public var localOffsetSeconds: Int
    /// How the clocks were compared: "cts_read", "cts_set", "none".
    public var syncMethod: String

    public init(
        deviceTimestamp: DeviceWallClock?, deviceTimeOffsetMinutes: Int? = nil, receivedMicros: Int64,
        clock: ClockComparison?,
        clockOffsetMicros: Int64?, decision: TimeDecision, effectiveMicros: Int64, localOffsetSeconds: Int,
        syncMethod: String
    ) {
        self.deviceTimestamp = deviceTimestamp
        self.deviceTimeOffsetMinutes = deviceTimeOffsetMinutes
        self.receivedMicros = receivedMicros
        self.clock = clock
        self.clockOffsetMicros = clockOffsetMicros
        self.decision = decision
        self.effectiveMicros = effectiveMicros
        self.localOffsetSeconds = localOffsetSeconds
        self.syncMethod = syncMethod
    }
}
