import Foundation
import GatewayRuntime
import Testing
import TimeSeries

@testable import GatewayHTTP

/// `$stats` reads its medians per window and everything else from the store's windows: both come from the one
/// calendar, so on a fall-back night a sample of the repeated hour lands in the window the store reports.
@Suite struct StatsWindowTests {
    @Test(arguments: [("PT1H", Int64(3_600_000_000)), ("P1D", Int64(86_400_000_000))])
    func medianWindowsAreTheStoresWindows(interval: String, width: Int64) throws {
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        let stats = try StatsOperation(
            APIQuery(
                APIQuery.encode([
                    ("subject", "Patient/p"), ("code", "8867-4"), ("period", "2026-10-24/2026-10-26"),
                    ("statistic", "median"), ("interval", interval),
                ])), grant: APIGrant(subjects: nil, caller: "test"), zone: berlin)
        let store = WindowCalendar(widthMicros: width, timeZone: berlin)
        // Every 10 minutes through the fall-back night of 2026-10-25 (03:00 CEST becomes 02:00 CET at 01:00Z).
        for t in stride(from: Int64(1_792_872_000_000_000), to: 1_792_908_000_000_000, by: 600_000_000) {
            let window = store.window(containing: t)
            #expect(stats.window(t) == (window.start, window.end) as (start: Int64, end: Int64), "\(t)")
        }
        // The repeated hour stays in the window labelled 02:00, which lasts two hours.
        let repeated = stats.window(1_792_888_200_000_000)  // 01:30Z, 02:30 CET
        #expect(repeated.end - repeated.start == (interval == "PT1H" ? 2 : 25) * 3_600_000_000)
    }
}
