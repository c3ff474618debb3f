import FHIR
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine
import TimeSeries

/// One chart of a person's page: what it shows (LOINC codes of the values, one line each), its unit, its reference
/// lines. Its points are exactly what `Observation/$stats` answers for the same subject, code and period (P1D
/// windows, averages): the page asks the same operation the API runs, so a chart never says something the API would
/// not.
package struct ChartSpec: Sendable {
    package var id: String
    package var title: PageText
    package var lines: [(code: String, label: PageText)]
    package var unit: String
    /// Reference lines (value, label): the home blood-pressure thresholds 135/85 mmHg.
    package var references: [(value: Double, label: String)] = []

    /// Morning and evening home blood pressure (drawn from the daily summaries, not `$stats`).
    package static let homeBloodPressure = ChartSpec(
        id: "home-blood-pressure", title: .homeBloodPressure, lines: [], unit: "mm[Hg]",
        references: [(135, "135"), (85, "85")])

    package static let restingHeartRate = ChartSpec(
        id: "resting-heart-rate", title: .restingHeartRate, lines: [], unit: "/min")
    package static let rmssd = ChartSpec(id: "rmssd", title: .rmssd, lines: [], unit: "ms")
    package static let lowestOxygenSaturation = ChartSpec(
        id: "spo2-lowest", title: .lowestOxygenSaturation, lines: [], unit: "%", references: [(90, "90")])
    package static let weightWeeklyChange = ChartSpec(
        id: "weight-weekly-change", title: .weightWeeklyChange, lines: [], unit: "kg", references: [(0, "0")])
    package static let glucoseByMeal = ChartSpec(id: "glucose-by-meal", title: .glucoseByMeal, lines: [], unit: "mg/dL")

    package static let all: [ChartSpec] = [
        ChartSpec(
            id: "blood-pressure", title: .bloodPressure,
            lines: [("8480-6", .systolic), ("8462-4", .diastolic)], unit: "mm[Hg]",
            references: [(135, "135"), (85, "85")]),
        ChartSpec(id: "heart-rate", title: .heartRate, lines: [("8867-4", .heartRate)], unit: "/min"),
        ChartSpec(id: "spo2", title: .oxygenSaturation, lines: [("59408-5", .oxygenSaturation)], unit: "%"),
        ChartSpec(id: "body-weight", title: .bodyWeight, lines: [("29463-7", .bodyWeight)], unit: "kg"),
        ChartSpec(id: "body-temperature", title: .bodyTemperature, lines: [("8310-5", .bodyTemperature)], unit: "Cel"),
    ]
}

/// A day's average of one line, as `$stats` gave it: the window's local start and the exact decimal text.
package struct ChartPoint: Sendable, Equatable {
    package var start: String
    package var value: String
    package var count: Int
}

/// Reads a person's charts through `$stats` and draws them as SVG (no script), with a table of the same numbers for
/// screen readers and keyboard users.
package struct PersonCharts: Sendable {
    package var api: FHIRAPI
    package var subject: String
    package var grant: APIGrant
    /// The period: the last `days` local days, today included, as `$stats` takes it (START/END, END inclusive).
    package var period: String
    package var zone: TimeZone

    package init(api: FHIRAPI, subject: String, grant: APIGrant, days: Int, now: Date) {
        (self.api, self.subject, self.grant) = (api, subject, grant)
        zone = api.subjectZones[subject] ?? api.zone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let first = calendar.date(byAdding: .day, value: -(days - 1), to: now) ?? now
        period = DateText.localDay(first, zone: zone) + "/" + DateText.localDay(now, zone: zone)
    }

    /// Days since 1970 of a "YYYY-MM-DD" text (the store's local calendar), 0 when it is not one.
    static func dayNumber(_ text: String) -> Int { LocalDate(text)?.daysSince1970 ?? 0 }

    /// The daily averages (and counts) of one code, in window order.
    package func points(code: String) throws -> (points: [ChartPoint], excluded: Int) {
        let query = APIQuery(
            APIQuery.encode([
                ("subject", subject), ("code", "http://loinc.org|" + code), ("period", period),
                ("statistic", "average,count"), ("interval", "P1D"),
            ]))
        let parameters = try StatsOperation(query, grant: grant, zone: zone).run(api.data)
        var points: [ChartPoint] = []
        var excluded = 0
        for parameter in parameters["parameter"]?.arrayValue ?? [] {
            guard let observation = parameter["resource"],
                let start = observation["effectivePeriod"]?["start"]?.stringValue
            else { continue }
            excluded += Int(observation["extension"]?[0]?["valueInteger"]?.numberText ?? "0") ?? 0
            var value: String?
            var count = 0
            for component in observation["component"]?.arrayValue ?? [] {
                switch component["code"]?["coding"]?[0]?["code"]?.stringValue {
                case "average": value = component["valueQuantity"]?["value"]?.numberText
                case "count": count = Int(component["valueInteger"]?.numberText ?? "0") ?? 0
                default: break
                }
            }
            if let value { points.append(ChartPoint(start: start, value: value, count: count)) }
        }
        return (points, excluded)
    }

    /// One chart as a figure: the SVG (a line per code, a dot per day with its exact value in a title and data
    /// attributes), the reference lines, and the table of the same values. Nil when the person has none of it.
    package func figure(_ spec: ChartSpec, language: PageLanguage) throws -> String? {
        let series = try spec.lines.map { line in
            (ChartLine(code: line.code, label: line.label.text(language)), try points(code: line.code))
        }
        return draw(spec, series, language: language)
    }

    /// One line of a chart: what its dots are tagged with (`data-code`) and what it is called.
    package struct ChartLine: Sendable {
        package var code: String
        package var label: String
    }

    /// The figure for these lines (nil when none has a point).
    func draw(
        _ spec: ChartSpec, _ series: [(ChartLine, (points: [ChartPoint], excluded: Int))], language: PageLanguage
    ) -> String? {
        guard series.contains(where: { !$0.1.points.isEmpty }) else { return nil }
        let days = Array(Set(series.flatMap { $0.1.points.map(\.start) })).sorted()
        let values = series.flatMap { $0.1.points.compactMap { Double($0.value) } } + spec.references.map(\.value)
        let low = (values.min() ?? 0) - 5
        let high = (values.max() ?? 1) + 5
        let (width, height, left, right, top, bottom) = (640.0, 240.0, 44.0, 12.0, 12.0, 28.0)
        // Days sit at their place in the period (a day without readings is a gap, not squeezed out).
        let (first, last) = (String(period.prefix(10)), String(period.suffix(10)))
        let span = max(1, Self.dayNumber(last) - Self.dayNumber(first) + 1)
        func x(_ day: String) -> Double {
            let index = Double(Self.dayNumber(String(day.prefix(10))) - Self.dayNumber(first))
            return left + (index + 0.5) / Double(span) * (width - left - right)
        }
        func y(_ value: Double) -> Double { top + (high - value) / max(high - low, 1) * (height - top - bottom) }
        let colours = ["#0b3d62", "#b3261e", "#1e6b34", "#6a3d9a"]
        var svg = """
            <svg viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-labelledby="\(spec.id)-title" \
            class="chart">
            """
        for reference in spec.references {
            let position = String(format: "%.1f", y(reference.value))
            svg += """
                <line class="reference" x1="\(Int(left))" x2="\(Int(width - right))" y1="\(position)" y2="\(position)" \
                stroke="#8a5a00" stroke-dasharray="6 4"/><text x="4" y="\(position)" font-size="12" \
                fill="#8a5a00">\(reference.label)</text>
                """
        }
        for (index, (line, result)) in series.enumerated() {
            let colour = colours[index % colours.count]
            let coordinates = result.points.compactMap { point -> String? in
                guard let value = Double(point.value) else { return nil }
                return String(format: "%.1f,%.1f", x(point.start), y(value))
            }
            if coordinates.count > 1 {
                svg +=
                    "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(coordinates.joined(separator: " "))\"/>"
            }
            for point in result.points {
                guard let value = Double(point.value) else { continue }
                // A dot carries its exact value and window (the table below says the same in words): ~100 bytes, so a
                // year of daily points stays well under the page's budget.
                svg += """
                    <circle data-code="\(line.code)" data-start="\(HTML.escape(point.start))" \
                    data-value="\(HTML.escape(point.value))" cx="\(String(format: "%.1f", x(point.start)))" \
                    cy="\(String(format: "%.1f", y(value)))" r="4" class="line\(index % colours.count)"/>
                    """
            }
        }
        svg += """
            <text x="\(Int(left))" y="\(Int(height - 8))" font-size="12">\(first)</text>\
            <text x="\(Int(width - right))" y="\(Int(height - 8))" font-size="12" text-anchor="end">\(last)</text>\
            <text x="4" y="\(Int(top + 10))" font-size="12">\(Int(high.rounded()))</text>\
            <text x="4" y="\(Int(height - bottom))" font-size="12">\(Int(low.rounded()))</text>
            """
        svg += "</svg>"
        let legend = series.enumerated().map { index, item in
            "<span class=\"line\(index % colours.count)\">● \(HTML.escape(item.0.label))</span>"
        }.joined(separator: " ")
        var rows = ""
        for day in days {
            rows += "<tr><th scope=\"row\">\(day.prefix(10))</th>"
            for (_, result) in series {
                rows += "<td>\(result.points.first { $0.start == day }.map { HTML.escape($0.value) } ?? "–")</td>"
            }
            rows += "</tr>"
        }
        let headers = series.map { "<th scope=\"col\">\(HTML.escape($0.0.label)) (\(HTML.escape(spec.unit)))</th>" }
            .joined()
        let excluded = series.reduce(0) { $0 + $1.1.excluded }
        let note =
            excluded > 0 ? "<p class=\"note\">\(PageText.doubtfulLeftOut.fill(language, String(excluded)))</p>" : ""
        return """
            <figure id="\(spec.id)" data-period="\(HTML.escape(period))">
            <h2 id="\(spec.id)-title">\(spec.title.text(language)) <small>(\(PageText.dailyAverage.text(language)), \
            \(HTML.escape(spec.unit)))</small></h2>
            <p class="legend">\(legend)</p>
            \(svg)
            \(note)
            <details><summary>\(PageText.theNumbers.text(language))</summary>
            <table><thead><tr><th scope="col">\(PageText.day.text(language))</th>\(headers)</tr></thead>
            <tbody>\(rows)</tbody></table></details>
            </figure>
            """
    }
}

extension PersonCharts {
    /// The average of one code over the whole period, as `$stats` without an interval gives it; nil without readings.
    package func average(code: String) throws -> String? {
        let query = APIQuery(
            APIQuery.encode([
                ("subject", subject), ("code", "http://loinc.org|" + code), ("period", period),
                ("statistic", "average"),
            ]))
        let parameters = try StatsOperation(query, grant: grant, zone: zone).run(api.data)
        return parameters["parameter"]?[0]?["resource"]?["component"]?[0]?["valueQuantity"]?["value"]?.numberText
    }
}

extension PersonCharts {
    /// Every daily summary of the period (`home-bp-morning`, `resting-heart-rate`, `glucose-by-meal` …) by kind,
    /// oldest first, as the API's Observation search finds them — one search for all kinds, so each day is summarised
    /// once for the page, not once per chart.
    package func summaries() throws -> [String: [ExactJSON]] {
        let (first, last) = (String(period.prefix(10)), String(period.suffix(10)))
        let codes = DailySummaries.Kind.allCases.map { DailySummaries.codeSystem + "|" + $0.rawValue }
        var hits: [ObservationHit] = []
        var offset = 0
        while true {
            let search = try ObservationSearch(
                APIQuery(
                    APIQuery.encode([
                        ("subject", subject), ("code", codes.joined(separator: ",")), ("date", "ge" + first),
                        ("date", "le" + last), ("_count", "500"), ("_offset", String(offset)),
                    ])), zone: zone)
            let page = try ObservationPage.find(search, subjects: [subject], data: api.data)
            hits += page.hits
            guard page.hasMore, offset < 5000 else { break }
            offset += 500
        }
        var result: [String: [ExactJSON]] = [:]
        for hit in hits.sorted(by: { $0.effectiveMicros < $1.effectiveMicros }) {
            let json = hit.resource.json
            let kind = (json["code"]?["coding"]?.arrayValue ?? []).first {
                $0["system"]?.stringValue == DailySummaries.codeSystem
            }?["code"]?.stringValue
            if let kind { result[kind, default: []].append(json) }
        }
        return result
    }

    /// The day a summary is about (its effective date, or its period's start).
    static func day(_ json: ExactJSON) -> String? {
        json["effectiveDateTime"]?.stringValue ?? json["effectivePeriod"]?["start"]?.stringValue
    }

    /// A chart of daily summaries: each summary gives a value to one or more lines (`values`: line code, label, value).
    func summaryChart(
        _ spec: ChartSpec, kinds: [String], from summaries: [String: [ExactJSON]], language: PageLanguage,
        dayOf: (ExactJSON) -> String? = PersonCharts.day,
        values: (String, ExactJSON) -> [(code: String, label: String, value: String)]
    ) throws -> String? {
        var lines: [(ChartLine, (points: [ChartPoint], excluded: Int))] = []
        for kind in kinds {
            for json in summaries[kind] ?? [] {
                guard let day = dayOf(json) else { continue }
                for value in values(kind, json) {
                    let point = ChartPoint(start: day, value: value.value, count: 1)
                    if let index = lines.firstIndex(where: { $0.0.code == value.code }) {
                        lines[index].1.points.append(point)
                    } else {
                        lines.append((ChartLine(code: value.code, label: value.label), ([point], 0)))
                    }
                }
            }
        }
        return draw(spec, lines, language: language)
    }

    /// Home blood pressure in the morning and in the evening, each day's mean as the daily summaries give it (the
    /// `home-bp-morning` and `home-bp-evening` Observations the API serves), with the 135/85 mmHg lines.
    package func homeBloodPressure(_ summaries: [String: [ExactJSON]], language: PageLanguage) throws -> String? {
        try summaryChart(
            .homeBloodPressure, kinds: ["home-bp-morning", "home-bp-evening"], from: summaries, language: language
        ) {
            kind, json in
            let part = (kind == "home-bp-morning" ? PageText.morning : .evening).text(language)
            return (json["component"]?.arrayValue ?? []).compactMap { component in
                guard let value = component["valueQuantity"]?["value"]?.numberText else { return nil }
                switch component["code"]?["coding"]?[0]?["code"]?.stringValue {
                case "96608-5": return (kind + "-systolic", part + " " + PageText.systolic.text(language), value)
                case "96609-3": return (kind + "-diastolic", part + " " + PageText.diastolic.text(language), value)
                default: return nil
                }
            }
        }
    }

    /// The other daily summaries: resting heart rate and RMSSD (one value a day), glucose by meal (a line per meal
    /// relation, in mg/dL), the night's lowest SpO2.
    package func dailySummaryCharts(_ summaries: [String: [ExactJSON]], language: PageLanguage) throws -> [String] {
        func single(_ kind: String, _ json: ExactJSON, _ label: PageText) -> [(
            code: String, label: String, value: String
        )] {
            json["valueQuantity"]?["value"]?.numberText.map { [(kind, label.text(language), $0)] } ?? []
        }
        var figures: [String?] = []
        figures.append(
            try summaryChart(.restingHeartRate, kinds: ["resting-heart-rate"], from: summaries, language: language) {
                single($0, $1, .restingHeartRate)
            })
        figures.append(
            try summaryChart(.rmssd, kinds: ["rmssd"], from: summaries, language: language) { single($0, $1, .rmssd) })
        figures.append(
            try summaryChart(.lowestOxygenSaturation, kinds: ["spo2-lowest"], from: summaries, language: language) {
                single($0, $1, .lowestOxygenSaturation)
            })
        figures.append(
            try summaryChart(.glucoseByMeal, kinds: ["glucose-by-meal"], from: summaries, language: language) {
                _, json in
                let components = json["component"]?.arrayValue ?? []
                let meal =
                    components.lazy.compactMap { $0["valueCodeableConcept"]?["text"]?.stringValue }.first ?? "unknown"
                guard
                    let average = components.first(where: {
                        $0["code"]?["coding"]?[0]?["code"]?.stringValue == "average"
                    }),
                    let text = average["valueQuantity"]?["value"]?.numberText,
                    let unit = average["valueQuantity"]?["code"]?.stringValue
                else { return [] }
                return [
                    ("glucose-" + meal, PageText.meal(meal, language), Self.milligramsPerDecilitre(text, unit: unit))
                ]
            })
        // The week's change in weight belongs to the day it ends on; in the scale's unit (kg or lb).
        var weight = ChartSpec.weightWeeklyChange
        weight.unit =
            summaries["weight-weekly-change"]?.first?["valueQuantity"]?["code"]?.stringValue ?? weight.unit
        figures.append(
            try summaryChart(
                weight, kinds: ["weight-weekly-change"], from: summaries, language: language,
                dayOf: { $0["effectivePeriod"]?["end"]?.stringValue }
            ) { single($0, $1, .weightWeeklyChange) })
        return figures.compactMap { $0 }
    }

    /// A glucose concentration as mg/dL, exactly: kg/L is mg/dL × 10⁻⁵, so the decimal point moves five places.
    static func milligramsPerDecilitre(_ text: String, unit: String) -> String {
        guard unit == "kg/L", let value = DecimalValue(parsing: text), value.exponent <= 122 else { return text }
        return DecimalValue(mantissa: value.mantissa, exponent: value.exponent + 5).description
    }
}
