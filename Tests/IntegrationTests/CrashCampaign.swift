import Foundation

/// How many kill-and-recover rounds a crash test runs. The rounds are samples of random instants: `swift test` runs a
/// quick campaign (enough to catch a broken recovery at once, so the whole run stays under 40 s on two cores), and
/// `scripts/test` (CI) runs these suites again with `GATEWAYD_CRASH_CAMPAIGN=full`, the full number of rounds.
enum CrashCampaign {
    static let isFull = ProcessInfo.processInfo.environment["GATEWAYD_CRASH_CAMPAIGN"] == "full"

    /// `quick` rounds, or `full` in the full campaign; says which, so a quick run never reads as the full one.
    static func rounds(_ suite: String, quick: Int, full: Int) -> Int {
        let rounds = isFull ? full : quick
        print(
            "\(suite): \(rounds) rounds"
                + (isFull ? " (the full campaign)" : " (quick; GATEWAYD_CRASH_CAMPAIGN=full runs \(full))"))
        return rounds
    }
}
