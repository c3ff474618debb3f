import CivilDate
import Foundation

/// What the gateway believes about device clocks: how close counts as "in sync", how early a date can be and still
/// be believed, how far into the future a reading may lie, and which zone a zone-less wall clock is read in.
public struct TimePolicy: Hashable, Sendable, Codable {
    /// A device clock within this of the gateway's clock counts as in sync: its timestamps are kept as they are.
    public var syncTolerance: Duration
    /// No reading can have been taken before this instant (default 2015-01-01T00:00:00Z). A device timestamp earlier
    /// than it is a clock that was never set or was reset (a battery change sends many meters back to 2000-01-01).
    public var earliestBelievable: Date
    /// How far past the gateway's receive time a reading's time may lie, after any correction, and still be believed.
    public var maxFuture: Duration
    /// The zone a device wall clock is read in when the device gives no UTC offset (CTS Local Time Information).
    /// The PHD IG lets the gateway assume the device sits in its own zone, so this is normally the gateway's (or the
    /// subject's) zone. An identifier Foundation does not know falls back to UTC (see `timeZone`).
    public var timeZoneIdentifier: String
    /// A timestamp that cannot come from the device's current clock (it is later than the clock could have reached,
    /// or earlier than the moment the gateway set the clock) was stamped by an earlier setting of the clock — typically
    /// a record stored before a battery change reset it. True: keep such a stamp when it is believable on its own
    /// (after `earliestBelievable`, not in the future). False: refuse it, as the PHD IG's table does for stamps from
    /// an earlier, unsynchronized timeline. See `TimeDecisionRules`.
    public var keepBelievableEarlierTimelineStamps: Bool

    /// 2015-01-01T00:00:00Z.
    public static let defaultEarliestBelievable = Date(timeIntervalSince1970: 1_420_070_400)

    public init(
        syncTolerance: Duration = .seconds(60), earliestBelievable: Date = TimePolicy.defaultEarliestBelievable,
        maxFuture: Duration = .seconds(300), timeZoneIdentifier: String = TimeZone.current.identifier,
        keepBelievableEarlierTimelineStamps: Bool = true
    ) {
        self.syncTolerance = syncTolerance
        self.earliestBelievable = earliestBelievable
        self.maxFuture = maxFuture
        self.timeZoneIdentifier = timeZoneIdentifier
        self.keepBelievableEarlierTimelineStamps = keepBelievableEarlierTimelineStamps
    }

    /// The zone named by `timeZoneIdentifier`, or UTC when Foundation does not know the name.
    public var timeZone: TimeZone {
        TimeZone(identifier: timeZoneIdentifier) ?? TimeZone(secondsFromGMT: 0) ?? .gmt
    }

    var syncToleranceMicros: Int64 { Self.micros(syncTolerance) }
    var maxFutureMicros: Int64 { Self.micros(maxFuture) }
    var earliestBelievableMicros: Int64 { Int64((earliestBelievable.timeIntervalSince1970 * 1_000_000).rounded()) }

    static func micros(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return whole.addingReportingOverflow(attoseconds / 1_000_000_000_000).partialValue
    }
}

/// The time-provenance decision: what a reading's time becomes, given the device's timestamp, the gateway's receive
/// time and the comparison of the device's clock with the gateway's (a Current Time Service read).
///
/// ## Where the rules come from
///
/// HL7 FHIR Personal Health Device IG (hl7.fhir.uv.phd, STU2 / 2.0.0):
/// - *DIM to FHIR mapping — The Observation Model Timestamp*: the gateway (PHG) is the party responsible for putting
///   every measurement on a UTC timeline with a local offset: the receive time when the device sends no timestamp,
///   and a correction when a device's wall clock is wrong; what it did is recorded in a Coincident Timestamp
///   Observation for audit.
/// - *PhgDevice*: a conformant PHG is itself synchronized to UTC and knows its local and DST offset, so its clock is
///   the reference (it may also set the device's clock).
/// - *PhdBaseObservation notes — Timestamp: effective[x]*: a table by clock type (UTC, local, tick counter), whether
///   the stamp is on the device's *current* timeline (the clock ran on without a jump since the stamp was made),
///   whether the device clock is externally synchronized, and whether an offset is given. A stamp from a
///   synchronized clock is kept (with the gateway's offset added when the device gave none); a stamp on the current
///   timeline of an unsynchronized clock is moved onto the gateway's timeline; a stamp from an earlier timeline of an
///   unsynchronized clock cannot be given a correct time and is to be discarded. The gateway may assume the device is
///   in its own time zone.
/// - *PhdCoincidentTimeStampObservation notes — logic to report coincident timestamps*: case 1, no timestamp → the
///   receive time, no coincident timestamp; case 2, a stamp not from the current timeline → usable only when the
///   clock was externally synchronized; case 3, a stamp from the current timeline → if the gateway is the better
///   clock, shift the stamp by the difference between the two clocks (example: device six minutes slow → add six
///   minutes); for an unsynchronized clock, use the coincident timestamp as the anchor between the timelines.
///   A device whose current time cannot be obtained has a *time fault*: its stamps cannot be checked.
///
/// ## What a BLE health device gives us
///
/// Blood Pressure and Glucose use a BLE Date Time: a local wall clock with no zone, no synchronization status and no
/// "current timeline" marker. So every such clock is an unsynchronized local clock of unknown history (IG rows
/// "Local / not synced"). Whether a stamp is on the current timeline is inferred: a clock that ran forward since a
/// stamp was made reads *later* than the stamp; a stamp later than the device's clock could have reached by the
/// time the reading arrived was made before the clock jumped back (a reset). After the gateway set the clock, a stamp
/// earlier than the moment of the set was made on the previous timeline.
///
/// ## The decision table, as implemented
///
/// Definitions: `raw` = the device stamp (glucose: base time + time offset) read as UTC — with the UTC offset the
/// device reported (CTS Local Time Information) when it did, else in `policy.timeZone`. `offset` = device clock at the
/// comparison (read the same way) − gateway time at the middle of that read. *Believable* = not before
/// `policy.earliestBelievable` and not after `received + policy.maxFuture`.
///
/// | # | situation | decision | effective time |
/// |---|---|---|---|
/// | 1 | no device timestamp (IG case 1) | `.receiveTime` | received |
/// | 2 | year, month or day unknown | `.refused("incomplete_timestamp …")` | received |
/// | 3 | impossible date or time (month 13, 31 April, 25:00) | `.refused("invalid_timestamp …")` | received |
/// | 4 | no usable clock comparison (none, or the device's current date unknown: the IG's time fault), raw believable | `.kept`, sync method "none": the IG's *uncorrected* case — nothing to check the stamp against | raw |
/// | 5 | as 4, raw not believable | `.refused("before_earliest …" / "in_future …")` | received |
/// | 6 | current timeline, \|offset\| ≤ tolerance (IG: keep, zone added) | `.kept` | raw |
/// | 7 | current timeline, \|offset\| > tolerance — drift, a wrong zone, a clock reset to 2000 (IG: map onto the gateway's timeline) | `.mapped(correctionMicros: −offset)` | raw − offset |
/// | 8 | 6 or 7, but the result is not believable (e.g. a 2000 stamp from a clock that is right *now*: it was made before the clock was set, on a timeline we can no longer map) | `.refused(…)` | received |
/// | 9 | earlier timeline (stamp later than the device clock can have reached, or before the gateway set the clock), raw believable, `keepBelievableEarlierTimelineStamps` | `.kept` (the stamp predates the jump; the old clock is the only evidence) | raw |
/// | 10 | earlier timeline otherwise (the IG's "throw away"; we keep the reading, refuse the stamp) | `.refused("earlier_timeline …")` | received |
///
/// A refused timestamp never loses the reading (DESIGN.md rule 3): the reading is stored at its receive time and
/// flagged (`ReadingFlags.timeRefused`), the raw stamp and the clock comparison stay in the provenance, so the
/// decision can be audited and redone.
///
/// ### A clock reset after a battery change
///
/// The device's clock now reads 2000-01-03T10:00 while the gateway reads 2026-11-18T11:06Z: `offset` ≈ −26.9 years.
/// - A reading taken *after* the reset is stamped 2000-01-0x, which the reset clock has already passed: it is on the
///   current timeline, and raw − offset is the real time it was taken (row 7) — never a 2000 date.
/// - A reading stored *before* the battery change is stamped by the old clock, e.g. 2026-11-10. The reset clock has
///   not reached that date, so it cannot be on the current timeline; shifting it by 26.9 years would put it in 2053.
///   It is kept as stamped when believable (row 9) — the old clock was the only clock that saw it — or refused with
///   `keepBelievableEarlierTimelineStamps == false`, which is the IG's strict reading (row 10).
/// - If the gateway then sets the clock, the comparison after the set describes only readings made after it. Pass
///   every comparison of the connection to `decide(…, comparisons:, …)` so that stored records are decided with the
///   comparison read *before* the set; with only the after-set comparison, a 2000 stamp is refused (row 8), never
///   kept.
///
/// The correction is the offset measured at the comparison; drift between a stored reading and the comparison is not
/// extrapolated here (40 ppm is 24 s over a week, inside the tolerance). `DeviceClockHistory` estimates drift and
/// predicts offsets for callers that need more.
///
/// `localOffsetSeconds` is `policy.timeZone`'s UTC offset at the effective time. `syncMethod` is "cts_read" or
/// "cts_set" (the comparison was read just after the gateway set the clock) for the comparison the decision used,
/// and "none" when there was no usable comparison. A Coincident Timestamp Observation is due for rows 6–10
/// (and row 4 as a time fault), not for row 1.
public enum TimeDecisionRules {
    // MARK: Deciding

    /// Decides a reading's time from its device timestamp and one clock comparison (normally the latest of the
    /// connection). `deviceTimeOffsetMinutes` is the glucose Time Offset: it is added to `deviceTimestamp` (the
    /// base time), and the provenance records the stamp with the offset applied.
    public static func decide(
        deviceTimestamp: DeviceWallClock?, deviceTimeOffsetMinutes: Int?, receivedMicros: Int64,
        clock: ClockComparison?,
        policy: TimePolicy
    ) -> TimeProvenance {
        decide(
            deviceTimestamp: deviceTimestamp, deviceTimeOffsetMinutes: deviceTimeOffsetMinutes,
            receivedMicros: receivedMicros,
            clock: clock, previous: nil, policy: policy)
    }

    /// Decides with every clock comparison of the connection (in any order): the stamp is decided with the
    /// comparison whose timeline it belongs to — the newest one that can have produced it. This matters when the
    /// gateway set the device's clock during the connection: records stored before the set are mapped with the
    /// comparison read before it.
    public static func decide(
        deviceTimestamp: DeviceWallClock?, deviceTimeOffsetMinutes: Int?, receivedMicros: Int64,
        comparisons: [ClockComparison],
        policy: TimePolicy
    ) -> TimeProvenance {
        let ordered = comparisons.sorted { $0.gatewayMicros < $1.gatewayMicros }
        guard !ordered.isEmpty else {
            return decide(
                deviceTimestamp: deviceTimestamp, deviceTimeOffsetMinutes: deviceTimeOffsetMinutes,
                receivedMicros: receivedMicros,
                clock: nil, policy: policy)
        }
        // Without a timeline that fits, the newest usable comparison decides (rows 9–10); failing that, the newest.
        let fallback =
            ordered.indices.last { clockOffsetMicros(ordered[$0], policy: policy) != nil } ?? ordered.count - 1
        var chosen = (clock: ordered[fallback], previous: fallback > 0 ? ordered[fallback - 1] : nil)
        if let stamp = deviceTimestamp.flatMap({ applying(minutes: deviceTimeOffsetMinutes, to: $0) }) {
            for index in ordered.indices.reversed() {
                let candidate = ordered[index]
                let previous = index > 0 ? ordered[index - 1] : nil
                guard let offset = clockOffsetMicros(candidate, policy: policy),
                    let rawUTC = utcMicros(
                        of: stamp, utcOffsetMinutes: candidate.deviceUTCOffsetMinutes, policy: policy)
                else { continue }
                if onTimeline(
                    rawUTC, of: candidate, offset: offset, previous: previous, receivedMicros: receivedMicros,
                    policy: policy)
                {
                    chosen = (candidate, previous)
                    break
                }
            }
        }
        return decide(
            deviceTimestamp: deviceTimestamp, deviceTimeOffsetMinutes: deviceTimeOffsetMinutes,
            receivedMicros: receivedMicros,
            clock: chosen.clock, previous: chosen.previous, policy: policy)
    }

    static func decide(
        deviceTimestamp: DeviceWallClock?, deviceTimeOffsetMinutes: Int?, receivedMicros: Int64,
        clock: ClockComparison?,
        previous: ClockComparison?, policy: TimePolicy
    ) -> TimeProvenance {
        let offset = clock.flatMap { clockOffsetMicros($0, policy: policy) }
        let method = offset == nil ? "none" : syncMethod(clock)
        // The stamp as the device meant it: glucose base time + time offset.
        let stamp = deviceTimestamp.map { applying(minutes: deviceTimeOffsetMinutes, to: $0) ?? $0 }

        func result(_ decision: TimeDecision, _ effective: Int64) -> TimeProvenance {
            TimeProvenance(
                deviceTimestamp: stamp, deviceTimeOffsetMinutes: deviceTimeOffsetMinutes,
                receivedMicros: receivedMicros, clock: clock,
                clockOffsetMicros: offset, decision: decision, effectiveMicros: effective,
                localOffsetSeconds: localOffsetSeconds(at: effective, policy: policy), syncMethod: method)
        }
        func refused(_ reason: String) -> TimeProvenance { result(.refused(reason: reason), receivedMicros) }

        // Row 1.
        guard let stamp else { return result(.receiveTime, receivedMicros) }
        // Row 2.
        guard stamp.isComplete else {
            return refused("incomplete_timestamp: device sent \(stamp) (unknown year, month or day)")
        }
        // Row 3.
        guard let rawUTC = utcMicros(of: stamp, utcOffsetMinutes: clock?.deviceUTCOffsetMinutes, policy: policy) else {
            return refused("invalid_timestamp: device sent \(stamp), which is not a date and time")
        }
        let rawProblem = unbelievable(rawUTC, receivedMicros: receivedMicros, policy: policy)

        // Rows 4–5: nothing to check the stamp against.
        guard let clock, let offset else {
            if let rawProblem { return refused("\(rawProblem); no clock comparison to map it with") }
            return result(.kept, rawUTC)
        }

        // Rows 9–10: the stamp was made before the clock jumped (reset, or set by the gateway).
        guard
            onTimeline(
                rawUTC, of: clock, offset: offset, previous: previous, receivedMicros: receivedMicros, policy: policy)
        else {
            if rawProblem == nil, policy.keepBelievableEarlierTimelineStamps { return result(.kept, rawUTC) }
            let why = rawProblem.map { "; \($0)" } ?? ""
            return refused(
                "earlier_timeline: stamp \(stamp) was made before the device clock jumped (clock now \(clock.deviceTime), "
                    + "offset \(seconds(offset)) s)\(why)")
        }

        // Rows 6–8.
        let inSync = offset.magnitude <= UInt64(max(0, policy.syncToleranceMicros))
        let (decision, effective) =
            inSync ? (TimeDecision.kept, rawUTC) : (.mapped(correctionMicros: -offset), rawUTC &- offset)
        if let problem = unbelievable(effective, receivedMicros: receivedMicros, policy: policy) {
            let resetNote = clockIsReset(clock, offset: offset, policy: policy) ? " (device clock reset)" : ""
            return refused(
                "\(problem) after \(inSync ? "keeping" : "correcting by \(seconds(-offset)) s") the stamp \(stamp)"
                    + " (device clock \(clock.deviceTime), offset \(seconds(offset)) s)\(resetNote)")
        }
        return result(decision, effective)
    }

    // MARK: Clocks

    /// Device clock minus gateway clock at the comparison, µs; nil when the device's current date is unknown or not a
    /// date (a time fault in the PHD IG's terms).
    public static func clockOffsetMicros(_ comparison: ClockComparison, policy: TimePolicy) -> Int64? {
        guard
            let device = utcMicros(
                of: comparison.deviceTime, utcOffsetMinutes: comparison.deviceUTCOffsetMinutes, policy: policy)
        else { return nil }
        return device &- comparison.gatewayMicros
    }

    /// "cts_set" for a comparison read just after the gateway set the clock, "cts_read" for any other, "none" without one.
    public static func syncMethod(_ clock: ClockComparison?) -> String {
        guard let clock else { return "none" }
        return clock.afterSet ? "cts_set" : "cts_read"
    }

    /// A device wall clock as UTC µs: with `utcOffsetMinutes` when the device reported one, else in `policy.timeZone`
    /// (an hour that occurs twice when clocks go back resolves to one of its instants, an hour skipped when they go
    /// forward to the instant just after). Nil when incomplete or not a real date and time.
    public static func utcMicros(of wall: DeviceWallClock, utcOffsetMinutes: Int?, policy: TimePolicy) -> Int64? {
        guard let local = wallMicros(wall) else { return nil }
        if let utcOffsetMinutes { return local &- Int64(utcOffsetMinutes) * 60_000_000 }
        let zone = policy.timeZone
        func offset(at micros: Int64) -> Int64 { Int64(zone.secondsFromGMT(for: date(micros))) * 1_000_000 }
        // Candidate offsets: the zone's offset at the local time read as UTC, and at the instant that gives. A candidate
        // is consistent when the zone really has that offset at the instant it yields.
        let first = offset(at: local)
        let second = offset(at: local &- first)
        let consistent = [first, second].filter { offset(at: local &- $0) == $0 }
        // Both consistent: an ambiguous hour (clocks went back); take the earlier instant. None: a skipped hour.
        return local &- (consistent.max() ?? second)
    }

    /// `policy.timeZone`'s UTC offset at `micros`, seconds.
    public static func localOffsetSeconds(at micros: Int64, policy: TimePolicy) -> Int {
        policy.timeZone.secondsFromGMT(for: date(micros))
    }

    // MARK: Helpers

    /// True when a stamp read as `rawUTC` can have been made by the clock `comparison` observed: no later than that
    /// clock could have reached when the reading arrived, and — for a clock the gateway had just set — no earlier than
    /// the set.
    static func onTimeline(
        _ rawUTC: Int64, of comparison: ClockComparison, offset: Int64, previous: ClockComparison?,
        receivedMicros: Int64,
        policy: TimePolicy
    ) -> Bool {
        let tolerance = max(0, policy.syncToleranceMicros)
        let deviceNow = comparison.gatewayMicros &+ offset
        let elapsed = max(0, receivedMicros &- comparison.gatewayMicros)
        if rawUTC > deviceNow &+ elapsed &+ tolerance { return false }
        if comparison.afterSet {
            // The set happened after the previous read (or, without one, within a couple of round trips).
            let sinceSet =
                previous.map { max(0, comparison.gatewayMicros &- $0.gatewayMicros) }
                ?? max(0, 2 &* comparison.roundTripMicros)
            if rawUTC < deviceNow &- sinceSet &- tolerance { return false }
        }
        return true
    }

    /// Why `micros` cannot be a reading's time, or nil when it can.
    static func unbelievable(_ micros: Int64, receivedMicros: Int64, policy: TimePolicy) -> String? {
        if micros < policy.earliestBelievableMicros {
            return
                "before_earliest: \(iso(micros)) is before the earliest believable date \(iso(policy.earliestBelievableMicros))"
        }
        if micros > receivedMicros &+ max(0, policy.maxFutureMicros) {
            return
                "in_future: \(iso(micros)) is after the receive time \(iso(receivedMicros)) by more than \(seconds(policy.maxFutureMicros)) s"
        }
        return nil
    }

    /// The device's clock itself reads a date before the earliest believable one: it was reset or never set.
    static func clockIsReset(_ comparison: ClockComparison, offset: Int64, policy: TimePolicy) -> Bool {
        comparison.gatewayMicros &+ offset < policy.earliestBelievableMicros
    }

    /// The wall clock moved by `minutes` (glucose Time Offset); nil when it is incomplete or not a date.
    static func applying(minutes: Int?, to wall: DeviceWallClock) -> DeviceWallClock? {
        guard let minutes, minutes != 0 else { return wall }
        guard let local = wallMicros(wall) else { return nil }
        return wallClock(micros: local &+ Int64(minutes) * 60_000_000)
    }

    /// The wall clock's fields read as if they were UTC, µs since 1970; nil when incomplete or not a real date and time.
    public static func wallMicros(_ wall: DeviceWallClock) -> Int64? {
        guard let year = wall.year, let month = wall.month, let day = wall.day, (1...9999).contains(year),
            let date = LocalDate(year: year, month: month, day: day),
            (0..<24).contains(wall.hour), (0..<60).contains(wall.minute), (0..<60).contains(wall.second)
        else { return nil }
        let days = Int64(date.daysSince1970)
        return (days * 86_400 + Int64(wall.hour * 3600 + wall.minute * 60 + wall.second)) * 1_000_000
    }

    /// The wall clock showing `micros` (read as UTC), to the second.
    public static func wallClock(micros: Int64) -> DeviceWallClock {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let date = LocalDate(daysSince1970: Int(days))
        return DeviceWallClock(
            year: date.year, month: date.month, day: date.day, hour: secondOfDay / 3600, minute: secondOfDay / 60 % 60,
            second: secondOfDay % 60)
    }

    static func date(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    static func iso(_ micros: Int64) -> String {
        let wall = wallClock(micros: micros)
        return "\(wall)Z"
    }

    static func seconds(_ micros: Int64) -> String {
        let value = Double(micros) / 1_000_000
        return value == value.rounded() ? String(Int64(value)) : String(format: "%.3f", value)
    }
}
