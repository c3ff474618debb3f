import FHIR
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine
import TimeSeries

/// One page of an Observation search, read from the (subject, kind, time) index in the requested order instead of
/// mapping every reading in the range: each (subject, kind) stream gives its first `limit` readings, and a hit is
/// certain once it sorts before the last reading of every stream that was cut off. The limit grows until the page
/// (and one more hit, for the `next` link) is certain or every stream is exhausted. Then the total is known too;
/// otherwise it is left out, as FHIR allows (Bundle.total is optional), rather than paid for with the whole history.
package struct ObservationPage {
    package var hits: [ObservationHit]
    /// The coincident timestamps the hits refer to, each once (`search.mode = include`).
    package var included: [FHIRResource] = []
    /// Every match, when the streams were exhausted (nil: not counted).
    package var total: Int?
    package var hasMore: Bool

    package static func find(_ search: ObservationSearch, subjects: [String], data: APIData) throws -> ObservationPage {
        let range = search.bounds
        let need = search.offset + search.count + 1
        var received: [ObservationHit] = []
        if let store = data.received {
            received = try store.resources(type: "Observation", subjects: subjects, from: range.from, to: range.to).map
            { stored in
                ObservationHit(received: stored, decorate: data.decorate)
            }.filter(search.matches)
        }
        // Kinds whose Observations can match at all, so a search for the blood-pressure code does not walk a strap's
        // notifications. Judged on the newest reading of each kind from each of the person's devices: one kind can
        // carry different codes from different devices (a meter's capillary glucose, a CGM's interstitial glucose).
        var streams: [(subject: String, kind: ReadingKind)] = []
        for subject in subjects {
            let registered = try data.archive.devices(subjects: [subject])
            for kind in try data.archive.kinds(subject: subject).sorted(by: { $0.rawValue < $1.rawValue }) {
                let devices: [String?] = registered.filter { $0.kinds.contains(kind) }.map(\.record.key)
                for device in devices.isEmpty ? [nil] : devices {
                    guard
                        let sample = try data.archive.newestReadings(
                            subject: subject, kind: kind, device: device, limit: 1
                        )
                        .first
                    else { continue }
                    if data.observations(of: [sample]).map(\.resource).contains(where: { search.matchesCoding($0) }) {
                        streams.append((subject, kind))
                        break
                    }
                }
            }
        }
        // One reading more than the page needs: the hits before the cut-off reading are then certain to fill it.
        var limit = Swift.max(need + 1, 64)
        let nowMicros = Int64(Date().timeIntervalSince1970 * 1_000_000)
        // A day's summaries cost a day's readings: as many as the page needs (`need` counts the one for the next link),
        // not the readings' 64.
        var summaryLimit = need
        while true {
            var readings: [Reading] = []
            var cutoffs: [Int64] = []
            var summaries: [ObservationHit] = []
            if !search.summaryKinds.isEmpty {
                for subject in subjects {
                    let stream = try dailySummaries(
                        search, subject: subject, data: data, limit: summaryLimit, nowMicros: nowMicros)
                    summaries += stream.hits
                    if let cutoff = stream.cutoff { cutoffs.append(cutoff) }
                }
            }
            for stream in streams {
                let page = try data.archive.readings(
                    subject: stream.subject, kind: stream.kind, from: range.from, to: range.to,
                    descending: search.descending, limit: limit)
                readings += page
                if page.count == limit, let last = page.last { cutoffs.append(last.time.effectiveMicros) }
            }
            let mapped = data.observations(of: readings).map { pair in
                ObservationHit(pair.resource, of: pair.reading)
            }
            // Coincident timestamps are about a device: included with the readings that refer to them, not matches.
            var aboutDevices: [String: FHIRResource] = [:]
            for hit in mapped where !hit.aboutPerson { aboutDevices[hit.resource.reference] = hit.resource }
            let all = search.sorted(mapped.filter { $0.aboutPerson && search.matches($0) } + received + summaries)
            if cutoffs.isEmpty {
                let hits = Array(all.dropFirst(search.offset).prefix(search.count))
                return ObservationPage(
                    hits: hits, included: try included(hits, local: aboutDevices, data: data), total: all.count,
                    hasMore: search.count > 0 && search.offset + search.count < all.count)
            }
            // Certain: strictly before every cut-off stream's last reading in the requested order.
            let certain = all.filter { hit in
                search.descending
                    ? cutoffs.allSatisfy { hit.effectiveMicros > $0 } : cutoffs.allSatisfy { hit.effectiveMicros < $0 }
            }
            if certain.count >= need {
                let hits = Array(certain.dropFirst(search.offset).prefix(search.count))
                return ObservationPage(
                    hits: hits, included: try included(hits, local: aboutDevices, data: data), total: nil,
                    hasMore: search.count > 0)
            }
            limit *= 4
            summaryLimit *= 4
        }
    }

    /// One person's daily summaries the search names, day by day in the requested order over the days that hold a
    /// reading of their kinds, until `limit` match: so the cost is the days the page needs. `cutoff`, when days
    /// remain: no summary of those days sorts before it (ascending: the next day's start; descending: the end of the
    /// next day, or of the day after when an evening window, which may run past midnight, is asked for).
    package static func dailySummaries(
        _ search: ObservationSearch, subject: String, data: APIData, limit: Int, nowMicros: Int64
    ) throws -> (hits: [ObservationHit], cutoff: Int64?) {
        let range = search.bounds
        var first: Int64?
        var last: Int64?
        for kind in Set(search.summaryKinds.map(\.readingKind)) {
            for descending in [false, true] {
                guard
                    let reading = try data.archive.readings(
                        subject: subject, kind: kind, from: range.from, to: range.to, descending: descending, limit: 1
                    ).first
                else { continue }
                let t = reading.time.effectiveMicros
                if descending { last = Swift.max(last ?? t, t) } else { first = Swift.min(first ?? t, t) }
            }
        }
        guard let first, let last else { return ([], nil) }
        let plain = data.dailySummaries(of: subject)
        let days = plain.clock.date(at: first)...plain.clock.date(at: last)
        var hits: [ObservationHit] = []
        var day = search.descending ? days.upperBound : days.lowerBound
        // The readings are read a block of days at a time, in the direction of the search (not a query per day and
        // kind); a block is a month at most, so a first page of a long range costs what its days cost.
        var summaries = plain
        var block: ClosedRange<LocalDate>?
        while days.contains(day) {
            if !(block?.contains(day) ?? false) {
                let edge = day.adding(days: search.descending ? -30 : 30)
                let range =
                    search.descending
                    ? Swift.max(edge, days.lowerBound)...day : day...Swift.min(edge, days.upperBound)
                summaries = try plain.prefetching(subject: subject, days: range, kinds: search.summaryKinds)
                block = range
            }
            for summary in try summaries.summaries(
                subject: subject, day: day, kinds: search.summaryKinds, issuedMicros: nowMicros)
            {
                let hit = ObservationHit(
                    resource: data.decorate(summary.resource), subject: subject,
                    effectiveMicros: summary.effectiveMicros, doubtful: false)
                if search.matches(hit) { hits.append(hit) }
            }
            day = day.adding(days: search.descending ? -1 : 1)
            if hits.count >= limit, days.contains(day) {
                // A day's summaries start within it; only an evening blood-pressure window runs past midnight (into
                // the next day at most).
                let overhang = search.summaryKinds.contains(.eveningBloodPressure) ? LocalClock.microsPerDay : 0
                return (
                    hits,
                    search.descending
                        ? summaries.startMicros(of: day.adding(days: 1)) + overhang - 1 : summaries.startMicros(of: day)
                )
            }
        }
        return (hits, nil)
    }

    /// The coincident timestamps `hits` refer to, in the order first referred to, each once: mapped with the readings,
    /// or (on a hub) received.
    package static func included(_ hits: [ObservationHit], local: [String: FHIRResource], data: APIData) throws
        -> [FHIRResource]
    {
        var seen: Set<String> = []
        var included: [FHIRResource] = []
        for hit in hits {
            guard let reference = hit.coincidentTimeStampReference, seen.insert(reference).inserted else { continue }
            if let resource = local[reference] {
                included.append(resource)
            } else if reference.hasPrefix("Observation/"),
                let stored = try data.received?.resource(type: "Observation", id: String(reference.dropFirst(12)))
            {
                included.append(data.decorate(stored.resource))
            }
        }
        return included
    }
}
