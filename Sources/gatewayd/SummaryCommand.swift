import ArgumentParser
import Foundation
import GatewayRuntime

/// `gatewayd summary`: the clinical summaries of one subject from the stored readings — home BP morning and
/// evening averages and the 7-day average, resting heart rate, RMSSD, glucose by meal. Doubtful readings are
/// excluded and counted.
struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Clinical summaries of a subject's stored readings (doubtful ones excluded and counted).")

    @OptionGroup var location: DataLocationOptions

    @Option(help: "The subject.")
    var subject: String

    @Option(help: "IANA time zone of the subject: days, mornings and evenings are local.")
    var tz = "UTC"

    @Option(help: "The last local day (YYYY-MM-DD) of the 7-day average; default: the day of the latest reading.")
    var through: String?

    func run() throws {
        let (dir, configuration) = try location.resolve()
        let report = PersonSummaryReport(
            dir: dir, configuration: configuration, subject: subject, tz: tz, through: through)
        for line in try report.lines() { print(line) }
    }
}
