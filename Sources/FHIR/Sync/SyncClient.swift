import Foundation
import Logging
import Metrics
import Provenance
import StreamEngine
import TimeSeries

/// How a transaction Bundle reaches a destination (AsyncHTTPClient in the daemon). Throwing means the
/// destination could not be reached; an HTTP answer, whatever its status, is returned.
public protocol FHIRTransport: Sendable {
    func post(_ body: [UInt8], to url: String, bearerToken: String?) async throws -> (status: Int, body: [UInt8])
    /// An OAuth request to a token endpoint: the form as application/x-www-form-urlencoded, the answer's JSON back.
    func postForm(_ form: [(String, String)], to url: String) async throws -> (status: Int, body: [UInt8])
}

/// One share, for the audit log: what went to whom, and how it ended.
public struct ShareRecord: Sendable {
    public var destination: String
    public var subjects: [String]
    public var resources: Int
    public var status: Int
    public var detail: String?
}

/// The PHR sync of one destination: `feed` turns what the engine stored since the last time into outbox entries
/// (consent applied — nothing matching no rule is even queued), and `deliver` sends pending entries as one FHIR
/// transaction Bundle — conditional create on identifier for readings and devices, conditional update for summaries
/// — backing off exponentially, with jitter, while the destination is unreachable or failing.
public struct SyncClient: Sendable {
    public let destination: SyncDestination
    public let outbox: Outbox
    let archive: ReadingArchive
    let gateway: GatewayRecord
    /// What the gateway knows of its host for its PhgDevice (`GatewayDeviceInfo.host()` in the daemon).
    let gatewayInfo: GatewayDeviceInfo
    let zones: @Sendable (String) -> TimeZone
    /// Each person's morning and evening windows of home blood pressure.
    let dayParts: @Sendable (String) -> DayPartWindows
    let decorate: @Sendable (FHIRResource) -> FHIRResource
    /// The configured people, by subject: their Patients go in every transaction that references them.
    let persons: [String: PatientRecord]
    /// DATA/ledger/ledger.jsonl: each batch's Provenance names its ledger entry and carries its signature.
    let ledgerPath: String?
    /// The destination's access tokens under SMART Backend Services (nil: a static token, or none).
    public let tokens: SMARTTokenSource?
    let logger: Logger

    public init(
        destination: SyncDestination, outbox: Outbox, archive: ReadingArchive, gateway: GatewayRecord,
        gatewayInfo: GatewayDeviceInfo = GatewayDeviceInfo(), persons: [PatientRecord] = [], ledgerPath: String? = nil,
        zones: @escaping @Sendable (String) -> TimeZone,
        dayParts: @escaping @Sendable (String) -> DayPartWindows = { _ in .standard },
        decorate: @escaping @Sendable (FHIRResource) -> FHIRResource = { $0 },
        logger: Logger = Logger(label: "gatewayd.sync")
    ) {
        (self.destination, self.outbox, self.archive, self.gateway, self.gatewayInfo) = (
            destination, outbox, archive, gateway, gatewayInfo
        )
        (self.zones, self.dayParts, self.decorate, self.logger) = (zones, dayParts, decorate, logger)
        self.persons = Dictionary(persons.map { ($0.subject, $0) }, uniquingKeysWith: { first, _ in first })
        tokens = destination.smart.map(SMARTTokenSource.init)
        self.ledgerPath = ledgerPath
    }

    // MARK: Feeding the outbox

    /// A test person's (`PatientRecord.test`, the demo's): nothing of theirs — readings or summaries, which are made of
    /// test data — leaves unless the destination takes test data.
    func isTestPerson(_ subject: String) -> Bool { persons[subject]?.test ?? false }

    func mayShare(_ subject: String) -> Bool { destination.testData || !isTestPerson(subject) }

    /// Queues what was stored since the last call; returns how many entries were queued or revised.
    @discardableResult
    public func feed(nowMicros: Int64) throws -> Int {
        var positions = try outbox.positions(destination: destination.name) ?? (0, 0)
        var queued = 0
        while true {
            let summaries = try archive.summaryRevisions(after: positions.summaries, limit: 500)
            let readings = try archive.storedReadings(after: positions.readings, limit: 500)
            if summaries.isEmpty && readings.isEmpty { return queued }
            var entries: [Outbox.Entry] = []
            // The local days whose blood pressure changed, per person: each gets its 7-day AverageSMBP again.
            var pressureDays: [String: [LocalDate: Int64]] = [:]
            // The local days whose daily clinical summaries changed, per person: when last recorded, and which kinds.
            var summaryDays: [String: [LocalDate: (recorded: Int64, kinds: Set<DailySummaries.Kind>)]] = [:]
            for record in summaries {
                positions.summaries = record.sequence
                let series = record.revision.series
                guard destination.allowsSummary(subject: series.subject, metric: series.metric),
                    mayShare(series.subject)
                else { continue }
                let resource = decorate(
                    SummaryMapper.statistics(
                        record.revision, unit: record.unit, zone: zones(series.subject),
                        testData: isTestPerson(series.subject)))
                var entry = Self.summaryEntry(resource, subject: series.subject, record: record)
                entry.kind = SyncDestination.kind(ofSeriesMetric: series.metric)
                entries.append(entry)
                if series.metric == Metric.systolicPressure.rawValue, record.revision.width == .day {
                    let day = LocalClock(zones(series.subject)).date(at: record.revision.startMicros)
                    pressureDays[series.subject, default: [:]][day] = max(
                        pressureDays[series.subject]?[day] ?? 0, record.recordedMicros)
                }
                if record.revision.width == .day {
                    let kinds = DailySummaries.Kind.allCases.filter { $0.metric.rawValue == series.metric }
                    if !kinds.isEmpty {
                        let day = LocalClock(zones(series.subject)).date(at: record.revision.startMicros)
                        let known = summaryDays[series.subject]?[day]
                        summaryDays[series.subject, default: [:]][day] = (
                            max(known?.recorded ?? 0, record.recordedMicros), (known?.kinds ?? []).union(kinds)
                        )
                    }
                }
            }
            for subject in summaryDays.keys.sorted() {
                for (day, change) in (summaryDays[subject] ?? [:]).sorted(by: { $0.key < $1.key }) {
                    entries += try dailySummaryEntries(
                        subject: subject, day: day, kinds: change.kinds, recordedMicros: change.recorded)
                }
            }
            for subject in pressureDays.keys.sorted() {
                for (day, recorded) in (pressureDays[subject] ?? [:]).sorted(by: { $0.key < $1.key }) {
                    entries.append(
                        try averageSMBPEntry(
                            subject: subject, endingAt: day, recordedMicros: recorded, nowMicros: nowMicros))
                }
            }
            // The readings this destination may have, by stored batch and person: each such part gets its Provenance.
            var parts: [(batch: Int64, subject: String, readings: [Reading])] = []
            for record in readings {
                positions.readings = record.sequence
                guard destination.allowsRaw(record.reading), let subject = record.reading.subject, mayShare(subject)
                else { continue }
                for resource in ObservationMapper.observations(
                    for: record.reading, gatewayDeviceID: DeviceMapper.phgDeviceID(gateway))
                {
                    var entry = Self.createEntry(
                        decorate(resource), subject: subject, category: .reading,
                        measuredMicros: record.reading.time.effectiveMicros)
                    entry.kind = record.reading.kind
                    entries.append(entry)
                }
                if let index = parts.lastIndex(where: { $0.batch == record.sequence && $0.subject == subject }) {
                    parts[index].readings.append(record.reading)
                } else {
                    parts.append((record.sequence, subject, [record.reading]))
                }
            }
            for part in parts {
                if let entry = try provenanceEntry(part.readings, subject: part.subject, nowMicros: nowMicros) {
                    entries.append(entry)
                }
            }
            try outbox.enqueue(entries, destination: destination.name, positions: positions, nowMicros: nowMicros)
            queued += entries.count
        }
    }

    /// The Provenance of one person's readings of one stored batch: what they were made from, who took part, and the
    /// batch's ledger entry with its signature (over the entry's hash; a part says how many of the entry's readings it
    /// holds).
    /// R4's Provenance has no identifier, so it goes as an update of its content-derived id (`PUT Provenance/ID`):
    /// sending it again changes nothing.
    func provenanceEntry(_ readings: [Reading], subject: String, nowMicros: Int64) throws -> Outbox.Entry? {
        guard let first = readings.first else { return nil }
        let ledgerEntry = try ledgerPath.flatMap { path in
            try archive.ledgerSequence(of: first).flatMap { LedgerLookup.entry(sequence: $0, inFile: path) }
        }
        guard
            let provenance = ProvenanceMapper.provenance(
                batch: readings, ledgerEntry: ledgerEntry, recordedMicros: ledgerEntry?.recordedMicros ?? nowMicros,
                gatewayDeviceID: DeviceMapper.phgDeviceID(gateway))
        else { return nil }
        return Outbox.Entry(
            resourceKey: provenance.reference, subject: subject, category: .provenance, version: 1, method: "PUT",
            url: provenance.reference,
            ifNoneExist: nil, resource: provenance.text,
            measuredMicros: readings.map(\.time.effectiveMicros).max() ?? nowMicros)
    }

    /// The person's average self-measured blood pressure over the 7 local days ending with `day` (HL7 CardX
    /// AverageSMBP), sent again whenever that day's blood pressure changes: a conditional update on its identifier,
    /// versioned by when the change was recorded. Its `derivedFrom` names the readings when they may leave too.
    func averageSMBPEntry(subject: String, endingAt day: LocalDate, recordedMicros: Int64, nowMicros: Int64) throws
        -> Outbox.Entry
    {
        let clock = LocalClock(zones(subject))
        // UTC midnight of the date: within a day of the local one
        let dayStart = Int64(day.daysSince1970) * 86_400_000_000
        // Eight days of UTC around the seven local ones; the average keeps the readings of the local days only.
        let readings = try archive.readings(
            subject: subject, from: dayStart - 7 * 86_400_000_000, to: dayStart + 2 * 86_400_000_000,
            kind: .bloodPressure)
        let average = HomeBloodPressureSummary(
            clock: clock, excluding: .leftOutOfSummaries(testSubject: isTestPerson(subject))
        ).sevenDayAverage(readings.compactMap(BloodPressurePoint.init(reading:)), endingAt: day)
        let inWeek = readings.filter {
            (average.from...average.through).contains(clock.date(at: $0.time.effectiveMicros))
        }
        let shared = inWeek.filter(destination.allowsRaw)
        let resource = decorate(
            SummaryMapper.averageSelfMeasuredBloodPressure(
                average, subject: subject, readings: shared, issuedMicros: recordedMicros,
                testData: isTestPerson(subject)))
        let identifier = SummaryMapper.summaryIdentifierSystem + "|" + resource.id
        return Outbox.Entry(
            resourceKey: resource.reference, subject: subject, category: .summary, version: Int(recordedMicros / 1000),
            method: "PUT",
            url: "Observation?identifier=" + identifier, ifNoneExist: nil, resource: resource.text,
            measuredMicros: inWeek.map(\.time.effectiveMicros).max() ?? recordedMicros, kind: .bloodPressure)
    }

    /// The person's daily clinical summaries of `day` (home BP morning and evening, resting HR, RMSSD, glucose by meal)
    /// that this destination may have, recomputed from that day's readings because one of their windows was revised:
    /// each a conditional update on its identifier, versioned by when the change was recorded.
    func dailySummaryEntries(subject: String, day: LocalDate, kinds: Set<DailySummaries.Kind>, recordedMicros: Int64)
        throws -> [Outbox.Entry]
    {
        let allowed = kinds.filter { destination.allowsSummary(subject: subject, metric: $0.metric.rawValue) }
        guard !allowed.isEmpty else { return [] }
        let summaries = DailySummaries(
            archive: archive, clock: LocalClock(zones(subject)), windows: dayParts(subject),
            testSubject: isTestPerson(subject))
        return try summaries.summaries(subject: subject, day: day, kinds: allowed, issuedMicros: recordedMicros).map {
            summary in
            let resource = decorate(summary.resource)
            return Outbox.Entry(
                resourceKey: resource.reference, subject: subject, category: .summary,
                version: Int(recordedMicros / 1000),
                method: "PUT",
                url: "Observation?identifier=" + SummaryMapper.summaryIdentifierSystem + "|" + resource.id,
                ifNoneExist: nil, resource: resource.text, measuredMicros: summary.effectiveMicros,
                kind: summary.kind.readingKind)
        }
    }

    /// A summary: PUT on its identifier, so every new version updates the one resource upstream.
    static func summaryEntry(_ resource: FHIRResource, subject: String, record: SummaryRevisionRecord) -> Outbox.Entry {
        let identifier = SummaryMapper.summaryIdentifierSystem + "|" + resource.id
        return Outbox.Entry(
            resourceKey: resource.reference, subject: subject, category: .summary, version: record.revision.version,
            method: "PUT",
            url: "Observation?identifier=" + identifier, ifNoneExist: nil, resource: resource.text,
            measuredMicros: record.revision.summary.aggregate.last?.timestampMicros ?? record.recordedMicros)
    }

    /// A reading's Observation or a Device: POST with ifNoneExist on its first identifier, so a resend is harmless.
    static func createEntry(
        _ resource: FHIRResource, subject: String, category: Outbox.Entry.Category, measuredMicros: Int64
    ) -> Outbox.Entry {
        // A Device is matched on gatewayd's own identifier (the device key or gateway id, listed last): two sensors
        // without a System ID share the all-zero EUI-64 and must not be taken for one another.
        let identifiers = resource.json["identifier"]?.arrayValue ?? []
        let identifier = resource.resourceType == "Device" ? identifiers.last : identifiers.first
        let value = identifier?["value"]?.stringValue ?? resource.id
        let token = identifier?["system"]?.stringValue.map { $0 + "|" + value } ?? value
        return Outbox.Entry(
            resourceKey: resource.reference, subject: subject, category: category, version: 1, method: "POST",
            url: resource.resourceType,
            ifNoneExist: "identifier=" + Self.queryEncode(token), resource: resource.text,
            measuredMicros: measuredMicros)
    }

    static func queryEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:/|")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    // MARK: What a transaction references

    /// The resources a Bundle's entries may reference, by gatewayd reference: each subject's Patient (from the
    /// configuration, with this destination's identifier for the person), this gateway's PhgDevice, the PhdDevice of
    /// every device that measured the subjects (from the device registry: its newest record, every kind it gave), and
    /// any other Observation already owed to this destination. Costs the registry rows of these subjects, not history.
    func supportingEntries(subjects: [String], nowMicros: Int64) throws -> @Sendable (String) -> Outbox.Entry? {
        let phg = DeviceMapper.phgDevice(gateway: gateway, info: gatewayInfo)
        let people = Set(subjects).union(persons.keys).sorted()
        var devices: [String: RegisteredDevice] = [:]
        for device in try archive.devices(subjects: people) {
            devices[DeviceMapper.phdDeviceID(device.record)] = device
        }
        let (persons, destination, gateway, outbox, decorate) = (persons, destination, gateway, outbox, decorate)
        return { [devices] reference in
            let parts = reference.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            switch parts[0] {
            case "Patient":
                let person = persons[parts[1]] ?? PatientRecord(subject: parts[1])
                let patient = PatientMapper.patient(
                    person, gatewayID: gateway.id, destinationIdentifier: destination.patientIdentifiers[parts[1]])
                return Self.createEntry(patient, subject: parts[1], category: .patient, measuredMicros: nowMicros)
            case "Device" where parts[1] == phg.id:
                return Self.createEntry(phg, subject: "", category: .device, measuredMicros: nowMicros)
            case "Device":
                guard let device = devices[parts[1]] else { return nil }
                let phd = decorate(DeviceMapper.phdDevice(device.record, kinds: device.kinds))
                return Self.createEntry(phd, subject: "", category: .device, measuredMicros: nowMicros)
            default:
                return try? outbox.entry(destination: destination.name, resourceKey: reference)
            }
        }
    }

    // MARK: Delivering

    /// POSTs a Bundle with the destination's credentials. Under SMART Backend Services a 401 means the token was
    /// revoked or expired early: a new one is asked for once and the Bundle sent again; a second 401 is the answer.
    func send(_ bundle: ExactJSON, transport: any FHIRTransport, nowMicros: Int64) async throws -> (
        status: Int, body: [UInt8]
    ) {
        let body = Array(bundle.text.utf8)
        guard let tokens else {
            return try await transport.post(body, to: destination.baseURL, bearerToken: destination.bearerToken)
        }
        let first = try await transport.post(
            body, to: destination.baseURL,
            bearerToken: try await tokens.token(transport: transport, nowMicros: nowMicros))
        guard first.status == 401 else { return first }
        tokens.invalidate()
        logger.notice(
            "the destination refused its access token; asking for a new one",
            metadata: ["destination": "\(destination.name)"])
        return try await transport.post(
            body, to: destination.baseURL,
            bearerToken: try await tokens.token(transport: transport, nowMicros: nowMicros))
    }

    /// Answers that blame the content (a bad entry), not the destination: retrying the same Bundle cannot help.
    static let entryFault: Set<Int> = [400, 404, 409, 412, 422]

    public enum DeliveryResult: Sendable, Equatable, CustomStringConvertible {
        /// Nothing was pending.
        case idle
        /// The destination is backing off until this instant.
        case waiting(untilMicros: Int64)
        case delivered(sent: Int, refused: Int)
        /// The destination could not take the Bundle; retried after the backoff.
        case failed(String)

        /// What a pass did, as `gatewayd sync --once` says it.
        public var description: String {
            switch self {
            case .idle: "nothing to send"
            case .waiting(let until): "backing off until \(FHIRTime.instant(utcMicros: until))"
            case .delivered(let sent, let refused):
                "sent \(sent)" + (refused > 0 ? ", \(refused) refused (see gatewayd status)" : "")
            case .failed(let why): "failed: \(why) (will retry)"
            }
        }
    }

    /// What withdrawing consent removed from a destination's queue, per subject (for the audit log).
    public struct Withdrawal: Sendable, Equatable {
        public var destination: String
        public var removed: [String: Int]
    }

    /// Applies the destination's rules again to what is still owed to it, when they changed since they were last applied
    /// (consent is applied when an entry is queued; a rule withdrawn later must stop what it let in from leaving). Costs
    /// a comparison of the rules on every pass, and a walk of the queue only when they changed. Nil when nothing changed.
    @discardableResult
    public func applyConsent() throws -> Withdrawal? {
        let rules = destination.rulesText
        guard try outbox.appliedRules(destination: destination.name) != rules else { return nil }
        let removed = try outbox.withdraw(destination: destination.name, rules: rules) { subject, category, kind in
            destination.allows(subject: subject, raw: category == .reading || category == .provenance, kind: kind)
        }
        if !removed.isEmpty {
            logger.notice(
                "consent withdrawn: queued entries removed",
                metadata: [
                    "destination": "\(destination.name)", "removed": "\(removed.values.reduce(0, +))",
                ])
        }
        return Withdrawal(destination: destination.name, removed: removed)
    }

    /// Sends one Bundle of pending entries. `random` gives the jitter in [0, 1). Consent is applied again first
    /// (`applyConsent`): `onWithdraw` hears what a changed rule removed, even while the destination is down.
    public func deliver(
        transport: any FHIRTransport, nowMicros: Int64, random: @Sendable () -> Double = { Double.random(in: 0..<1) },
        onShare: @Sendable (ShareRecord) -> Void = { _ in }, onWithdraw: @Sendable (Withdrawal) -> Void = { _ in }
    ) async throws -> DeliveryResult {
        if let withdrawal = try applyConsent(), !withdrawal.removed.isEmpty { onWithdraw(withdrawal) }
        var state = try outbox.state(destination: destination.name)
        let pending = try outbox.pending(destination: destination.name, limit: destination.batchSize)
        guard !pending.isEmpty else { return .idle }
        if state.nextAttemptMicros > nowMicros { return .waiting(untilMicros: state.nextAttemptMicros) }
        let subjects = Array(Set(pending.map(\.entry.subject).filter { !$0.isEmpty })).sorted()

        func backOff(_ reason: String) throws -> DeliveryResult {
            state.failures += 1
            let backoff = Backoff(
                initialSeconds: destination.retryInitialSeconds, maximumSeconds: destination.retryMaximumSeconds)
            state.nextAttemptMicros =
                nowMicros + Int64(backoff.delay(failures: state.failures, unit: random()) * 1_000_000)
            state.lastError = reason
            try outbox.setState(state, destination: destination.name)
            Counter(label: "gatewayd_sync_failures_total", dimensions: [("destination", destination.name)]).increment()
            logger.warning(
                "sync failed; backing off",
                metadata: [
                    "destination": "\(destination.name)", "failures": "\(state.failures)", "error": "\(reason)",
                ])
            return .failed(reason)
        }

        let supporting = try supportingEntries(subjects: subjects, nowMicros: nowMicros)
        let transaction = TransactionBundle.make(pending.map(\.entry), supporting: supporting)
        let response: (status: Int, body: [UInt8])
        do {
            response = try await send(transaction.bundle, transport: transport, nowMicros: nowMicros)
        } catch let error as SMARTTokenError {
            onShare(
                ShareRecord(
                    destination: destination.name, subjects: subjects, resources: pending.count, status: 0,
                    detail: "\(error)"))
            return try backOff("no access token: \(error)")
        } catch {
            onShare(
                ShareRecord(
                    destination: destination.name, subjects: subjects, resources: pending.count, status: 0,
                    detail: "\(error)"))
            return try backOff("unreachable: \(error)")
        }
        let outcome = TransactionBundle.outcome(of: response.body)
        onShare(
            ShareRecord(
                destination: destination.name, subjects: subjects, resources: pending.count, status: response.status,
                detail: outcome.diagnostics))
        switch response.status {
        case 200..<300:
            let statuses = outcome.entryStatuses
            var sent: [(id: Int64, version: Int)] = []
            var refused = 0
            for (item, index) in zip(pending, transaction.positions) {
                let status = index < statuses.count ? statuses[index] : 0
                if (200..<300).contains(status) {
                    sent.append((item.id, item.entry.version))
                } else {
                    refused += 1
                    try outbox.markFailed(
                        id: item.id, version: item.entry.version,
                        reason: "the destination answered \(status) for this entry")
                }
            }
            try outbox.markSent(sent, nowMicros: nowMicros)
            state = Outbox.DestinationState(
                failures: 0, nextAttemptMicros: 0, lastError: nil, lastSuccessMicros: nowMicros)
            try outbox.setState(state, destination: destination.name)
            Counter(label: "gatewayd_sync_resources_sent_total", dimensions: [("destination", destination.name)])
                .increment(by: sent.count)
            return .delivered(sent: sent.count, refused: refused)
        case let status where Self.entryFault.contains(status) && pending.count > 1:
            // The transaction was refused as a whole for one bad entry: send them one by one to find it.
            var sent = 0
            var refused = 0
            for item in pending {
                let single = try await send(
                    TransactionBundle.make([item.entry], supporting: supporting).bundle, transport: transport,
                    nowMicros: nowMicros)
                if (200..<300).contains(single.status) {
                    try outbox.markSent([(item.id, item.entry.version)], nowMicros: nowMicros)
                    sent += 1
                } else {
                    refused += 1
                    let why = TransactionBundle.outcome(of: single.body).diagnostics ?? "HTTP \(single.status)"
                    try outbox.markFailed(
                        id: item.id, version: item.entry.version, reason: "refused (\(single.status)): \(why)")
                }
            }
            return .delivered(sent: sent, refused: refused)
        case let status where Self.entryFault.contains(status):
            let why = outcome.diagnostics ?? "HTTP \(response.status)"
            if let only = pending.first {
                try outbox.markFailed(
                    id: only.id, version: only.entry.version, reason: "refused (\(response.status)): \(why)")
            }
            return .delivered(sent: 0, refused: 1)
        default:
            // 401/403 (credentials), 408/429 (slow down), 5xx: the destination's problem, not the entries'.
            return try backOff("HTTP \(response.status)\(outcome.diagnostics.map { ": " + $0 } ?? "")")
        }
    }
}
