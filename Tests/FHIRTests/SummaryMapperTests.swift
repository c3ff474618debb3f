import Foundation
import Provenance
import Testing

@testable import FHIR
@testable import StreamEngine
@testable import TimeSeries

@Suite struct SummaryMapperTests {
    static let hourStart = Fixture.at0830 - 1_800_000_000  // 08:00 in Tokyo

    func revision(metric: String, values: [DecimalValue], excluded: Int, version: Int = 1, late: Bool = false)
        -> WindowRevision
    {
        var aggregate = Aggregate()
        for (index, value) in values.enumerated() {
            aggregate.add(value: value, at: Self.hourStart + Int64(index) * 60_000_000)
        }
        let summary = WindowSummary(
            labelMicros: Self.hourStart + 32_400_000_000, startMicros: Self.hourStart,
            endMicros: Self.hourStart + 3_600_000_000,
            aggregate: aggregate, excludedCount: excluded)
        return WindowRevision(
            series: SeriesKey(subject: "alice", device: Fixture.cuff().key, metric: metric), width: .hour,
            label: summary.labelMicros,
            startMicros: summary.startMicros, endMicros: summary.endMicros, version: version, summary: summary,
            late: late)
    }

    /// The `$stats` shape: the metric's code, one component per statistic (observation-statistics codes), exact
    /// decimals (the mean of 120.5, 121, 121 is 120.83 — one place finer than the readings, rounded half to
    /// even, never via Double), the count of readings used and the total including the doubtful ones left out.
    @Test func aWindowIsAStatisticsObservation() throws {
        let values = [
            DecimalValue(mantissa: 1205, exponent: -1), DecimalValue(mantissa: 121, exponent: 0),
            DecimalValue(mantissa: 121, exponent: 0),
        ]
        let stats = SummaryMapper.statistics(
            revision(metric: "bp_systolic", values: values, excluded: 2), unit: "mm[Hg]")
        Fixture.dump([stats], as: "stats")
        let json = stats.json
        #expect(stats.id.hasPrefix("stats-"))
        #expect(json["status"]?.stringValue == "preliminary")  // the hour is still open
        #expect(json["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["150021", "8480-6"])
        #expect(json["subject"]?["reference"]?.stringValue == "Patient/alice")
        #expect(json["device"]?["reference"]?.stringValue == "Device/phd-001BC50000000417")
        #expect(json["effectivePeriod"]?["start"]?.stringValue == "2026-11-18T08:00:00+09:00")
        #expect(json["effectivePeriod"]?["end"]?.stringValue == "2026-11-18T09:00:00+09:00")
        let components = try #require(json["component"]?.arrayValue)
        #expect(
            components.map { $0["code"]?["coding"]?[0]?["code"]?.stringValue } == [
                "average", "minimum", "maximum", "count", "totalcount",
            ])
        #expect(
            components.allSatisfy {
                $0["code"]?["coding"]?[0]?["system"]?.stringValue == "http://hl7.org/fhir/observation-statistics"
            })
        #expect(components[0]["valueQuantity"]?["value"]?.numberText == "120.83")
        #expect(components[1]["valueQuantity"]?["value"]?.numberText == "120.5")
        #expect(components[2]["valueQuantity"]?["value"]?.numberText == "121")
        #expect(components[2]["valueQuantity"]?["code"]?.stringValue == "mm[Hg]")
        #expect(components[3]["valueInteger"]?.numberText == "3")
        #expect(components[4]["valueInteger"]?.numberText == "5")
        #expect(json["note"]?[0]?["text"]?.stringValue?.hasPrefix("2 doubtful readings") == true)
        #expect(stats.text.contains(#""value":120.83,"#))
    }

    /// Every version of a window's summary is the same resource (same id): a late reading updates it.
    @Test func revisionsOfAWindowUpdateOneResource() throws {
        let first = SummaryMapper.statistics(
            revision(metric: "heart_rate", values: [DecimalValue(mantissa: 64, exponent: 0)], excluded: 0), unit: "/min"
        )
        let second = SummaryMapper.statistics(
            revision(
                metric: "heart_rate", values: [64, 70].map { DecimalValue(mantissa: $0, exponent: 0) }, excluded: 0,
                version: 2, late: true), unit: "/min")
        #expect(first.id == second.id)
        #expect(second.json["status"]?.stringValue == "final")
        #expect(second.json["extension"]?[0]?["valueInteger"]?.numberText == "2")
        #expect(second.json["component"]?[0]?["valueQuantity"]?["value"]?.numberText == "67.0")
        let otherSeries = SummaryMapper.statistics(
            revision(metric: "pulse_rate", values: [DecimalValue(mantissa: 64, exponent: 0)], excluded: 0), unit: "/min"
        )
        #expect(otherSeries.id != first.id)
    }

    @Test func glucoseStatisticsAreShownInMgPerDecilitreExactly() throws {
        let values = [DecimalValue(mantissa: 95, exponent: -5), DecimalValue(mantissa: 100, exponent: -5)]
        let stats = SummaryMapper.statistics(revision(metric: "glucose", values: values, excluded: 0), unit: "kg/L")
        Fixture.dump([stats], as: "stats-glucose")
        let components = try #require(stats.json["component"]?.arrayValue)
        #expect(components.map { $0["valueQuantity"]?["value"]?.numberText } == ["97.5", "95", "100", nil, nil])
        #expect(components[0]["valueQuantity"]?["code"]?.stringValue == "mg/dL")
        #expect(stats.json["category"] == nil)
    }

    @Test func anEmptyWindowHasCountsOnly() throws {
        let stats = SummaryMapper.statistics(revision(metric: "bp_diastolic", values: [], excluded: 3), unit: "mm[Hg]")
        Fixture.dump([stats], as: "stats-empty")
        #expect(
            stats.json["component"]?.arrayValue?.map { $0["code"]?["coding"]?[0]?["code"]?.stringValue } == [
                "count", "totalcount",
            ])
        #expect(stats.json["component"]?[1]?["valueInteger"]?.numberText == "3")
    }

    @Test func exactAverageRoundsHalfToEven() throws {
        func average(_ mantissas: [Int64], _ exponent: Int8) -> String? {
            var aggregate = Aggregate()
            for m in mantissas { aggregate.add(value: DecimalValue(mantissa: m, exponent: exponent), at: 0) }
            return SummaryMapper.exactAverage(aggregate)?.description
        }
        #expect(average([1, 2], 0) == "1.5")
        #expect(average([120, 121, 121], 0) == "120.7")
        #expect(average([1, 1, 1, 2], 0) == "1.2")  // 1.25 → 1.2 (even)
        #expect(average([1, 1, 2, 3], 0) == "1.8")  // 1.75 → 1.8 (even)
        #expect(average([-1, -2], 0) == "-1.5")
    }

    /// The HL7 average self-measured blood pressure (CardX AverageSMBP): 96607-7 with 96608-5/96609-3, the number of
    /// measurements, the local days averaged, derivedFrom the readings, and the doubtful readings left out counted.
    @Test func homeBloodPressureIsTheAverageSelfMeasuredBPPattern() throws {
        let clock = try LocalClock(identifier: "Asia/Tokyo")
        let summary = HomeBloodPressureSummary(clock: clock)
        let day: Int64 = 86_400_000_000
        let points = [
            BloodPressurePoint(
                micros: Fixture.at0830, systolic: DecimalValue(mantissa: 1205, exponent: -1),
                diastolic: DecimalValue(mantissa: 80, exponent: 0)),
            BloodPressurePoint(
                micros: Fixture.at0830 - day, systolic: DecimalValue(mantissa: 121, exponent: 0),
                diastolic: DecimalValue(mantissa: 79, exponent: 0)),
            BloodPressurePoint(
                micros: Fixture.at0830 - 2 * day, systolic: DecimalValue(mantissa: 121, exponent: 0),
                diastolic: DecimalValue(mantissa: 82, exponent: 0)),
            BloodPressurePoint(
                micros: Fixture.at0830 - 3 * day, systolic: DecimalValue(mantissa: 160, exponent: 0),
                diastolic: DecimalValue(mantissa: 99, exponent: 0),
                flags: [.bodyMovement]),
        ]
        let through = try #require(LocalDate("2026-11-18"))
        let average = summary.sevenDayAverage(points, endingAt: through)
        let readings = [Fixture.bloodPressure()]
        let smbp = SummaryMapper.averageSelfMeasuredBloodPressure(
            average, subject: "alice", readings: readings, issuedMicros: Fixture.at0830 + 3_600_000_000)
        Fixture.dump([smbp], as: "smbp")
        let json = smbp.json
        #expect(smbp.id.hasPrefix("smbp-"))
        #expect(
            json["meta"]?["profile"]?[0]?.stringValue
                == "http://hl7.org/fhir/uv/cardx-htn-mng/StructureDefinition/average-smbp")
        #expect(
            json["extension"]?[0]?["url"]?.stringValue
                == "http://hl7.org/fhir/uv/cardx-htn-mng/StructureDefinition/NumberOfMeasurementsExt")
        #expect(json["extension"]?[0]?["valueQuantity"]?["value"]?.numberText == "3")
        #expect(json["status"]?.stringValue == "final")
        #expect(json["category"]?[0]?["coding"]?[0]?["code"]?.stringValue == "vital-signs")
        #expect(json["code"]?["coding"]?[0]?["code"]?.stringValue == "96607-7")
        #expect(json["effectivePeriod"]?["start"]?.stringValue == "2026-11-12")
        #expect(json["effectivePeriod"]?["end"]?.stringValue == "2026-11-18")
        #expect(json["issued"]?.stringValue == "2026-11-18T00:30:00Z")
        #expect(json["performer"]?[0]?["reference"]?.stringValue == "Patient/alice")
        #expect(
            json["derivedFrom"]?[0]?["reference"]?.stringValue == "Observation/"
                + (readings.first?.identity?.hex ?? "?"))
        let components = try #require(json["component"]?.arrayValue)
        #expect(components.map { $0["code"]?["coding"]?[0]?["code"]?.stringValue } == ["96608-5", "96609-3"])
        #expect(components.map { $0["valueQuantity"]?["value"]?.numberText } == ["120.8", "80.3"])
        #expect(components[0]["valueQuantity"]?["code"]?.stringValue == "mm[Hg]")
        let notes = try #require(json["note"]?.arrayValue).compactMap { $0["text"]?.stringValue }
        #expect(notes == ["Days with readings: 3 of 7.", "1 reading left out as doubtful (body_movement 1)."])

        let empty = SummaryMapper.averageSelfMeasuredBloodPressure(
            summary.sevenDayAverage([], endingAt: through), subject: "alice", readings: [], issuedMicros: 0)
        Fixture.dump([empty], as: "smbp-empty")
        #expect(
            empty.json["component"]?[0]?["dataAbsentReason"]?["coding"]?[0]?["code"]?.stringValue == "not-performed")
        #expect(empty.json["derivedFrom"] == nil)
        #expect(empty.id == smbp.id)  // the same subject and days: the same resource, revised
    }
}
