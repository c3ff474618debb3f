import Foundation
import TimeSeries

/// Why a summary could not be set up. Each case names what was wrong (DESIGN.md rule 8).
public enum SummaryError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownTimeZone(String)
    case invalidTimeOfDay(String)
    case invalidWindow(String)

    public var description: String {
        switch self {
        case .unknownTimeZone(let id): "unknown IANA time zone \"\(id)\""
        case .invalidTimeOfDay(let text): "invalid time of day \"\(text)\" (expected HH:MM, 00:00–23:59)"
        case .invalidWindow(let why): "invalid summary window: \(why)"
        }
    }
}

extension LocalClock {
    /// A zone by IANA identifier ("Europe/Berlin", "Asia/Tokyo"); an unknown identifier is an error, never UTC.
    public init(identifier: String) throws(SummaryError) {
        guard let zone = TimeZone(identifier: identifier) else { throw .unknownTimeZone(identifier) }
        self.init(zone)
    }
}
