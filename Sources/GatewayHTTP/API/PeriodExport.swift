import FHIR
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine
import TimeSeries

/// One person's readings and summaries for a period as a FHIR Bundle (type collection): her Observations, one
/// Provenance per ledger batch they were accepted in, her Devices, the newest version of each window statistic and the
/// daily clinical summaries of each local day — with her Patient and this gateway, so every reference resolves inside
/// the file (`gatewayd export`: a doctor's visit, or moving to another system).
package struct PeriodExport {
    package var dir: String
    package var subject: String
    /// The period, UTC microseconds, end exclusive.
    package var start: Int64
    package var end: Int64
    package var zone: TimeZone
    package var gatewayID: String
    package var testSubject: Bool

    package init(
        dir: String, subject: String, start: Int64, end: Int64, zone: TimeZone, gatewayID: String, testSubject: Bool
    ) {
        self.dir = dir
        self.subject = subject
        self.start = start
        self.end = end
        self.zone = zone
        self.gatewayID = gatewayID
        self.testSubject = testSubject
    }

    /// The Bundle and how many resources it holds; `progress(done, total)` follows the readings' Observations.
    package func bundle(progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> (
        bundle: ExactJSON, resources: Int
    ) {
        let subject = self.subject
        let zone = self.zone
        let testSubject = self.testSubject
        let gatewayID = self.gatewayID
        let dir = self.dir
        let (start, end) = (self.start, self.end)
        let data = try APIData(
            directory: dir, gateway: GatewayRecord(id: gatewayID, softwareVersion: GatewayVersion.current))
        let readings = try data.readings(subjects: [subject], from: start, to: end)
        var resources: [FHIRResource] = []
        for (index, reading) in readings.enumerated() {
            resources += data.observations(of: [reading]).map(\.resource)
            if index % 200 == 0 { progress(index, readings.count) }
        }
        progress(readings.count, readings.count)
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
        // The newest version of every window of the subject inside the period (from the windows' versions and the
        // store: what it costs follows the period).
        let newest = try data.archive.newestWindows(
            subject: subject, within: start..<end, zone: zone, testSubject: testSubject,
            nowMicros: DateText.micros(Date()))
        resources += newest.sorted {
            ($0.revision.series.description, $0.revision.width.rawValue, $0.revision.label) < (
                $1.revision.series.description, $1.revision.width.rawValue, $1.revision.label
            )
        }
        .map { SummaryMapper.statistics($0.revision, unit: $0.unit, zone: zone, testData: testSubject) }
        // The daily clinical summaries of each local day of the period (home BP morning and evening, resting HR,
        // RMSSD, glucose by meal), as the API and sync give them.
        let daily = DailySummaries(archive: data.archive, clock: LocalClock(zone), testSubject: testSubject)
        let now = DateText.micros(Date())
        var day = daily.clock.date(at: start)
        let lastDay = daily.clock.date(at: end - 1)
        while day <= lastDay {
            resources += try daily.summaries(subject: subject, day: day, issuedMicros: now).map(\.resource)
            day = day.adding(days: 1)
        }
        // The person and this gateway travel with their readings, so every reference resolves inside the file.
        let gateway = GatewayRecord(id: gatewayID, softwareVersion: GatewayVersion.current)
        resources.insert(DeviceMapper.phgDevice(gateway: gateway, info: data.gatewayInfo), at: 0)
        resources.insert(
            PatientMapper.patient(PatientRecord(subject: subject, test: testSubject), gatewayID: gatewayID), at: 0)
        let bundle = ExactJSON.obj([
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": .string(FHIRTime.instant(utcMicros: DateText.micros(Date()))),
            "entry": .array(
                TransactionBundle.resolvedEntries(resources).map {
                    .obj(["fullUrl": .string($0.fullUrl), "resource": $0.json])
                }),
        ])
        return (bundle, resources.count)
    }

    /// Writes the Bundle to `output` (readable only by its owner: it holds a person's health data) or to standard
    /// output, then records the export in the audit log as a share — every export is one (DESIGN.md rule 7).
    package func write(
        to output: String?, period: String, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) throws {
        let (bundle, resources) = try bundle(progress: progress)
        let text = bundle.prettyText + "\n"
        if let output {
            guard
                FileManager.default.createFile(
                    atPath: output, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw CannotWriteExport(path: output)
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        try AuditLog(path: dir + "/audit.jsonl").recordShare(
            destination: "export:" + (output ?? "stdout"), subjects: [subject], resources: resources, status: 200,
            detail: period)
    }
}

/// The export's file cannot be created (its directory is missing or not writable).
package struct CannotWriteExport: Error, CustomStringConvertible {
    package var path: String
    package var description: String { "--output \(path): cannot write the file" }
}
