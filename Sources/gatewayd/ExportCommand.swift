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
        try NoGatewayData.check(dir)
        // A long export shows how far it got on a terminal, and nothing in a pipe.
        var progress: Progress?
        try PeriodExport(
            dir: dir, subject: subject, start: start.start, end: end.end, zone: zone, gatewayID: gatewayID,
            testSubject: testSubject
        ).write(to: output, period: "\(from)…\(to)") { done, total in
            if progress == nil { progress = Progress(total: total, label: "export \(subject): readings") }
            progress?.update(done)
        }
        progress?.finish()
    }
}
