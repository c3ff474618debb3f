/// A synthetic 1 Hz heart-rate series as CSV (`ts_ms,bpm,flags`): a jittered clock, a random walk in bpm between 50
/// and 150, about one sample in 500 flagged doubtful — deterministic for a seed, so the store's first commands
/// (`gatewayd store generate`, scripts/tour) need nothing but this repository.
public enum SyntheticHeartRate {
    public static func csv(count: Int, startMillis: Int64, seed: UInt64) -> String {
        var rng = SplitMix64(seed: seed)
        var lines = ["ts_ms,bpm,flags"]
        lines.reserveCapacity(count + 1)
        var t = startMillis
        var bpm: Int64 = 72
        for _ in 0..<count {
            let flags = rng.next() % 500 == 0 ? 1 : 0
            lines.append("\(t),\(bpm),\(flags)")
            t += 1_000 + Int64(rng.next() % 9) - 4
            let step = Int64(rng.next() % 5) - 2
            bpm = min(150, max(50, bpm + (abs(step) == 2 && rng.next() % 2 == 0 ? 0 : step)))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
