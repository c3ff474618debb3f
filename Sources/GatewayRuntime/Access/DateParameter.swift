import CivilDate
import Foundation

/// A FHIR `date` search value: a prefix and the instant range the value's precision covers, in UTC microseconds.
/// "2026-11-18" is that local day in the server's zone (`--tz`), "2026-11-18T08:30:00+09:00" that second.
package struct DateParameter: Sendable, Equatable {
    package enum Prefix: String, Sendable { case eq, ge, gt, le, lt }
    package var prefix: Prefix
    /// [start, end) of the value.
    package var start: Int64
    package var end: Int64

    /// Whether an instant matches (FHIR's rules for an instant against a range value).
    package func matches(_ micros: Int64) -> Bool {
        switch prefix {
        case .eq: micros >= start && micros < end
        case .ge: micros >= start
        case .gt: micros >= end
        case .le: micros < end
        case .lt: micros < start
        }
    }

    /// The range every match lies in, for narrowing the archive query.
    package var bounds: (from: Int64, to: Int64) {
        switch prefix {
        case .eq: (start, end)
        case .ge: (start, .max)
        case .gt: (end, .max)
        case .le: (.min, end)
        case .lt: (.min, start)
        }
    }

    package static func parse(_ text: String, parameter: String, zone: TimeZone) throws(APIError) -> DateParameter {
        var body = Substring(text)
        var prefix = Prefix.eq
        if let first = body.first, first.isLetter {
            guard body.count > 2, let parsed = Prefix(rawValue: String(body.prefix(2))) else {
                throw .badParameter(parameter, "'\(text)': supported prefixes are eq, ge, gt, le, lt")
            }
            prefix = parsed
            body = body.dropFirst(2)
        }
        guard let range = DateText.range(String(body), zone: zone) else {
            throw .badParameter(
                parameter, "'\(text)' is not a date (YYYY, YYYY-MM, YYYY-MM-DD) or an RFC 3339 date-time with a zone")
        }
        return DateParameter(prefix: prefix, start: range.start, end: range.end)
    }
}

/// Date and date-time text → UTC microsecond ranges, in integer arithmetic for date-times with an offset.
package enum DateText {
    package static func range(_ text: String, zone: TimeZone) -> (start: Int64, end: Int64)? {
        if text.contains("T") { return dateTime(text) }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), parts[0].count == 4,
            parts.dropFirst().allSatisfy({ $0.count == 2 }),
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && Int($0) != nil })
        else { return nil }
        let numbers = parts.compactMap { Int($0) }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let components = DateComponents(
            year: numbers[0], month: numbers.count > 1 ? numbers[1] : 1, day: numbers.count > 2 ? numbers[2] : 1)
        guard (1...12).contains(components.month ?? 0), (1...31).contains(components.day ?? 0),
            let start = calendar.date(from: components),
            calendar.component(.day, from: start) == components.day,
            let end = calendar.date(
                byAdding: numbers.count == 1 ? .year : (numbers.count == 2 ? .month : .day), value: 1, to: start)
        else { return nil }
        return (micros(start), micros(end))
    }

    package static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    /// "YYYY-MM-DD": the local date of `date` in `zone`.
    package static func localDay(_ date: Date, zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
    }

    /// "YYYY-MM-DDThh:mm[:ss[.fff…]](Z|±hh:mm)"; the range is one unit of the stated precision.
    package static func dateTime(_ text: String) -> (start: Int64, end: Int64)? {
        let chars = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= chars.count else { return nil }
            var value = 0
            for c in chars[from..<(from + count)] {
                guard c >= 48, c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
            }
            return value
        }
        guard chars.count >= 17, let year = number(0, 4), chars[4] == 45, let month = number(5, 2), chars[7] == 45,
            let day = number(8, 2), chars[10] == 84, let hour = number(11, 2), chars[13] == 58,
            let minute = number(14, 2),
            let date = LocalDate(year: year, month: month, day: day), hour < 24, minute < 60
        else { return nil }
        var index = 16
        var second = 0
        var fraction: Int64 = 0
        var unit: Int64 = 60_000_000
        if index < chars.count, chars[index] == 58 {
            guard let s = number(index + 1, 2), s < 60 else { return nil }
            second = s
            unit = 1_000_000
            index += 3
            if index < chars.count, chars[index] == 46 {
                index += 1
                var digits = 0
                var scale: Int64 = 100_000
                while index < chars.count, chars[index] >= 48, chars[index] <= 57 {
                    guard digits < 6 else { return nil }
                    fraction += Int64(chars[index] - 48) * scale
                    unit = scale
                    scale /= 10
                    digits += 1
                    index += 1
                }
                guard digits > 0 else { return nil }
            }
        }
        guard index < chars.count else { return nil }
        var offset = 0
        if chars[index] == 90 || chars[index] == 122 {
            guard index + 1 == chars.count else { return nil }
        } else {
            guard chars[index] == 43 || chars[index] == 45, index + 6 == chars.count, let oh = number(index + 1, 2),
                chars[index + 3] == 58, let om = number(index + 4, 2), oh < 24, om < 60
            else { return nil }
            offset = (oh * 3600 + om * 60) * (chars[index] == 45 ? -1 : 1)
        }
        let days = Int64(date.daysSince1970)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second - offset)
        let start = seconds * 1_000_000 + fraction
        return (start, start + unit)
    }
}
