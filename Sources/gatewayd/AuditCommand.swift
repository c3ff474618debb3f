import ArgumentParser
import Foundation
import GatewayRuntime
import TimeSeries

/// `gatewayd audit`: who read a person's data through the API, and what was shared downstream, from
/// DATA/audit.jsonl (DESIGN.md rule 7). A damaged line is reported with its number and skipped, so one bad line
/// never hides the rest of the record.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List the API reads and downstream shares recorded in DATA/audit.jsonl.",
        discussion: """
            One row per entry: time, kind (read: a request to `gatewayd serve`; share: data sent to a downstream \
            destination), status, who (the token's hash prefix, never the secret, or the destination), the subjects \
            whose data it touched, and the request. Refused reads (status 4xx/5xx) and failed shares are listed too. \
            Example: gatewayd audit --dir data --subject alice --since 2026-11-01 --tz Asia/Tokyo
            """)

    @Option(help: "Data directory (as given to `gatewayd serve`).")
    var dir: String

    @Option(help: "Only entries that touched this subject's data (SUBJECT or Patient/SUBJECT).")
    var subject: String?

    @Option(
        help: "Only entries at or after this time: RFC 3339 (2026-11-18T08:00:00+09:00) or a day (2026-11-18, in --tz)."
    )
    var since: String?

    @Option(help: "IANA time zone for the times shown and for a --since day.", transform: ZoneArgument.parse)
    var tz = ZoneArgument.utc

    @Flag(
        help:
            "Print the matching lines as they are in the log (JSON Lines) instead of a table; the summary goes to stderr."
    )
    var json = false

    func run() throws {
        let zone = tz.zone
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--dir \(dir): no such directory")
        }
        var sinceMicros: Int64?
        if let since {
            guard let range = DateText.range(since, zone: zone) else {
                throw ValidationError(
                    "--since '\(since)': expected RFC 3339 (2026-11-18T08:00:00Z) or a day (2026-11-18)")
            }
            sinceMicros = range.start
        }
        let wanted = subject.map { $0.hasPrefix("Patient/") ? String($0.dropFirst("Patient/".count)) : $0 }
        let path = dir + "/audit.jsonl"
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandleOutput.standardError(
                "gatewayd audit: \(path) does not exist: nothing has been read or shared yet")
            print("0 reads, 0 refused")
            return
        }
        var rows: [[String]] = [["time", "kind", "status", "who", "subjects", "request"]]
        var tally = AuditTally()
        try AuditLines.entries(in: path, since: sinceMicros, subject: wanted) { number, problem in
            tally.malformed += 1
            FileHandleOutput.standardError("gatewayd audit: \(path) line \(number): \(problem); skipped")
        } _: { entry, line in
            tally.add(entry)
            if json {
                FileHandle.standardOutput.write(Data(line + [UInt8(ascii: "\n")]))
            } else {
                rows.append(entry.row(zone: zone))
            }
        }
        if json {
            FileHandleOutput.standardError(tally.summary)
        } else {
            if rows.count > 1 { print(Self.render(rows)) } else { print("(no matching entries)") }
            print(tally.summary)
        }
    }

    /// TextTable.aligned right-aligns every column after the first; names and routes read better left-aligned, so
    /// those cells are padded to their column's width first (and the lines' trailing spaces dropped).
    static func render(_ rows: [[String]]) -> String {
        var padded = rows
        for column in [1, 3, 4, 5] {
            let width = rows.map { $0[column].count }.max() ?? 0
            for row in padded.indices {
                padded[row][column] += String(repeating: " ", count: width - padded[row][column].count)
            }
        }
        return TextTable.aligned(padded).split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in String(line.reversed().drop { $0 == " " }.reversed()) }.joined(separator: "\n")
    }
}
