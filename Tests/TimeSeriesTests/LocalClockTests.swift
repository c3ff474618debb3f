import Foundation
import TestSupport
import Testing

@testable import TimeSeries

/// The one calendar (`LocalClock`): its offsets agree with Foundation's, its windows partition time with one label
/// each, and days are day windows.
@Suite struct LocalClockTests {
    static let hour: Int64 = 3_600_000_000
    static let day: Int64 = 86_400_000_000
    static let zones = [
        "Europe/Berlin", "Asia/Tokyo", "America/St_Johns", "America/Santiago", "Australia/Lord_Howe", "UTC",
    ]

    @Test(arguments: zones)
    func offsetsAgreeWithFoundationFrom1950To2100(zoneName: String) throws {
        let zone = try #require(TimeZone(identifier: zoneName))
        let clock = LocalClock(zone)
        var random = TestRandom(seed: 7)
        // Out of order on purpose: the table grows backwards and forwards from the first instant asked about.
        for _ in 0..<400 {
            let seconds = Int64(random.next() % 4_733_510_400) - 631_152_000  // 1950…2100
            let expected = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds))))
            #expect(clock.offsetMicros(at: seconds * 1_000_000) == expected * 1_000_000, "\(zoneName) \(seconds)")
        }
    }

    @Test(arguments: zones)
    func windowsPartitionTimeWithOneLabelEach(zoneName: String) throws {
        let clock = LocalClock(try #require(TimeZone(identifier: zoneName)))
        // 2026-03-20 … 2026-11-10 holds both transitions of the northern and southern zones.
        for width: Int64 in [15 * 60_000_000, Self.hour, Self.day] {
            var t = clock.window(containing: 1_773_964_800_000_000, widthMicros: width).start
            var labels: [Int64] = []
            while t < 1_794_268_800_000_000 {
                let window = clock.window(containing: t, widthMicros: width)
                #expect(window.start == t, "\(zoneName) \(width): windows are contiguous")
                #expect(window.end > window.start)
                #expect(clock.window(containing: window.end - 1, widthMicros: width).label == window.label)
                #expect(labels.last.map { $0 < window.label } ?? true, "\(zoneName) \(width): labels only grow")
                labels.append(window.label)
                t = window.end
            }
        }
    }

    @Test func berlinFallBackKeepsTheRepeatedHourInTheOpenWindow() throws {
        let clock = LocalClock(try #require(TimeZone(identifier: "Europe/Berlin")))
        // 2026-10-25: 03:00 CEST (01:00Z) becomes 02:00 CET.
        let twoCEST: Int64 = 1_792_886_400_000_000  // 00:00Z
        let window = clock.window(containing: twoCEST + 90 * 60_000_000, widthMicros: Self.hour)  // 02:30 CET
        #expect(window.start == twoCEST)
        #expect(window.end - window.start == 2 * Self.hour)
        #expect(clock.date(at: twoCEST + Self.hour).description == "2026-10-25")
        #expect(
            clock.start(of: try #require(LocalDate("2026-10-26")))
                - clock.start(of: try #require(LocalDate("2026-10-25"))) == 25 * Self.hour)
        // A measurement window is physical time: two distinct 5-minute windows labelled 02:00.
        let first = clock.measurementWindow(containing: twoCEST + 60_000_000, widthMicros: 300_000_000)
        let second = clock.measurementWindow(containing: twoCEST + Self.hour + 60_000_000, widthMicros: 300_000_000)
        #expect(first.localStartMicros == second.localStartMicros && first.startMicros != second.startMicros)
    }

    @Test func berlinSpringForwardOpensNoWindowForTheSkippedHour() throws {
        let clock = LocalClock(try #require(TimeZone(identifier: "Europe/Berlin")))
        // 2026-03-29: 02:00 CET (01:00Z) becomes 03:00 CEST.
        let transition: Int64 = 1_774_746_000_000_000
        let before = clock.window(containing: transition - 1, widthMicros: Self.hour)
        let after = clock.window(containing: transition, widthMicros: Self.hour)
        #expect(before.end == transition && after.start == transition)
        #expect(after.label - before.label == 2 * Self.hour)
        #expect(clock.start(ofLabel: before.label + Self.hour) == transition)
    }

    @Test(arguments: zones)
    func daysAreDayWindows(zoneName: String) throws {
        let clock = LocalClock(try #require(TimeZone(identifier: zoneName)))
        var t: Int64 = 1_773_964_800_000_000
        while t < 1_794_268_800_000_000 {
            let date = clock.date(at: t)
            let window = clock.window(containing: t, widthMicros: Self.day)
            #expect(Int64(date.daysSince1970) * Self.day == window.label)
            #expect(clock.start(of: date) == window.start && clock.start(of: date.adding(days: 1)) == window.end)
            t += 37 * 60_000_000
        }
    }

    @Test func clocksOfOneZoneShareOneTable() {
        let a = LocalClock(TimeZone(identifier: "Asia/Tokyo") ?? .gmt)
        let b = LocalClock(TimeZone(identifier: "Asia/Tokyo") ?? .gmt)
        #expect(a.offsets === b.offsets)
    }
}
