import Foundation

/// Tumbling windows of a fixed wall-clock width in UTC or in an IANA time zone.
///
/// A window is labelled by the wall time it starts at — a multiple of the width counted from 1970-01-01 00:00
/// local — and begins at the first instant the zone's wall clock reads that label or later. So a "day" in
/// Asia/Tokyo starts at 00:00 JST, a day in Europe/Berlin lasts 23 or 25 hours across DST, a wall time skipped
/// by spring-forward opens no window, and the hour repeated by fall-back stays in the window already open
/// (the label never goes backwards, which keeps windows contiguous and lets whole chunks be answered from their
/// statistics when their first and last samples share a label).
public struct WindowCalendar: Sendable {
    public let widthMicros: Int64
    public let timeZone: TimeZone
    /// Offset segments covering the query range: segment i starts at `starts[i]` (UTC µs) with `offsets[i]`.
    private let starts: [Int64]
    private let offsets: [Int64]

    public init(widthMicros: Int64, timeZone: TimeZone, covering range: Range<Int64>) {
        self.widthMicros = widthMicros
        self.timeZone = timeZone
        var starts: [Int64] = [Int64.min]
        var offsets: [Int64] = []
        let margin: Int64 = 2 * 86_400_000_000 + widthMicros
        let from = range.lowerBound &- margin
        let to = range.upperBound &+ margin
        let fromDate = Date(timeIntervalSince1970: TimeInterval(from / 1_000_000))
        offsets.append(Int64(timeZone.secondsFromGMT(for: fromDate)) * 1_000_000)
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
        self.starts = starts
        self.offsets = offsets
    }

    public static func utc(widthMicros: Int64) -> WindowCalendar {
        WindowCalendar(widthMicros: widthMicros, timeZone: .gmt, covering: 0..<0)
    }

    private func segment(containing t: Int64) -> Int {
        var lo = 0
        var hi = starts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= t { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The highest wall-clock reading seen up to `t` (wall time never goes backwards for windowing).
    private func maxLocal(_ t: Int64, segment i: Int) -> Int64 {
        var local = t &+ offsets[i]
        if i > 0 && offsets[i - 1] > offsets[i] {
            local = max(local, starts[i] - 1 + offsets[i - 1])
        }
        return local
    }

    /// The label (wall-clock start, local µs since 1970) of the window containing UTC instant `t`.
    public func label(for t: Int64) -> Int64 {
        let local = maxLocal(t, segment: segment(containing: t))
        return local.dividedRoundingDown(by: widthMicros) * widthMicros
    }

    /// The UTC instant a window labelled `label` starts: the first instant whose wall clock reads `label` or later.
    public func start(ofLabel label: Int64) -> Int64 {
        for i in 0..<starts.count {
            let segmentEnd = i + 1 < starts.count ? starts[i + 1] : Int64.max
            let candidate = max(starts[i], label &- offsets[i])
            if candidate < segmentEnd && maxLocal(candidate, segment: i) >= label {
                return i > 0 && maxLocal(starts[i], segment: i) >= label ? starts[i] : candidate
            }
        }
        return label &- offsets[offsets.count - 1]
    }

    /// The window containing `t`: its label and its UTC half-open interval.
    public func window(containing t: Int64) -> (label: Int64, start: Int64, end: Int64) {
        let l = label(for: t)
        return (l, start(ofLabel: l), start(ofLabel: l &+ widthMicros))
    }
}
