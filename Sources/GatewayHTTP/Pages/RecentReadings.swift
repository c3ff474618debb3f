import Foundation
import GatewayRuntime
import Provenance

extension Pages {
    /// A person's newest measurements (not a strap's stream), each with its time and values; a doubtful one is set apart and says why (cuff too
    /// loose, body movement, clock unknown …) — what the averages leave out. A test person's readings are all test
    /// data, which their page says once rather than on every line.
    func recentReadings(subject: String, test: Bool, language: PageLanguage, limit: Int = 12) -> String {
        // Measurements, newest first — a strap's notifications every second would push every one of them off.
        let kinds = ReadingKind.allCases.filter { $0 != .heartRate }
        let readings = kinds.flatMap { kind in
            (try? archive.newestReadings(subject: subject, kind: kind, limit: limit)) ?? []
        }.sorted { $0.time.effectiveMicros > $1.time.effectiveMicros }.prefix(limit)
        return readingList(
            Array(readings), leftOut: ReadingFlags.leftOutOfSummaries(testSubject: test), language: language,
            zone: api.subjectZones[subject] ?? api.zone)
    }

    /// Readings as a list: time, kind, values; a doubtful one (by `leftOut`) set apart with its reasons.
    func readingList(_ readings: [Reading], leftOut: ReadingFlags, language: PageLanguage, zone: TimeZone) -> String {
        guard !readings.isEmpty else { return "" }
        let format = PageFormat(language: language, zone: zone)
        var html = "<h2>\(PageText.recentReadings.text(language))</h2>\n<ul class=\"readings\">"
        for reading in readings {
            let values = reading.components.map { component -> String in
                let value = component.value.quantity.map { "\($0)" } ?? "–"
                return value + " " + component.unit
            }.joined(separator: ", ")
            let reasons = reading.flags.intersection(leftOut).labels.map { PageText.flag($0, language) }
            let doubtful = !reasons.isEmpty
            html += "<li\(doubtful ? " class=\"doubtful\" data-doubtful=\"true\"" : "")>"
            html += "<span class=\"when\">\(HTML.escape(format.time(reading.time.effectiveMicros)))</span> "
            html += "<span class=\"what\">\(HTML.escape(PageText.kind(reading.kind, language)))</span> "
            html += "<span class=\"value\">\(HTML.escape(values))</span>"
            if doubtful {
                html +=
                    " <strong class=\"why\">⚠ \(HTML.escape(PageText.doubtfulBecause.fill(language, reasons.joined(separator: ", "))))</strong>"
            }
            html += "</li>"
        }
        return html + "</ul>\n"
    }
}
