import Foundation

/// A duration as people write it in the configuration and on the command line: 500ms, 30s, 5m, 2h, 1d, a plain number
/// of seconds, or ISO 8601's PT1H / PT15M / P1D. One parser for both, so a value means the same wherever it is written.
package enum DurationText {
    /// Seconds, or nil when `text` is not a duration (or is negative).
    package static func seconds(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let upper = trimmed.uppercased()
        if upper.hasPrefix("PT") { return number(upper.dropFirst(2), units: [("H", 3600), ("M", 60), ("S", 1)]) }
        // P1D is a day; P1M would be a month, which has no fixed length.
        if upper.hasPrefix("P") { return number(upper.dropFirst(), units: [("D", 86400)]) }
        if let plain = Double(trimmed), plain >= 0 { return plain }
        return number(
            Substring(trimmed.lowercased()), units: [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)])
    }

    private static func number(_ text: Substring, units: [(String, Double)]) -> Double? {
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count)), number >= 0 { return number * factor }
        }
        return nil
    }
}
