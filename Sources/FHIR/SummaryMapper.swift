import Foundation
import Provenance
import StreamEngine
import TimeSeries

/// Summaries → Observations: a window of one series in the shape FHIR `$stats` returns, and the HL7 average
/// self-measured blood pressure (CardX AverageSMBP). Ids come from what is summarised (series, width, window; subject
/// and days), so every new version of a window's summary updates the same resource instead of adding one.
public enum SummaryMapper {
    public static let summaryVersionExtension = FHIRCodes.gatewaydExtensionBase + "summary-version"
    public static let summaryIdentifierSystem = "urn:gatewayd:summary"

    /// The statistics Observation of one window revision: `code` is the metric's code, one component per statistic
    /// (observation-statistics `average`, `minimum`, `maximum`, `count` = clean readings used, `totalcount` = clean
    /// plus doubtful ones left out), `effectivePeriod` the window. Status is `preliminary` while the window is still
    /// open and `final` once it has ended (a late reading revises it again under the same id). `unit` is the
    /// series' UCUM unit; `zone` (the subject's) writes the period's end in its own offset across a DST change.
    /// `testData`: the window is a test person's (made of test data): labelled HTEST.
    public static func statistics(
        _ revision: WindowRevision, unit: String, zone: TimeZone? = nil, testData: Bool = false
    ) -> FHIRResource {
        let series = revision.series
        let aggregate = revision.summary.aggregate
        let id =
            "stats-"
            + ResourceIDs.sha256Hex(
                Array("gatewayd-stats\n\(series)\n\(revision.width.rawValue)\n\(revision.label)".utf8)
            ).prefix(40)
        let startOffset = Int(revision.label - revision.startMicros) / 1_000_000
        let endOffset =
            zone.map {
                $0.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(revision.endMicros / 1_000_000)))
            } ?? startOffset
        let code = Nomenclature.code(ofSeriesMetric: series.metric, unit: unit)
        let vitalSign = Metric(rawValue: series.metric).map { ReadingKindMapping.of($0.readingKind).vitalSign } ?? false

        var components: [ExactJSON] = []
        if aggregate.count > 0 {
            if let average = exactAverage(aggregate) {
                components.append(statistic("average", "Average", shiftedQuantity(average, unit: unit)))
            }
            if let minimum = aggregate.min {
                components.append(
                    statistic("minimum", "Minimum", Element.quantity(DecimalQuantity(minimum), ucum: unit)))
            }
            if let maximum = aggregate.max {
                components.append(
                    statistic("maximum", "Maximum", Element.quantity(DecimalQuantity(maximum), ucum: unit)))
            }
        }
        components.append(statistic("count", "Count", .integer(aggregate.count), key: "valueInteger"))
        components.append(
            statistic(
                "totalcount", "Total Count", .integer(aggregate.count + revision.summary.excludedCount),
                key: "valueInteger"))
        let excluded = revision.summary.excludedCount
        let note =
            excluded > 0
            ? "\(excluded) doubtful reading\(excluded == 1 ? "" : "s") (status bits, test data, refused time or no value) left out of the statistics."
            : nil
        return FHIRResource.make(
            "Observation", id: id,
            [
                "meta": testData ? Element.testDataMeta : nil,
                "extension": .array([
                    .obj(["url": .string(summaryVersionExtension), "valueInteger": .integer(revision.version)])
                ]),
                "identifier": .array([.obj(["system": .string(summaryIdentifierSystem), "value": .string(id)])]),
                "status": .string(revision.late ? "final" : "preliminary"),
                "category": vitalSign ? .array([Element.vitalSignsCategory]) : nil,
                "code": Element.codeable(
                    code?.codings ?? [],
                    text: (code?.text ?? series.metric) + (revision.width == .hour ? ", hourly" : ", daily")
                        + " statistics"),
                "subject": Element.reference("Patient/" + series.subject),
                "effectivePeriod": .obj([
                    "start": .string(FHIRTime.dateTime(utcMicros: revision.startMicros, offsetSeconds: startOffset)),
                    "end": .string(FHIRTime.dateTime(utcMicros: revision.endMicros, offsetSeconds: endOffset)),
                ]),
                "note": note.map { .array([.obj(["text": .string($0)])]) },
                "device": Element.reference("Device/" + ResourceIDs.phdDevice(key: series.device)),
                "component": .array(components),
            ])
    }

    static func statistic(_ code: String, _ display: String, _ value: ExactJSON, key: String = "valueQuantity")
        -> ExactJSON
    {
        .object([
            .init("code", Element.codeable([Concept(FHIRCodes.statistics, code, display)], text: display)),
            .init(key, value),
        ])
    }

    /// The exact mean rounded half to even at one decimal place finer than the finest reading (120, 121, 121 →
    /// 120.7; glucose at 0.00001 kg/L → 6 places), computed in integers from the exact sum — never through Double.
    static func exactAverage(_ aggregate: Aggregate) -> ExactDecimal? {
        guard aggregate.count > 0, let sum = aggregate.sum else { return nil }
        let places = max(0, -sum.exponent) + 1
        var numerator = sum.mantissa
        for _ in 0..<(sum.exponent + places) {
            let (next, overflow) = numerator.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            numerator = next
        }
        let denominator = Int128(aggregate.count)
        let (quotient, remainder) = numerator.quotientAndRemainder(dividingBy: denominator)
        let twice = remainder.magnitude * 2
        var rounded = quotient
        if twice > denominator.magnitude || (twice == denominator.magnitude && quotient & 1 != 0) {
            rounded += numerator < 0 ? -1 : 1
        }
        return ExactDecimal(mantissa: rounded, exponent: -places)
    }

    static func shiftedQuantity(_ value: ExactDecimal, unit: String) -> ExactJSON {
        let presentation = UnitPresentation(ucum: unit)
        let shifted = ExactDecimal(mantissa: value.mantissa, exponent: value.exponent + presentation.exponentShift)
        return Element.quantity(number: shifted.description, code: presentation.code, unit: presentation.unit)
    }

    /// The HL7 average self-measured blood pressure (CardX AverageSMBP: LOINC 96607-7 panel, 96608-5 mean
    /// systolic, 96609-3 mean diastolic, the NumberOfMeasurements extension, effectivePeriod = the local days
    /// averaged, derivedFrom = the readings' Observations). Means are the exact ones the summary computed; a period
    /// without a clean reading has no means, and says so with dataAbsentReason.
    public static func averageSelfMeasuredBloodPressure(
        _ average: SelfMeasuredBloodPressureAverage, subject: String, readings: [Reading], issuedMicros: Int64,
        unit: String = "mm[Hg]", testData: Bool = false
    ) -> FHIRResource {
        let id =
            "smbp-"
            + ResourceIDs.sha256Hex(Array("gatewayd-smbp\n\(subject)\n\(average.from)\n\(average.through)".utf8))
            .prefix(40)
        func mean(_ code: String, _ name: String, _ value: DecimalValue?) -> ExactJSON {
            let (key, json): (String, ExactJSON) =
                value.map { ("valueQuantity", Element.quantity(DecimalQuantity($0), ucum: unit)) }
                ?? (
                    "dataAbsentReason",
                    Element.dataAbsent(
                        code: "not-performed", display: "Not Performed", text: "No clean reading in the period")
                )
            return .object([.init("code", Element.codeable([.loinc(code, name)], text: name)), .init(key, json)])
        }
        var notes = [
            "Days with readings: \(average.daysWithReadings) of \(average.through.daysSince1970 - average.from.daysSince1970 + 1)."
        ]
        let excluded = average.mean.excluded
        if !excluded.isEmpty {
            let reasons = excluded.byReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
                separator: ", ")
            notes.append(
                "\(excluded.total) reading\(excluded.total == 1 ? "" : "s") left out as doubtful (\(reasons)).")
        }
        return FHIRResource.make(
            "Observation", id: id,
            [
                "meta": Element.meta(profiles: [FHIRCodes.averageSMBPProfile], testData: testData),
                "extension": .array([
                    .obj([
                        "url": .string(FHIRCodes.numberOfMeasurementsExtension),
                        "valueQuantity": .obj(["value": .integer(average.mean.count)]),
                    ])
                ]),
                "identifier": .array([.obj(["system": .string(summaryIdentifierSystem), "value": .string(id)])]),
                "status": "final",
                "category": .array([Element.vitalSignsCategory]),
                "code": Element.codeable(
                    [.loinc("96607-7", "Blood pressure panel mean systolic and mean diastolic")],
                    text: "Average self-measured blood pressure"),
                "subject": Element.reference("Patient/" + subject),
                "effectivePeriod": .obj([
                    "start": .string(average.from.description), "end": .string(average.through.description),
                ]),
                "issued": .string(FHIRTime.instant(utcMicros: issuedMicros)),
                "performer": .array([Element.reference("Patient/" + subject)]),
                "note": .array(notes.map { .obj(["text": .string($0)]) }),
                "derivedFrom": .list(
                    readings.compactMap { reading in
                        reading.identity.map {
                            Element.reference("Observation/" + ResourceIDs.observation($0, of: reading))
                        }
                    }),
                "component": .array([
                    mean("96608-5", "Systolic blood pressure mean", average.mean.systolic),
                    mean("96609-3", "Diastolic blood pressure mean", average.mean.diastolic),
                ]),
            ])
    }
}

extension DecimalQuantity {
    /// The reading model's decimal from the store's: the same (mantissa, exponent).
    init(_ value: DecimalValue) { self.init(mantissa: value.mantissa, exponent: value.exponent) }
}
