/// Exponential backoff with jitter for a destination that is down: the n-th consecutive failure waits
/// initial·2ⁿ⁻¹ capped at `maximum`, of which a random half is jitter ("equal jitter"), so many gateways that lost
/// the same upstream do not all retry in the same second.
public struct Backoff: Sendable {
    public var initialSeconds: Double
    public var maximumSeconds: Double

    public init(initialSeconds: Double, maximumSeconds: Double) {
        (self.initialSeconds, self.maximumSeconds) = (initialSeconds, max(initialSeconds, maximumSeconds))
    }

    /// The wait after `failures` consecutive failures (≥ 1); `unit` is a random number in [0, 1).
    public func delay(failures: Int, unit: Double) -> Double {
        let exponent = Double(min(max(failures, 1) - 1, 60))
        let capped = min(maximumSeconds, initialSeconds * Double.pow2(exponent))
        return capped / 2 + capped / 2 * min(max(unit, 0), 1)
    }
}

extension Double {
    static func pow2(_ exponent: Double) -> Double {
        var result = 1.0
        var remaining = Int(exponent)
        while remaining > 0 && result < 1e18 {
            result *= 2
            remaining -= 1
        }
        return result
    }
}
