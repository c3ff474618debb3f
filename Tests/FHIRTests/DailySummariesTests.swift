import FHIR
import Foundation
import Provenance
import StreamEngine
import Testing
import TimeSeries

/// The daily clinical summaries as Observations, over a real engine, store and archive: one Tokyo day of the demo's
/// device mix for alice — a cuff (two morning readings, one moved, one evening), a strap with RR intervals, a meter
/// whose clock runs 10 minutes fast with meal contexts and a strip error.
@Suite struct DailySummariesTests {
    static let tokyo = TimeZone(identifier: "Asia/Tokyo")!
    /// 2026-11-18 in Tokyo: `Fixture.at0830` is 08:30 there.
    static let day = LocalDate(daysSince1970: 20_775)
    static let minute: Int64 = 60_000_000

    static func pressure(_ systolic: Int64, _ diastolic: Int64, minutes: Int64, flags: ReadingFlags = []) -> Reading {
        Fixture.bloodPressure(
            systolic: Fixture.q(systolic), diastolic: Fixture.q(diastolic), mean: Fixture.q(100), flags: flags,
            time: Fixture.receiveTime(Fixture.at0830 + minutes * minute),
            payload: [0x1E, UInt8(systolic), 0, UInt8(diastolic), 0, UInt8(minutes & 0xFF), UInt8(minutes >> 8)])
    }

    /// A strap from 09:00 to 09:30: 70 /min for 15 minutes, then 60; a notification every 5 s with four RR
    /// intervals alternating 1024 and 1004 ticks, so every successive difference is 20 ticks (19.53125 ms).
    static func strap(from start: Int64 = Fixture.at0830 + 30 * minute, count: Int = 360) -> [Reading] {
        (0..<count).map { i in
            var reading = Fixture.heartRate(rr: [1024, 1004, 1024, 1004])
            reading.subject = "alice"
            let bpm: Int64 = i < count / 2 ? 70 : 60
            reading.components[0] = ReadingComponent(metric: .heartRate, value: Fixture.q(bpm), unit: "/min")
            reading.time = Fixture.receiveTime(start + Int64(i) * 5_000_000)
            reading.rawPayloads = [[0x16, UInt8(bpm), UInt8(i & 0xFF), UInt8(i >> 8)]]
            return reading
        }
    }

    /// The meter, 10 minutes fast (its times mapped back): fasting at 07:30, after meals at 13:00 and 19:30, and a
    /// strip error after a meal that must not count.
    static func meter() -> [Reading] {
        let items: [(mgdl: Int64, meal: String, minutes: Int64, flags: ReadingFlags)] = [
            (95, "fasting", -60, []), (140, "postprandial", 270, []), (150, "postprandial", 660, []),
            (300, "postprandial", 665, [.sensorAnnunciation]),
        ]
        return items.enumerated().map { index, item in
            var reading = Fixture.glucose(value: Fixture.q(item.mgdl, -5), meal: item.meal, flags: item.flags)
            reading.time = Fixture.mappedTime()
            reading.time.effectiveMicros = Fixture.at0830 + item.minutes * minute
            reading.sequenceNumber = UInt16(100 + index)
            reading.context.glucose?.sequenceNumber = UInt16(100 + index)
            reading.rawPayloads = [[0x1B, UInt8(100 + index), 0x00], [0x02, UInt8(100 + index)]]
            return reading
        }
    }

    static func demoDay() -> [Reading] {
        [
            pressure(120, 80, minutes: 0), pressure(130, 84, minutes: 5),
            pressure(170, 100, minutes: 10, flags: [.bodyMovement]),
            pressure(126, 82, minutes: 690),
        ] + strap() + meter()
    }

    static func code(_ json: ExactJSON) -> String? { json["code"]?["coding"]?[0]?["code"]?.stringValue }

    @Test func eachSummaryOfTheDayIsAnObservationWithExactValues() async throws {
        let world = try SyncClientTests.world(rules: [])
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        _ = try await world.engine.ingest(batch: Self.demoDay().map { PendingReading(reading: $0, acknowledge: {}) })
        let summaries = DailySummaries(archive: world.archive, clock: LocalClock(Self.tokyo))
        let later = Fixture.at0830 + 24 * 60 * Self.minute
        let all = try summaries.summaries(subject: "alice", day: Self.day, issuedMicros: later)
        func one(_ kind: DailySummaries.Kind) throws -> ExactJSON {
            try #require(all.first { $0.kind == kind }?.resource.json)
        }
        func means(_ json: ExactJSON) -> [String] {
            (json["component"]?.arrayValue ?? []).compactMap { $0["valueQuantity"]?["value"]?.numberText }
        }

        let morning = try one(.morningBloodPressure)
        #expect(Self.code(morning) == DailySummaries.Kind.morningBloodPressure.rawValue)
        #expect(morning["code"]?["coding"]?[1]?["code"]?.stringValue == "96607-7")
        #expect(means(morning) == ["125.0", "82.0"], "\(morning)")
        #expect(morning["extension"]?[0]?["valueQuantity"]?["value"]?.numberText == "2")
        #expect(morning["note"]?[1]?["text"]?.stringValue == "1 reading left out as doubtful (body_movement 1).")
        #expect(morning["effectivePeriod"]?["start"]?.stringValue == "2026-11-18T08:30:00+09:00")
        #expect(morning["status"]?.stringValue == "final")
        #expect(means(try one(.eveningBloodPressure)) == ["126.0", "82.0"])

        let resting = try one(.restingHeartRate)
        #expect(resting["code"]?["coding"]?[1]?["code"]?.stringValue == "40443-4")
        #expect(resting["valueQuantity"]?["value"]?.numberText == "60.0")
        #expect(resting["valueQuantity"]?["code"]?.stringValue == "/min")
        #expect(resting["effectivePeriod"]?["start"]?.stringValue == "2026-11-18T09:15:00+09:00")

        let rmssd = try one(.rmssd)
        #expect(rmssd["valueQuantity"]?["value"]?.numberText == "20.0")
        #expect(rmssd["valueQuantity"]?["code"]?.stringValue == "ms")
        // 30 minutes of 5-minute windows
        #expect(rmssd["extension"]?[0]?["valueQuantity"]?["value"]?.numberText == "6")

        let meals = all.filter { $0.kind == .glucoseByMeal }.map(\.resource.json)
        #expect(meals.count == 2)
        func meal(_ name: String) -> ExactJSON? {
            meals.first {
                ($0["component"]?.arrayValue ?? []).contains {
                    $0["valueCodeableConcept"]?["text"]?.stringValue == name
                }
            }
        }
        #expect(meal("fasting")?["component"]?[0]?["valueQuantity"]?["value"]?.numberText == "95.0")
        #expect(meal("fasting")?["component"]?[0]?["valueQuantity"]?["code"]?.stringValue == "mg/dL")
        #expect(meal("postprandial")?["component"]?[0]?["valueQuantity"]?["value"]?.numberText == "145.0")
        #expect(meal("postprandial")?["component"]?[1]?["valueInteger"]?.numberText == "2")
        #expect(meal("postprandial")?["note"]?[0]?["text"]?.stringValue?.contains("sensor") == true)
        #expect(meal("fasting")?["category"] == nil)  // glucose is not a vital sign

        // A day not yet over is preliminary; a day without readings has no summaries.
        let during = try summaries.summaries(
            subject: "alice", day: Self.day, kinds: [.restingHeartRate], issuedMicros: Fixture.at0830)
        #expect(during.first?.resource.json["status"]?.stringValue == "preliminary")
        #expect(try summaries.summaries(subject: "alice", day: Self.day.adding(days: 1), issuedMicros: later).isEmpty)
        #expect(try summaries.summaries(subject: "bob", day: Self.day, issuedMicros: later).isEmpty)
        // Ids come from person, day and kind: the same again, distinct from one another.
        let again = try summaries.summaries(subject: "alice", day: Self.day, issuedMicros: later + Self.minute)
        #expect(again.map(\.resource.id) == all.map(\.resource.id))
        #expect(Set(all.map(\.resource.id)).count == all.count)
    }

    /// A night on a pulse oximeter: continuous values a second apart, 95 % but for a 30-second dip to 88-89 %, one
    /// doubtful 70 % (sensor displaced), and two spot-checks hours apart at 89 %. The lowest clean value is 88; time
    /// below 90 % is the dip's 30 seconds (the spot-checks count as readings, not as hours spent below).
    @Test func theLowestSpO2AndTimeBelow90PercentOfTheDay() async throws {
        func saturation(_ percent: Int64, at micros: Int64, flags: ReadingFlags = []) -> Reading {
            var reading = Fixture.pulse(flags: flags)
            reading.subject = "alice"
            reading.kind = .oxygenSaturation
            reading.components = [ReadingComponent(metric: .oxygenSaturation, value: Fixture.q(percent), unit: "%")]
            reading.time = Fixture.receiveTime(micros)
            reading.rawPayloads = [
                [0x00, UInt8(percent), 0x00, UInt8(micros / 1_000_000 & 0xFF), UInt8(micros / 256_000_000 & 0xFF)]
            ]
            return reading
        }
        let start = Fixture.at0830 - 6 * 60 * Self.minute  // 02:30 in Tokyo
        var night = (0..<120).map { i -> Reading in
            let percent: Int64 = (40..<70).contains(i) ? (i % 2 == 0 ? 88 : 89) : 95
            return saturation(percent, at: start + Int64(i) * 1_000_000)
        }
        night.append(saturation(70, at: start + 200_000_000, flags: [.sensorAnnunciation]))
        night += [saturation(89, at: Fixture.at0830), saturation(89, at: Fixture.at0830 + 120 * Self.minute)]
        let world = try SyncClientTests.world(rules: [])
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        _ = try await world.engine.ingest(batch: night.map { PendingReading(reading: $0, acknowledge: {}) })
        let summaries = DailySummaries(archive: world.archive, clock: LocalClock(Self.tokyo))
        let all = try summaries.summaries(
            subject: "alice", day: Self.day, kinds: [.lowestOxygenSaturation],
            issuedMicros: Fixture.at0830 + 24 * 60 * Self.minute)
        let json = try #require(all.first?.resource.json)
        #expect(json["valueQuantity"]?["value"]?.numberText == "88")
        #expect(json["valueQuantity"]?["code"]?.stringValue == "%")
        #expect(json["component"]?[0]?["valueQuantity"]?["value"]?.numberText == "30")
        #expect(json["component"]?[0]?["valueQuantity"]?["code"]?.stringValue == "s")
        #expect(json["component"]?[1]?["valueInteger"]?.numberText == "32")
        #expect(json["extension"]?[0]?["valueQuantity"]?["value"]?.numberText == "122")
        #expect(json["note"]?[1]?["text"]?.stringValue == "1 value left out as doubtful.")
        #expect(json["category"]?[0]?["coding"]?[0]?["code"]?.stringValue == "vital-signs")
    }

    /// A week of weighings: 62.300 kg seven days before the day, a doubtful 70 kg six days before (left out), and
    /// 63.850 kg on the day (after an earlier 63.900): the change is +1.550 kg, exact, with both weights as components.
    @Test func theWeightsChangeOverAWeek() async throws {
        func weighing(_ grams: Int64, at micros: Int64, flags: ReadingFlags = []) -> Reading {
            var reading = Fixture.pulse(flags: flags)
            reading.subject = "alice"
            reading.kind = .bodyWeight
            reading.components = [ReadingComponent(metric: .bodyWeight, value: Fixture.q(grams, -3), unit: "kg")]
            reading.time = Fixture.receiveTime(micros)
            reading.rawPayloads = [
                [0x00, UInt8(grams & 0xFF), UInt8(grams >> 8 & 0xFF), UInt8(micros / 1_000_000 & 0xFF)]
            ]
            return reading
        }
        let day: Int64 = 86_400_000_000
        let readings = [
            weighing(62_300, at: Fixture.at0830 - 7 * day),
            weighing(70_000, at: Fixture.at0830 - 6 * day, flags: [.bodyMovement]),
            weighing(63_900, at: Fixture.at0830 - 60 * Self.minute), weighing(63_850, at: Fixture.at0830),
        ]
        let world = try SyncClientTests.world(rules: [])
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        _ = try await world.engine.ingest(batch: readings.map { PendingReading(reading: $0, acknowledge: {}) })
        let summaries = DailySummaries(archive: world.archive, clock: LocalClock(Self.tokyo))
        let all = try summaries.summaries(
            subject: "alice", day: Self.day, kinds: [.weightWeeklyChange], issuedMicros: Fixture.at0830 + day)
        let json = try #require(all.first?.resource.json)
        #expect(json["valueQuantity"]?["value"]?.numberText == "1.550")
        #expect(json["valueQuantity"]?["code"]?.stringValue == "kg")
        #expect(json["component"]?[0]?["valueQuantity"]?["value"]?.numberText == "63.850")
        #expect(json["component"]?[1]?["valueQuantity"]?["value"]?.numberText == "62.300")
        #expect(json["effectivePeriod"]?["start"]?.stringValue == "2026-11-11T08:30:00+09:00")
        // Without a weighing a week before there is no change to report.
        #expect(
            try summaries.summaries(
                subject: "alice", day: Self.day.adding(days: -6), kinds: [.weightWeeklyChange],
                issuedMicros: Fixture.at0830 + day
            ).isEmpty)
    }

    /// Synced under consent: a rule for heart-rate summaries only sends resting HR and RMSSD (no blood pressure or
    /// glucose summary, no reading); a late strap notification revises them as new versions of the same resources.
    @Test func dailySummariesAreSyncedUnderConsentAndRevisedByLateData() async throws {
        let world = try SyncClientTests.world(rules: [SharingRule(subjects: ["alice"], kinds: [.heartRate], raw: false)]
        )
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        _ = try await world.engine.ingest(batch: Self.demoDay().map { PendingReading(reading: $0, acknowledge: {}) })
        let now = Fixture.at0830 + 24 * 60 * Self.minute
        try world.client.feed(nowMicros: now)
        let upstream = SyncClientTests.Upstream()
        while case .delivered = try await world.client.deliver(transport: upstream, nowMicros: now) {}
        func daily() -> [String: (version: Int, json: ExactJSON)] {
            upstream.state.withLock { $0.stored }.filter {
                $0.value.json["code"]?["coding"]?[0]?["system"]?.stringValue == DailySummaries.codeSystem
            }
        }
        let sent = daily()
        #expect(Set(sent.values.compactMap { Self.code($0.json) }) == ["resting-heart-rate", "rmssd"], "\(sent.keys)")
        #expect(
            !upstream.state.withLock { $0.stored }.values.contains {
                $0.json["valueQuantity"]?["code"]?.stringValue == "mm[Hg]"
            })

        // A late notification at 06:00 with 50 /min for five minutes: a new resting rate, the same resource.
        let late = Self.strap(from: Fixture.at0830 - 150 * Self.minute, count: 60).map { reading in
            var reading = reading
            reading.components[0] = ReadingComponent(metric: .heartRate, value: Fixture.q(50), unit: "/min")
            reading.rawPayloads[0][0] = 0x17
            return reading
        }
        _ = try await world.engine.ingest(batch: late.map { PendingReading(reading: $0, acknowledge: {}) })
        try world.client.feed(nowMicros: now + Self.minute)
        while case .delivered = try await world.client.deliver(transport: upstream, nowMicros: now + Self.minute) {}
        let revised = daily()
        #expect(Set(revised.keys) == Set(sent.keys))
        let resting = try #require(revised.values.first { Self.code($0.json) == "resting-heart-rate" })
        #expect(resting.json["valueQuantity"]?["value"]?.numberText == "50.0")
        #expect(resting.version == 2)
    }
}
