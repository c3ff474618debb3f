import Foundation

/// Tumbling windows of one width on one zone's wall clock: `LocalClock`'s calendar windows with the width bound,
/// for the store's window queries and rollups (the rule is `LocalClock`'s).
public struct WindowCalendar: Sendable {
    public let widthMicros: Int64
    public let clock: LocalClock

    public init(widthMicros: Int64, clock: LocalClock) {
        self.widthMicros = widthMicros
        self.clock = clock
    }

    public init(widthMicros: Int64, timeZone: TimeZone) {
        self.init(widthMicros: widthMicros, clock: LocalClock(timeZone))
    }

    public var timeZone: TimeZone { clock.timeZone }

    /// The label (wall-clock start, local µs since 1970) of the window containing UTC instant `t`.
    public func label(for t: Int64) -> Int64 { clock.label(for: t, widthMicros: widthMicros) }

    /// The UTC instant a window labelled `label` starts.
    public func start(ofLabel label: Int64) -> Int64 { clock.start(ofLabel: label) }

    /// The window containing `t`: its label and its UTC half-open interval.
    public func window(containing t: Int64) -> (label: Int64, start: Int64, end: Int64) {
        clock.window(containing: t, widthMicros: widthMicros)
    }
}
