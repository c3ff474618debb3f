import Crypto
import FHIR
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine
import TimeSeries

/// `GET /fhir/Observation/$stats`: R4 observation statistics of one subject and code, optionally bucketed by
/// `interval` (PT1H, P1D) into windows of the subject's local time (`--tz`). Values are the exact decimals the
/// mappers put in the Observations; the average is an `ExactMean` (no Double anywhere), rounded half to even one
/// place finer than the finest value. Doubtful readings (ReadingFlags.doubtful) are left out and counted.
package struct StatsOperation: Sendable {
    package static let documentation =
        "subject (required), code (system|code, or system + code, or coding), period=START/END (dates or RFC 3339; END inclusive) or duration (hours back from now), statistic (comma list of average, minimum, maximum, count, sum, std-dev, median), interval (PT1H or P1D, windows in the subject's time zone), include (true: the source Observations too, newest first) and limit (how many of them, default 100, at most 1000). Output: Parameters with one 'statistics' Observation per window (and unit), then 'source' Observations. Doubtful readings are excluded and counted (extension excluded-count). The median reads the samples in the period; the others come from chunk statistics and rollups."
    package static let excludedExtension = FHIRCodes.gatewaydExtensionBase + "excluded-count"
    package static let supportedStatistics = ["average", "minimum", "maximum", "count", "sum", "std-dev", "median"]
    package static let known: Set<String> = [
        "subject", "patient", "code", "system", "coding", "period", "duration", "statistic", "interval", "include",
        "limit",
    ]

    package enum Interval: String, Sendable {
        case hour = "PT1H"
        case day = "P1D"
    }

    package var subject: String
    package var code: TokenParameter
    package var from: Int64
    package var to: Int64
    package var statistics: [String]
    package var interval: Interval?
    /// How many source Observations to return (R4 `include` and `limit`); 0 when not asked for.
    package var sourceLimit = 0
    package let zone: TimeZone
    package let nowMicros: Int64

    package init(_ query: APIQuery, grant: APIGrant, zone: TimeZone, now: Date = Date()) throws(APIError) {
        self.zone = zone
        nowMicros = DateText.micros(now)
        for item in query.items where !Self.known.contains(item.name) && !APIQuery.isResponseFormatting(item.name) {
            throw .badParameter(item.name, "not a parameter of $stats")
        }
        subject = try query.operationSubject(grant: grant)

        if let coding = try query.single("coding") {
            code = try TokenParameter(coding, parameter: "coding")
        } else if let text = try query.single("code") {
            let system = try query.single("system")
            code = try TokenParameter(
                system.map { s in text.split(separator: ",").map { s + "|" + $0 }.joined(separator: ",") } ?? text,
                parameter: "code")
        } else {
            throw .badParameter("code", "required (system|code, or system + code, or coding)")
        }

        if let period = try query.single("period") {
            let ends = period.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard ends.count == 2, let start = DateText.range(ends[0], zone: zone),
                let end = DateText.range(ends[1], zone: zone),
                start.start < end.end
            else {
                throw .badParameter(
                    "period", "'\(period)': expected START/END, dates or RFC 3339 date-times, START before END")
            }
            (from, to) = (start.start, end.end)
        } else if let duration = try query.single("duration") {
            guard let hours = Double(duration), hours > 0, hours <= 24 * 366 * 10 else {
                throw .badParameter("duration", "'\(duration)' is not a positive number of hours")
            }
            (from, to) = (nowMicros - Int64(hours * 3_600_000_000), nowMicros)
        } else {
            throw .badParameter("period", "period or duration is required")
        }

        statistics = query.all("statistic").flatMap { $0.split(separator: ",").map(String.init) }
        guard !statistics.isEmpty else {
            throw .badParameter("statistic", "required: \(Self.supportedStatistics.joined(separator: ", "))")
        }
        for statistic in statistics where !Self.supportedStatistics.contains(statistic) {
            throw .badParameter(
                "statistic",
                "'\(statistic)' is not supported (supported: \(Self.supportedStatistics.joined(separator: ", ")))")
        }
        if let text = try query.single("interval") {
            guard let parsed = Interval(rawValue: text) else {
                throw .badParameter("interval", "'\(text)': supported are PT1H and P1D")
            }
            interval = parsed
        }
        switch try query.single("include") {
        case nil, "false":
            if try query.single("limit") != nil { throw .badParameter("limit", "only with include=true") }
        case "true": sourceLimit = try query.integer("limit", default: 100, range: 1...1000)
        case let other?: throw .badParameter("include", "'\(other)' is not a boolean (true or false)")
        }
    }

    /// One window's tally of one unit.
    package struct Tally {
        package var code: ExactJSON
        package var unit: String
        package var mean = ExactMean()
        /// The exact sum and sum of squares (for the standard deviation).
        package var sums = Aggregate()
        package var minimum: (exact: ExactDecimal, text: String)?
        package var maximum: (exact: ExactDecimal, text: String)?
        package var excluded = 0
        /// Every clean value, kept only when the median is asked for.
        package var values: [DecimalValue] = []

        package mutating func add(_ text: String, _ value: DecimalValue, keep: Bool) {
            mean.add(value)
            sums.add(value: value, at: 0)
            extremes(value, text)
            if keep { values.append(value) }
        }

        /// A store window's clean samples: exact sum and count, minimum and maximum.
        package mutating func add(_ aggregate: Aggregate) {
            guard aggregate.count > 0 else { return }
            mean.merge(ExactMean(aggregate))
            sums.merge(aggregate)
            if let low = aggregate.min { extremes(low, low.description) }
            if let high = aggregate.max { extremes(high, high.description) }
        }

        private mutating func extremes(_ value: DecimalValue, _ text: String) {
            let exact = ExactDecimal(value)
            if minimum.map({ exact.compare($0.exact) < 0 }) ?? true { minimum = (exact, text) }
            if maximum.map({ exact.compare($0.exact) > 0 }) ?? true { maximum = (exact, text) }
        }
    }

    package func run(_ data: APIData) throws -> ExactJSON {
        var tallies: [String: Tally] = [:]
        var windows: [String: (start: Int64, end: Int64)] = [:]
        // The gateway's own readings: the store's windows of every series whose Observation element the code names
        // (chunk statistics and rollups; only the edges are decoded). Without an interval, local days make one window.
        let width: Int64 = interval == .hour ? 3_600_000_000 : 86_400_000_000
        var newest: [String: (reading: Reading, observations: [FHIRResource])?] = [:]
        // A test person's (the demo's) statistics are of test data and say so; a real person's leave test data out.
        let leftOut = data.leftOutOfSummaries(subject)
        for metric in Metric.allCases {
            var elements: [SeriesKey: MetricElement] = [:]
            let matching = try data.model.windows(
                subject: subject, metric: metric, range: from..<to, widthMicros: width, zone: zone,
                excludeFlags: leftOut
            ) { key in
                guard let element = try data.element(of: metric, subject: subject, device: key.device, newest: &newest),
                    code.matches(element.code)
                else {
                    return false
                }
                elements[key] = element
                return true
            }
            for series in matching {
                guard let element = elements[series.key] else { continue }
                for summary in series.result.windows {
                    let window =
                        interval == nil ? (start: from, end: to) : (start: summary.startMicros, end: summary.endMicros)
                    let key = "\(window.start)|\(element.unit)"
                    windows[key] = window
                    var tally = tallies[key] ?? Tally(code: element.code, unit: element.unit)
                    tally.add(summary.aggregate)
                    tally.excluded += summary.excludedCount
                    tallies[key] = tally
                }
            }
        }
        // The median is in no summary: the clean samples of the same series, by window.
        if statistics.contains("median") {
            for metric in Metric.allCases {
                var units: [SeriesKey: String] = [:]
                let series = try data.model.samples(
                    subject: subject, metric: metric, range: from..<to, excludeFlags: leftOut
                ) { key in
                    guard
                        let element = try data.element(
                            of: metric, subject: subject, device: key.device, newest: &newest),
                        code.matches(element.code)
                    else { return false }
                    units[key] = element.unit
                    return true
                }
                for (key, samples) in series {
                    for sample in samples {
                        let tallyKey = "\(window(sample.timestampMicros).start)|\(units[key] ?? "")"
                        tallies[tallyKey]?.values.append(sample.value)
                    }
                }
            }
        }
        // A hub's received Observations are tallied from the resources as they were sent.
        let received = try data.received?.resources(type: "Observation", subjects: [subject], from: from, to: to) ?? []
        for stored in received {
            let window = self.window(stored.effectiveMicros)
            // Doubtful as the measuring gateway marked it (questionable, test data, no value), like local readings.
            let doubtful = ObservationHit.receivedDoubtful(stored.resource.json)
            let resource = data.decorate(stored.resource)
            // A hub also holds uploaded window summaries: statistics of statistics would be wrong, so they are skipped.
            if resource.json["identifier"]?[0]?["system"]?.stringValue == SummaryMapper.summaryIdentifierSystem {
                continue
            }
            var elements: [ExactJSON] = [resource.json]
            elements += resource.json["component"]?.arrayValue ?? []
            for element in elements where code.matches(element["code"]) {
                let quantity = element["valueQuantity"]
                let unit = quantity?["code"]?.stringValue ?? quantity?["unit"]?.stringValue ?? ""
                let key = "\(window.start)|\(unit)"
                windows[key] = window
                var tally = tallies[key] ?? Tally(code: element["code"] ?? .null, unit: unit)
                if !doubtful, let text = quantity?["value"]?.numberText, let value = DecimalValue(parsing: text) {
                    tally.add(text, value, keep: statistics.contains("median"))
                } else {
                    tally.excluded += 1
                }
                tallies[key] = tally
            }
        }
        let keys = tallies.keys.sorted { a, b in
            let (wa, wb) = (windows[a]?.start ?? 0, windows[b]?.start ?? 0)
            return wa != wb ? wa < wb : a < b
        }
        let observations: [ExactJSON] = keys.compactMap { key in
            guard let tally = tallies[key], let window = windows[key] else { return nil }
            return observation(tally, window, testData: data.isTestPerson(subject))
        }
        var parameters = observations.map { ExactJSON.obj(["name": "statistics", "resource": $0]) }
        if sourceLimit > 0 {
            // R4's `source`: the Observations the statistics were made from (the code may name a component, such as a
            // panel's systolic), newest first, through the search's read path: at most 10 pages of 500 are looked at.
            var sources: [ExactJSON] = []
            var offset = 0
            while sources.count < sourceLimit && offset < 5000 {
                let search = try ObservationSearch(
                    APIQuery(
                        APIQuery.encode([
                            ("subject", subject), ("date", "ge" + FHIRTime.instant(utcMicros: from)),
                            ("date", "lt" + FHIRTime.instant(utcMicros: to)),
                            ("_sort", "-date"), ("_count", "500"), ("_offset", String(offset)),
                        ])), zone: zone)
                let page = try ObservationPage.find(search, subjects: [subject], data: data)
                for hit in page.hits
                where sources.count < sourceLimit
                    && !(hit.reading.map { !$0.flags.isDisjoint(with: leftOut) } ?? hit.doubtful)
                {
                    let json = hit.resource.json
                    if code.matches(json["code"])
                        || (json["component"]?.arrayValue ?? []).contains(where: { code.matches($0["code"]) })
                    {
                        sources.append(json)
                    }
                }
                guard page.hasMore else { break }
                offset += 500
            }
            parameters += sources.map { .obj(["name": "source", "resource": $0]) }
        }
        return .obj(["resourceType": "Parameters", "parameter": .list(parameters)])
    }

    /// The middle value, or the exact mean of the two middle ones (one place finer than the finer of them).
    package static func median(_ values: [DecimalValue]) -> String? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted { ExactDecimal($0).compare(ExactDecimal($1)) < 0 }
        let middle = sorted.count / 2
        if sorted.count % 2 == 1 { return sorted[middle].description }
        return ExactMean([sorted[middle - 1], sorted[middle]]).value(extraPlaces: 1)?.description
    }

    /// The window an instant falls in: the interval's local hour or day (the store's windows, from the one
    /// calendar), or the whole period.
    package func window(_ micros: Int64) -> (start: Int64, end: Int64) {
        guard let interval else { return (from, to) }
        let window = LocalClock(zone).window(
            containing: micros, widthMicros: interval == .day ? LocalClock.microsPerDay : 3_600_000_000)
        return (window.start, window.end)
    }

    package func local(_ micros: Int64) -> String {
        let offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(micros) / 1_000_000))
        return FHIRTime.dateTime(utcMicros: micros, offsetSeconds: offset)
    }

    package func observation(_ tally: Tally, _ window: (start: Int64, end: Int64), testData: Bool) -> ExactJSON {
        let seed =
            "gatewayd-api-stats\n\(subject)\n\(code.alternatives.map { ($0.system ?? "") + "|" + $0.code })\n\(interval?.rawValue ?? "period")\n\(window.start)\n\(window.end)\n\(tally.unit)"
        let id = "stats-" + Array(SHA256.hash(data: Array(seed.utf8)).prefix(20)).hexString
        func quantity(_ text: String) -> ExactJSON {
            .obj([
                "value": .number(text), "unit": .string(tally.unit), "system": .string(FHIRCodes.ucum),
                "code": .string(tally.unit),
            ])
        }
        var components: [ExactJSON] = []
        for statistic in statistics {
            let value: (String, ExactJSON)?
            switch statistic {
            case "average": value = tally.mean.value(extraPlaces: 1).map { ("valueQuantity", quantity($0.description)) }
            case "minimum": value = tally.minimum.map { ("valueQuantity", quantity($0.text)) }
            case "maximum": value = tally.maximum.map { ("valueQuantity", quantity($0.text)) }
            case "sum": value = tally.sums.sum.map { ("valueQuantity", quantity($0.description)) }
            case "std-dev":
                // Not exact by nature: two places finer than the finest value.
                let places = max(0, -(tally.mean.finestExponent ?? 0)) + 2
                value = tally.sums.standardDeviation.map {
                    ("valueQuantity", quantity(String(format: "%.\(places)f", $0)))
                }
            case "median": value = Self.median(tally.values).map { ("valueQuantity", quantity($0)) }
            default: value = ("valueInteger", .integer(tally.mean.count))
            }
            guard let value else { continue }
            components.append(
                .object([
                    .init(
                        "code",
                        .obj([
                            "coding": .array([
                                .obj(["system": .string(FHIRCodes.statistics), "code": .string(statistic)])
                            ])
                        ])),
                    .init(value.0, value.1),
                ]))
        }
        let note =
            tally.excluded > 0 ? "\(tally.excluded) doubtful or valueless reading(s) left out of the statistics." : nil
        return .obj([
            "resourceType": "Observation",
            "id": .string(id),
            "meta": testData ? Element.testDataMeta : nil,
            "extension": .array([
                .obj(["url": .string(Self.excludedExtension), "valueInteger": .integer(tally.excluded)])
            ]),
            "status": .string(window.end <= nowMicros ? "final" : "preliminary"),
            "code": tally.code,
            "subject": .obj(["reference": .string("Patient/" + subject)]),
            "effectivePeriod": .obj(["start": .string(local(window.start)), "end": .string(local(window.end))]),
            "note": note.map { .array([.obj(["text": .string($0)])]) },
            "component": .list(components),
        ])
    }
}
