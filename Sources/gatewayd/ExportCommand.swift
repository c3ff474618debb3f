import ArgumentParser
import FHIR
import Foundation
import GatewayHTTP
import GatewayRuntime
import Provenance
import StreamEngine

/// `gatewayd export`: one person's readings and summaries (window statistics and the daily clinical summaries) for a
/// period as a FHIR Bundle (type collection) — for a doctor's visit, or to move to another system. Every export is a
/// share in the audit log.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a FHIR Bundle of a subject's readings, devices and window summaries for a period.")

    @Option(help: "Data directory.")
    var dir: String

    @Option(help: "Whose data.")
    var subject: String

    @Option(help: "First day (YYYY-MM-DD, in --tz) or an RFC 3339 instant.")
    var from: String

    @Option(help: "Last day, inclusive (YYYY-MM-DD, in --tz) or an RFC 3339 instant.")
    var to: String

    @Option(help: "IANA time zone of the days and of the summaries.", transform: ZoneArgument.parse)
    var tz = ZoneArgument.utc

    @Option(help: "The file to write (default: standard output).")
    var output: String?

    @Option(help: "This gateway's identifier (its PhgDevice).")
    var gatewayID = ProcessInfo.processInfo.hostName

    @Flag(
        help:
            "The subject is a test person (configured `test: true`, the demo's): summaries are made of test data and labelled HTEST."
    )
    var testSubject = false

    func run() throws {
        let zone = tz.zone
        guard let start = DateText.range(from, zone: zone) else {
            throw ValidationError("--from '\(from)': expected YYYY-MM-DD or RFC 3339")
        }
        guard let end = DateText.range(to, zone: zone), start.start < end.end else {
            throw ValidationError("--to '\(to)': expected YYYY-MM-DD or RFC 3339, not before --from")
        }
        guard FileManager.default.fileExists(atPath: dir + "/engine.sqlite") else {
            throw ValidationError("--dir \(dir): no gateway data here (missing engine.sqlite)")
        }
        let data = try APIData(
            directory: dir, gateway: GatewayRecord(id: gatewayID, softwareVersion: GatewayVersion.current))
        let readings = try data.readings(subjects: [subject], from: start.start, to: end.end)
        // A long export shows how far it got on a terminal, and nothing in a pipe.
        let progress = Progress(total: readings.count, label: "export \(subject): readings")
        var resources: [FHIRResource] = []
        for (index, reading) in readings.enumerated() {
            resources += data.observations(of: [reading]).map(\.resource)
            if index % 200 == 0 { progress.update(index) }
        }
        progress.update(readings.count)
        progress.finish()
        // One Provenance per ledger batch the readings were accepted in, naming its entry and signature.
        let ledgerPath = dir + "/ledger/" + Ledger.fileName
        var batches: [(sequence: Int?, readings: [Reading])] = []
        for reading in readings {
            let sequence = try data.archive.ledgerSequence(of: reading)
            if let index = batches.firstIndex(where: { $0.sequence == sequence }) {
                batches[index].readings.append(reading)
            } else {
                batches.append((sequence, [reading]))
            }
        }
        for batch in batches {
            let entry = batch.sequence.flatMap { LedgerLookup.entry(sequence: $0, inFile: ledgerPath) }
            if let provenance = ProvenanceMapper.provenance(
                batch: batch.readings, ledgerEntry: entry,
                recordedMicros: entry?.recordedMicros ?? DateText.micros(Date()),
                gatewayDeviceID: data.gatewayDeviceID)
            {
                resources.append(provenance)
            }
        }
        resources += try data.devices(subjects: [subject])
        // The newest version of every window of the subject inside the period.
        var newest: [String: SummaryRevisionRecord] = [:]
        var position: Int64 = 0
        while true {
            let batch = try data.archive.summaryRevisions(after: position, limit: 2000)
            guard let last = batch.last else { break }
            position = last.sequence
            for record in batch
            where record.revision.series.subject == subject
                && record.revision.startMicros >= start.start && record.revision.endMicros <= end.end
            {
                let key = "\(record.revision.series)|\(record.revision.width.rawValue)|\(record.revision.label)"
                if (newest[key]?.revision.version ?? 0) < record.revision.version { newest[key] = record }
            }
        }
        resources += newest.keys.sorted().compactMap { key in
            newest[key].map { SummaryMapper.statistics($0.revision, unit: $0.unit, zone: zone, testData: testSubject) }
        }
        // The daily clinical summaries of each local day of the period (home BP morning and evening, resting HR,
        // RMSSD, glucose by meal), as the API and sync give them.
        let daily = DailySummaries(archive: data.archive, clock: LocalClock(zone), testSubject: testSubject)
        let now = DateText.micros(Date())
        var day = daily.clock.date(at: start.start)
        let lastDay = daily.clock.date(at: end.end - 1)
        while day <= lastDay {
            resources += try daily.summaries(subject: subject, day: day, issuedMicros: now).map(\.resource)
            day = day.adding(days: 1)
        }
        // The person and this gateway travel with their readings, so every reference resolves inside the file.
        let gateway = GatewayRecord(id: gatewayID, softwareVersion: GatewayVersion.current)
        resources.insert(DeviceMapper.phgDevice(gateway: gateway, info: data.gatewayInfo), at: 0)
        resources.insert(
            PatientMapper.patient(PatientRecord(subject: subject, test: testSubject), gatewayID: gatewayID), at: 0)
        let bundle = FHIRJSON.obj([
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": .string(FHIRTime.instant(utcMicros: DateText.micros(Date()))),
            "entry": .array(
                TransactionBundle.resolvedEntries(resources).map {
                    .obj(["fullUrl": .string($0.fullUrl), "resource": $0.json])
                }),
        ])
        let text = bundle.prettyText + "\n"
        if let output {
            guard
                FileManager.default.createFile(
                    atPath: output, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw ValidationError("--output \(output): cannot write the file")
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        try AuditLog(path: dir + "/audit.jsonl").recordShare(
            destination: "export:" + (output ?? "stdout"), subjects: [subject], resources: resources.count, status: 200,
            detail: "\(from)…\(to)")
    }
}
