import Foundation
import Testing

@testable import Provenance

/// 2026-11-18T11:06:40Z, the gateway's receive time in these tests.
private let received: Int64 = 1_795_000_000_000_000
private let second: Int64 = 1_000_000
private let minute: Int64 = 60 * second
private let hour: Int64 = 60 * minute
private let day: Int64 = 24 * hour

private let utc = TimePolicy(timeZoneIdentifier: "UTC")

/// The wall clock a device in a zone `zoneOffset` east of UTC shows at UTC instant `micros`.
private func wall(_ micros: Int64, zoneOffset: Int64 = 0) -> DeviceWallClock {
    TimeDecisionRules.wallClock(micros: micros + zoneOffset)
}

/// A CTS read at gateway time `gateway` of a device whose clock is `offset` ahead (negative: behind).
private func comparison(
    at gateway: Int64, offset: Int64, zoneOffset: Int64 = 0, utcOffsetMinutes: Int? = nil, afterSet: Bool = false
)
    -> ClockComparison
{
    ClockComparison(
        deviceTime: wall(gateway + offset, zoneOffset: zoneOffset), deviceUTCOffsetMinutes: utcOffsetMinutes,
        gatewayMicros: gateway,
        roundTripMicros: 40_000, afterSet: afterSet)
}

private func decide(
    _ stamp: DeviceWallClock?, clock: ClockComparison?, policy: TimePolicy = utc, offsetMinutes: Int? = nil
)
    -> TimeProvenance
{
    TimeDecisionRules.decide(
        deviceTimestamp: stamp, deviceTimeOffsetMinutes: offsetMinutes, receivedMicros: received, clock: clock,
        policy: policy)
}

private func reason(_ time: TimeProvenance) -> String? {
    if case .refused(let reason) = time.decision { reason } else { nil }
}

@Suite struct TimeDecisionTests {
    // MARK: Row 1: no timestamp

    @Test func aDeviceWithoutTimestampsGetsTheReceiveTime() {
        let time = decide(nil, clock: nil)
        #expect(time.decision == .receiveTime)
        #expect(time.effectiveMicros == received)
        #expect(time.deviceTimestamp == nil)
        #expect(time.syncMethod == "none")
        #expect(time.localOffsetSeconds == 0)

        let tokyo = decide(
            nil, clock: comparison(at: received - 30 * second, offset: 0),
            policy: TimePolicy(timeZoneIdentifier: "Asia/Tokyo"))
        #expect(tokyo.decision == .receiveTime)
        #expect(tokyo.effectiveMicros == received)
        #expect(tokyo.localOffsetSeconds == 32_400)
    }

    // MARK: Rows 2–3: incomplete or impossible stamps

    @Test func incompleteDatesAreRefused() {
        for stamp in [
            DeviceWallClock(year: nil, month: 11, day: 18, hour: 10, minute: 0, second: 0),
            DeviceWallClock(year: 2026, month: nil, day: 18, hour: 10, minute: 0, second: 0),
            DeviceWallClock(year: 2026, month: 11, day: nil, hour: 10, minute: 0, second: 0),
        ] {
            let time = decide(stamp, clock: comparison(at: received, offset: 0))
            #expect(reason(time)?.hasPrefix("incomplete_timestamp") == true)
            #expect(time.effectiveMicros == received)
            #expect(time.deviceTimestamp == stamp)
        }
    }

    @Test func impossibleDatesAreRefused() {
        for stamp in [
            DeviceWallClock(year: 2026, month: 2, day: 29, hour: 10, minute: 0, second: 0),  // not a leap year
            DeviceWallClock(year: 2026, month: 13, day: 1, hour: 10, minute: 0, second: 0),
            DeviceWallClock(year: 2026, month: 4, day: 31, hour: 10, minute: 0, second: 0),
            DeviceWallClock(year: 2026, month: 11, day: 18, hour: 24, minute: 0, second: 0),
            DeviceWallClock(year: 2026, month: 11, day: 18, hour: 10, minute: 60, second: 0),
        ] {
            let time = decide(stamp, clock: nil)
            #expect(reason(time)?.hasPrefix("invalid_timestamp") == true, "\(stamp)")
            #expect(time.effectiveMicros == received)
        }
        #expect(
            TimeDecisionRules.wallMicros(DeviceWallClock(year: 2028, month: 2, day: 29, hour: 0, minute: 0, second: 0))
                != nil)
    }

    // MARK: Rows 4–5: no usable clock comparison

    @Test func withoutAComparisonABelievableStampIsKeptUncorrected() {
        let taken = received - 2 * hour
        let time = decide(wall(taken), clock: nil)
        #expect(time.decision == .kept)
        #expect(time.effectiveMicros == taken)
        #expect(time.syncMethod == "none")
        #expect(time.clockOffsetMicros == nil)
    }

    @Test func withoutAComparisonAnUnbelievableStampIsRefused() {
        let reset = decide(DeviceWallClock(year: 2000, month: 1, day: 2, hour: 8, minute: 0, second: 0), clock: nil)
        #expect(reason(reset)?.hasPrefix("before_earliest") == true)
        #expect(reset.effectiveMicros == received)

        let future = decide(wall(received + hour), clock: nil)
        #expect(reason(future)?.hasPrefix("in_future") == true)
        #expect(future.effectiveMicros == received)

        let nearFuture = decide(wall(received + 4 * minute), clock: nil)  // within the 5 min allowed
        #expect(nearFuture.decision == .kept)
    }

    @Test func aClockWhoseDateIsUnknownIsATimeFault() {
        var faulty = comparison(at: received - 30 * second, offset: 0)
        faulty.deviceTime.year = nil
        let taken = received - hour
        let time = decide(wall(taken), clock: faulty)
        #expect(time.decision == .kept)
        #expect(time.effectiveMicros == taken)
        #expect(time.clock == faulty)  // the evidence is kept …
        #expect(time.clockOffsetMicros == nil)  // … but no offset could be derived from it
        #expect(time.syncMethod == "none")
    }

    // MARK: Rows 6–8: the current timeline

    @Test func aDevice25SecondsOffKeepsItsTimestamp() {
        let clock = comparison(at: received - 20 * second, offset: 25 * second)
        let taken = received - 3 * hour
        let time = decide(wall(taken + 25 * second), clock: clock)
        #expect(time.decision == .kept)
        #expect(time.effectiveMicros == taken + 25 * second)
        #expect(time.clockOffsetMicros == 25 * second)
        #expect(time.syncMethod == "cts_read")
        #expect(time.clock == clock)
    }

    @Test func aDevice10MinutesFastIsMappedWithTheRightCorrection() {
        let clock = comparison(at: received - 20 * second, offset: 10 * minute)
        let taken = received - 26 * hour
        let time = decide(wall(taken + 10 * minute), clock: clock)
        #expect(time.decision == .mapped(correctionMicros: -10 * minute))
        #expect(time.effectiveMicros == taken)
        #expect(time.clockOffsetMicros == 10 * minute)

        // A live reading made just after the comparison is on the same timeline.
        let live = decide(wall(received - 2 * second + 10 * minute), clock: clock)
        #expect(live.decision == .mapped(correctionMicros: -10 * minute))
        #expect(live.effectiveMicros == received - 2 * second)
    }

    @Test func aSlowDeviceIsMappedForward() {
        let clock = comparison(at: received - 20 * second, offset: -7 * minute)
        let taken = received - 5 * day
        let time = decide(wall(taken - 7 * minute), clock: clock)
        #expect(time.decision == .mapped(correctionMicros: 7 * minute))
        #expect(time.effectiveMicros == taken)
    }

    @Test func aComparisonReadAfterTheGatewaySetTheClockIsCtsSet() {
        let clock = comparison(at: received - 10 * second, offset: 0, afterSet: true)
        let time = decide(wall(received - 1 * second), clock: clock)
        #expect(time.decision == .kept)
        #expect(time.syncMethod == "cts_set")
    }

    @Test func aMappedTimeThatIsStillNotBelievableIsRefused() {
        // The clock is a year slow; a stamp from 2013 maps to 2014, still before the earliest believable date.
        let clock = comparison(at: received - 20 * second, offset: -365 * day)
        let time = decide(DeviceWallClock(year: 2013, month: 1, day: 1, hour: 9, minute: 0, second: 0), clock: clock)
        #expect(reason(time)?.hasPrefix("before_earliest") == true)
        #expect(time.effectiveMicros == received)
        #expect(time.clockOffsetMicros == -365 * day)

        // A 2000 stamp from a clock that is right now was made before the clock was set: it cannot be mapped.
        let stale = decide(
            DeviceWallClock(year: 2000, month: 1, day: 3, hour: 7, minute: 0, second: 0),
            clock: comparison(at: received, offset: 3 * second))
        #expect(reason(stale)?.hasPrefix("before_earliest") == true)
        #expect(stale.effectiveMicros == received)
    }

    // MARK: Rows 9–10: an earlier timeline

    @Test func aStampLaterThanTheDeviceClockCanHaveReachedIsFromAnEarlierTimeline() {
        let clock = comparison(at: received - 20 * second, offset: 0)
        let future = decide(wall(received + hour), clock: clock)
        #expect(reason(future)?.hasPrefix("earlier_timeline") == true)
        #expect(reason(future)?.contains("in_future") == true)
        #expect(future.effectiveMicros == received)
    }

    // MARK: A clock reset to 2000-01-01 by a battery change

    /// The battery was changed three days before the gateway connects; the clock restarted at 2000-01-01T00:00:00.
    private static let batteryChanged: Int64 = received - 3 * day - 4 * hour
    private static let resetEpoch: Int64 =
        TimeDecisionRules.wallMicros(
            DeviceWallClock(year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 0)) ?? 0
    /// The reset clock's offset: it shows 2000-01-01 at the battery change.
    private static let resetOffset: Int64 = resetEpoch - batteryChanged
    /// CTS read 30 s before the records arrive.
    private static let readAt: Int64 = received - 30 * second

    @Test func readingsTakenAfterAResetAreMappedToTheirRealTimesNeverTo2000() {
        let clock = comparison(at: Self.readAt, offset: Self.resetOffset)
        #expect(clock.deviceTime.year == 2000)
        #expect(clock.deviceTime.day == 4)
        for hoursAfterChange: Int64 in [1, 26, 49, 75] {
            let taken = Self.batteryChanged + hoursAfterChange * hour
            let stamp = wall(taken + Self.resetOffset)
            #expect(stamp.year == 2000 && stamp.month == 1)
            let time = decide(stamp, clock: clock)
            #expect(time.decision == .mapped(correctionMicros: -Self.resetOffset))
            #expect(time.effectiveMicros == taken)
            #expect(time.effectiveMicros >= utc.earliestBelievableMicros)
            #expect(time.deviceTimestamp == stamp)  // the raw evidence stays as sent
            #expect(time.syncMethod == "cts_read")
        }
    }

    @Test func aReadingStoredBeforeTheBatteryChangeKeepsItsOldClocksStamp() {
        let clock = comparison(at: Self.readAt, offset: Self.resetOffset)
        let taken = Self.batteryChanged - 2 * day  // the old clock was right
        let time = decide(wall(taken), clock: clock)
        #expect(time.decision == .kept)
        #expect(time.effectiveMicros == taken)
        #expect(time.clockOffsetMicros == Self.resetOffset)

        // The IG's strict reading: a stamp from an earlier, unsynchronized timeline is refused.
        var strict = utc
        strict.keepBelievableEarlierTimelineStamps = false
        let refused = decide(wall(taken), clock: clock, policy: strict)
        #expect(reason(refused)?.hasPrefix("earlier_timeline") == true)
        #expect(refused.effectiveMicros == received)
    }

    @Test func withOnlyTheComparisonAfterTheGatewaySetTheClockA2000StampIsRefusedNotKept() {
        let afterSet = comparison(at: Self.readAt, offset: 0, afterSet: true)
        let stamp = wall(Self.batteryChanged + 26 * hour + Self.resetOffset)
        let time = decide(stamp, clock: afterSet)
        #expect(reason(time)?.hasPrefix("earlier_timeline") == true)
        #expect(reason(time)?.contains("before_earliest") == true)
        #expect(time.effectiveMicros == received)
    }

    @Test func withEveryComparisonOfTheConnectionStoredRecordsUseTheReadBeforeTheSet() {
        let before = comparison(at: received - 40 * second, offset: Self.resetOffset)
        let after = comparison(at: received - 35 * second, offset: 0, afterSet: true)
        let comparisons = [after, before]  // any order

        func decideAll(_ stamp: DeviceWallClock) -> TimeProvenance {
            TimeDecisionRules.decide(
                deviceTimestamp: stamp, deviceTimeOffsetMinutes: nil, receivedMicros: received,
                comparisons: comparisons, policy: utc)
        }
        // A record made after the battery change, before the set: mapped with the read before the set.
        let taken = Self.batteryChanged + 30 * hour
        let stored = decideAll(wall(taken + Self.resetOffset))
        #expect(stored.decision == .mapped(correctionMicros: -Self.resetOffset))
        #expect(stored.effectiveMicros == taken)
        #expect(stored.clock == before)
        #expect(stored.syncMethod == "cts_read")

        // A live reading after the set: on the set clock's timeline.
        let live = decideAll(wall(received - 5 * second))
        #expect(live.decision == .kept)
        #expect(live.clock == after)
        #expect(live.syncMethod == "cts_set")

        // A record from before the battery change: the old clock's stamp.
        let old = decideAll(wall(Self.batteryChanged - day))
        #expect(old.decision == .kept)
        #expect(old.effectiveMicros == Self.batteryChanged - day)

        // A device 10 min fast that the gateway set back: a record stamped 30 s before the connection maps correctly.
        let fast = [
            comparison(at: received - 40 * second, offset: 10 * minute),
            comparison(at: received - 35 * second, offset: 0, afterSet: true),
        ]
        let recent = TimeDecisionRules.decide(
            deviceTimestamp: wall(received - 60 * second + 10 * minute), deviceTimeOffsetMinutes: nil,
            receivedMicros: received,
            comparisons: fast, policy: utc)
        #expect(recent.decision == .mapped(correctionMicros: -10 * minute))
        #expect(recent.effectiveMicros == received - 60 * second)

        // A later read that failed to give a date does not hide the usable one.
        var faulty = comparison(at: received - 20 * second, offset: 0)
        faulty.deviceTime.year = nil
        let skipped = TimeDecisionRules.decide(
            deviceTimestamp: wall(taken + Self.resetOffset), deviceTimeOffsetMinutes: nil, receivedMicros: received,
            comparisons: [before, faulty], policy: utc)
        #expect(skipped.decision == .mapped(correctionMicros: -Self.resetOffset))
        #expect(skipped.clock == before)

        // No comparisons at all: as without a clock.
        let none = TimeDecisionRules.decide(
            deviceTimestamp: wall(received - hour), deviceTimeOffsetMinutes: nil, receivedMicros: received,
            comparisons: [], policy: utc)
        #expect(none.decision == .kept)
        #expect(none.syncMethod == "none")
    }

    // MARK: Zones

    @Test func aDeviceInTokyoWithoutLocalTimeInformationIsReadInAsiaTokyo() {
        let tokyo = TimePolicy(timeZoneIdentifier: "Asia/Tokyo")
        let jst: Int64 = 9 * hour
        let clock = comparison(at: received - 20 * second, offset: 0, zoneOffset: jst)
        let taken = received - 2 * hour
        let stamp = wall(taken, zoneOffset: jst)
        #expect(stamp.hour == 18)  // 2026-11-18T18:06:40 local
        let time = decide(stamp, clock: clock, policy: tokyo)
        #expect(time.decision == .kept)
        #expect(time.effectiveMicros == taken)
        #expect(time.clockOffsetMicros == 0)
        #expect(time.localOffsetSeconds == 32_400)

        // Read in UTC instead, the same device looks nine hours fast — and is mapped, to the same instant.
        let inUTC = decide(stamp, clock: clock, policy: utc)
        #expect(inUTC.decision == .mapped(correctionMicros: -jst))
        #expect(inUTC.effectiveMicros == taken)
        #expect(inUTC.localOffsetSeconds == 0)
    }

    @Test func aDeviceThatReportsItsUTCOffsetIsReadWithIt() {
        let jst: Int64 = 9 * hour
        let clock = comparison(at: received - 20 * second, offset: 0, zoneOffset: jst, utcOffsetMinutes: 540)
        let taken = received - hour
        let time = decide(
            wall(taken, zoneOffset: jst), clock: clock, policy: TimePolicy(timeZoneIdentifier: "Europe/Berlin"))
        #expect(time.decision == .kept)
        #expect(time.effectiveMicros == taken)
        #expect(time.localOffsetSeconds == 3600)  // the policy's zone (CET in November)
    }

    @Test func localTimesAcrossDaylightSavingTime() {
        let berlin = TimePolicy(timeZoneIdentifier: "Europe/Berlin")
        let summer = DeviceWallClock(year: 2026, month: 7, day: 1, hour: 12, minute: 0, second: 0)
        let summerUTC = TimeDecisionRules.utcMicros(of: summer, utcOffsetMinutes: nil, policy: berlin)
        #expect(
            summerUTC
                == TimeDecisionRules.wallMicros(
                    DeviceWallClock(year: 2026, month: 7, day: 1, hour: 10, minute: 0, second: 0)))
        let winter = DeviceWallClock(year: 2026, month: 12, day: 1, hour: 12, minute: 0, second: 0)
        let winterUTC = TimeDecisionRules.utcMicros(of: winter, utcOffsetMinutes: nil, policy: berlin)
        #expect(
            winterUTC
                == TimeDecisionRules.wallMicros(
                    DeviceWallClock(year: 2026, month: 12, day: 1, hour: 11, minute: 0, second: 0)))
        // 02:30 on 2026-10-25 happens twice (CEST, then CET): either instant is acceptable.
        let twice = DeviceWallClock(year: 2026, month: 10, day: 25, hour: 2, minute: 30, second: 0)
        let twiceUTC = TimeDecisionRules.utcMicros(of: twice, utcOffsetMinutes: nil, policy: berlin)
        let cest = TimeDecisionRules.wallMicros(
            DeviceWallClock(year: 2026, month: 10, day: 25, hour: 0, minute: 30, second: 0))
        let cet = TimeDecisionRules.wallMicros(
            DeviceWallClock(year: 2026, month: 10, day: 25, hour: 1, minute: 30, second: 0))
        #expect(twiceUTC == cest || twiceUTC == cet)
        // 02:30 on 2026-03-29 never happens: some instant within the hour around it, never nil.
        let skipped = DeviceWallClock(year: 2026, month: 3, day: 29, hour: 2, minute: 30, second: 0)
        #expect(TimeDecisionRules.utcMicros(of: skipped, utcOffsetMinutes: nil, policy: berlin) != nil)
    }

    // MARK: Glucose time offset

    @Test func theGlucoseTimeOffsetIsAddedToTheBaseTime() {
        let taken = received - 3 * hour
        let base = wall(taken - 60 * minute)
        let time = decide(base, clock: comparison(at: received - 20 * second, offset: 0), offsetMinutes: 60)
        #expect(time.decision == .kept)
        #expect(time.effectiveMicros == taken)
        #expect(time.deviceTimestamp == wall(taken))
        #expect(time.deviceTimeOffsetMinutes == 60)

        // Across midnight and back.
        let lateBase = DeviceWallClock(year: 2026, month: 12, day: 31, hour: 23, minute: 30, second: 0)
        #expect(
            TimeDecisionRules.applying(minutes: 45, to: lateBase)
                == DeviceWallClock(year: 2027, month: 1, day: 1, hour: 0, minute: 15, second: 0))
        #expect(
            TimeDecisionRules.applying(
                minutes: -45, to: DeviceWallClock(year: 2027, month: 1, day: 1, hour: 0, minute: 15, second: 0))
                == lateBase)
    }

    // MARK: Policy and helpers

    @Test func policyDefaults() {
        let policy = TimePolicy(timeZoneIdentifier: "UTC")
        #expect(policy.syncToleranceMicros == 60 * second)
        #expect(policy.maxFutureMicros == 5 * minute)
        #expect(
            policy.earliestBelievableMicros
                == TimeDecisionRules.wallMicros(
                    DeviceWallClock(year: 2015, month: 1, day: 1, hour: 0, minute: 0, second: 0)))
        #expect(TimePolicy(timeZoneIdentifier: "Not/AZone").timeZone.secondsFromGMT(for: Date()) == 0)
        #expect(TimeDecisionRules.syncMethod(nil) == "none")
    }

    @Test func civilDateArithmeticRoundTrips() {
        for micros: Int64 in [0, received, -1, 946_684_800 * second, 253_402_300_799 * second] {
            let clock = TimeDecisionRules.wallClock(micros: micros)
            #expect(TimeDecisionRules.wallMicros(clock) == micros - ((micros % second) + second) % second)
        }
        #expect(wall(received) == DeviceWallClock(year: 2026, month: 11, day: 18, hour: 11, minute: 6, second: 40))
    }
}

@Suite struct DeviceClockHistoryTests {
    /// A comparison of a clock `ppm` fast with `initial` offset, `elapsed` after `start`; the device shows whole seconds.
    private func drifting(_ elapsed: Int64, start: Int64 = received, initial: Int64 = 3 * second, ppm: Double = 40)
        -> ClockComparison
    {
        let gateway = start + elapsed + 123_456  // the middle of a read is not on a second boundary
        let offset = initial + Int64((Double(elapsed) * ppm / 1_000_000).rounded())
        return comparison(at: gateway, offset: offset)
    }

    @Test func driftIsEstimatedFromComparisonsOverDays() throws {
        var history = DeviceClockHistory(timeZoneIdentifier: "UTC")
        for step: Int64 in 0...20 { history.record(drifting(step * 6 * hour)) }  // five days, every 6 h
        #expect(history.entries.allSatisfy { $0.epoch == 0 })
        let drift = try #require(history.driftPPM)
        #expect(abs(drift - 40) < 1.0, "estimated \(drift) ppm")
        // Five days at 40 ppm: 17.28 s gained on top of the initial 3 s.
        let latest = try #require(history.latestOffsetMicros)
        #expect(abs(latest - (3 * second + 17_280_000)) <= second)
        // Predicted one day past the last comparison: another 3.46 s.
        let predicted = try #require(history.offset(at: received + 6 * day))
        #expect(abs(predicted - (3 * second + 20_736_000)) <= second)
    }

    @Test func noDriftFromComparisonsLessThanAnHourApart() {
        var history = DeviceClockHistory(timeZoneIdentifier: "UTC")
        history.record(drifting(0))
        #expect(history.driftPPM == nil)
        history.record(drifting(30 * minute))
        #expect(history.driftPPM == nil)
        #expect(history.offset(at: received + hour) == history.latestOffsetMicros)
        history.record(drifting(2 * hour))
        #expect(history.driftPPM != nil)
    }

    @Test func aClockResetStartsANewEpochInsteadOfAnAbsurdDrift() throws {
        var history = DeviceClockHistory(timeZoneIdentifier: "UTC")
        for step: Int64 in 0...12 { history.record(drifting(step * 6 * hour)) }
        let before = try #require(history.driftPPM)
        // Battery change: the clock restarts at 2000-01-01.
        let resetAt = received + 3 * day + hour
        let resetEpoch =
            TimeDecisionRules.wallMicros(DeviceWallClock(year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 0))
            ?? 0
        let resetOffset = resetEpoch - resetAt
        let entry = history.record(comparison(at: resetAt + day, offset: resetOffset))
        #expect(entry?.epoch == 1)
        #expect(history.currentEpoch == 1)
        #expect(history.driftPPM == nil)  // one comparison in the new epoch
        #expect(history.driftPPM(epoch: 0) == before)
        #expect(history.latestOffsetMicros == resetOffset)
        // Predictions follow the epoch in effect at the time asked.
        let old = try #require(history.offset(at: received + day))
        #expect(abs(old - (3 * second + 3_456_000)) <= second)
        #expect(history.offset(at: resetAt + 2 * day) == resetOffset)

        // The reset clock drifts like before; a day of comparisons gives a sane figure for the new epoch.
        for step: Int64 in 1...4 {
            history.record(drifting(step * 6 * hour, start: resetAt + day, initial: resetOffset))
        }
        #expect(history.currentEpoch == 1)
        let after = try #require(history.driftPPM)
        #expect(abs(after - 40) < 15, "estimated \(after) ppm")
    }

    @Test func settingTheClockStartsANewEpochAndSmallStepsDoNot() {
        var history = DeviceClockHistory(timeZoneIdentifier: "UTC")
        history.record(comparison(at: received, offset: 10 * minute))
        history.record(comparison(at: received + day, offset: 10 * minute + 2 * second))
        #expect(history.currentEpoch == 0)
        history.record(comparison(at: received + day + 5 * second, offset: 0, afterSet: true))
        #expect(history.currentEpoch == 1)
        // A user moving the clock by an hour a month later is a jump, not 1400 ppm of drift.
        history.record(comparison(at: received + 31 * day, offset: hour))
        #expect(history.currentEpoch == 2)
    }

    @Test func timeFaultsAndOutOfOrderComparisons() {
        var history = DeviceClockHistory(timeZoneIdentifier: "UTC")
        history.record(comparison(at: received, offset: 5 * second))
        var fault = comparison(at: received + hour, offset: 0)
        fault.deviceTime.day = nil
        let faultEntry = history.record(fault)
        #expect(faultEntry?.offsetMicros == nil)
        #expect(faultEntry?.epoch == 0)
        #expect(history.latestOffsetMicros == 5 * second)
        #expect(history.record(comparison(at: received - hour, offset: 0)) == nil)
        #expect(history.entries.count == 2)
        #expect(DeviceClockHistory(timeZoneIdentifier: "UTC").offset(at: received) == nil)
    }

    @Test func theHistoryIsBoundedAndCodable() throws {
        var history = DeviceClockHistory(timeZoneIdentifier: "Asia/Tokyo", maxEntries: 5)
        for step: Int64 in 0..<8 {
            history.record(comparison(at: received + step * hour, offset: 0, zoneOffset: 9 * hour))
        }
        #expect(history.entries.count == 5)
        #expect(history.latestOffsetMicros == 0)
        let decoded = try JSONDecoder().decode(DeviceClockHistory.self, from: JSONEncoder().encode(history))
        #expect(decoded == history)
    }
}
