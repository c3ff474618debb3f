import Foundation

/// ISO 8601 rendering of store timestamps for messages and tables.
public enum TimeFormat {
    public static func iso8601(_ micros: Int64, timeZone: TimeZone = .gmt) -> String {
        let seconds = micros.dividedRoundingDown(by: 1_000_000)
        let fraction = micros - seconds * 1_000_000
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let offset = timeZone.secondsFromGMT(for: date)
        func pad(_ v: Int?, _ width: Int = 2) -> String {
            let s = String(v ?? 0)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var text = "\(pad(c.year, 4))-\(pad(c.month))-\(pad(c.day))T\(pad(c.hour)):\(pad(c.minute)):\(pad(c.second))"
        if fraction != 0 {
            var f = pad(Int(fraction), 6)
            while f.hasSuffix("0") { f.removeLast() }
            text += "." + f
        }
        if offset == 0 { return text + "Z" }
        let sign = offset < 0 ? "-" : "+"
        return text + sign + pad(abs(offset) / 3600) + ":" + pad(abs(offset) % 3600 / 60)
    }

    /// Parses "2024-01-01T00:00:00Z", "2024-01-01T09:00:00+09:00" or a bare date "2024-01-01" (UTC midnight).
    public static func parse(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = formatter.date(from: text) { return Int64((d.timeIntervalSince1970 * 1_000_000).rounded()) }
        formatter.formatOptions = [.withInternetDateTime]
        if let d = formatter.date(from: text) { return Int64(d.timeIntervalSince1970) * 1_000_000 }
        formatter.formatOptions = [.withFullDate]
        if let d = formatter.date(from: text) { return Int64(d.timeIntervalSince1970) * 1_000_000 }
        return nil
    }
}

extension Int64 {
    /// Floor division: -1 / 60 is -1, not 0, so windows before 1970 are bucketed correctly.
    @inline(__always) public func dividedRoundingDown(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
