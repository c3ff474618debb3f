import ArgumentParser
import BLEGateway
import Foundation
import GatewayRuntime
import Logging
import Provenance
import StreamEngine
import TimeSeries

/// `gatewayd collect`: the whole pipeline — session, provenance, dedupe, durable store, ledger, acknowledgement —
/// against devices at unix SEQPACKET sockets (simulated ones, or any scripted peer), without the daemon.
struct CollectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract:
            "Connect to devices at unix sockets and store their readings durably, with provenance and the ledger.",
        discussion: """
            A reading is acknowledged to its device (indication confirmed, stored-record cursor advanced) only after \
            it is durable. Readings whose (device, user) has no subject are held in quarantine until `--map` names one.
            Example: gatewayd collect --dir data --unix /tmp/bp.sock --map 00-1B-C5-00-00-00-04-17#1=alice
            """)

    @Option(help: "Data directory (store, engine archive, ledger).")
    var dir: String

    @Option(name: .customLong("unix"), help: "A device's socket path (repeat for several devices).")
    var sockets: [String] = []

    @Option(
        name: .customLong("import"),
        help: "A file of readings, one JSON `Reading` per line (e.g. exported by another gateway). Repeatable.")
    var imports: [String] = []

    @Option(
        name: .customLong("map"), help: "DEVICE[#USER]=SUBJECT: whose readings a device (user slot) takes. Repeatable.")
    var mappings: [String] = []

    @Option(
        help: "IANA time zone of the subjects and of device clocks without zone information.",
        transform: ZoneArgument.parse)
    var tz = ZoneArgument.utc

    @Option(help: "This gateway's identifier, recorded with every reading.")
    var gatewayID = ProcessInfo.processInfo.hostName

    @Option(help: "The gateway's Ed25519 key file (created with mode 0600 when missing): signs every ledger entry.")
    var key: String?

    @Flag(help: "Print one line per reading stored.")
    var verbose = false

    func run() async throws {
        let zone = tz.zone
        let parsedMappings = try mappings.map(SubjectMappingArgument.parse)
        let signingKey = try key.map { path in
            do { return try GatewayKey.loadOrCreatePublishing(at: path) } catch {
                throw ValidationError("--key \(path): \(error)")
            }
        }
        let pipeline = try GatewayPipeline.open(directory: dir, zone: zone, key: signingKey)
        defer { pipeline.close() }
        for mapping in parsedMappings {
            let released = try await pipeline.engine.mapSubject(
                deviceKey: mapping.device, userID: mapping.user, subject: mapping.subject)
            if released > 0 {
                FileHandleOutput.standardError("released \(released) quarantined reading(s) to \(mapping.subject)")
            }
        }
        let tally = OutcomeTally()
        let mapper = GatewayPipeline.mapperOptions(gatewayID: gatewayID, zone: zone)
        await withTaskGroup(of: Void.self) { group in
            for path in sockets {
                group.addTask {
                    do {
                        let bearer = try UnixSeqPacket.connect(path: path)
                        try await pipeline.collect(bearer: bearer, link: "unix:\(path)", zone: zone, mapper: mapper) {
                            outcome, reading in
                            await tally.add(outcome)
                            if verbose {
                                FileHandleOutput.standardOutput(
                                    "\(outcomeLabel(outcome)) \(reading.kind.rawValue) from \(reading.device.key)")
                            }
                        }
                    } catch {
                        FileHandleOutput.standardError("gatewayd collect: \(path): \(error)")
                        await tally.fail()
                    }
                }
            }
        }
        for file in imports {
            // A file's readings wait for no confirmation: they go through the engine a decoded chunk at a time, in
            // full batches (one journal transaction, one fsync, one ledger entry each), while the next chunk decodes.
            // A bad line ends the file there, after everything before it is stored.
            do {
                for try await chunk in ReadingFile.readings(path: file) {
                    let outcomes = try await pipeline.engine.ingest(batch: chunk)
                    await tally.add(outcomes)
                    if verbose {
                        for (outcome, pending) in zip(outcomes, chunk) {
                            FileHandleOutput.standardOutput(
                                "\(outcomeLabel(outcome)) \(pending.reading.kind.rawValue) from \(file)")
                        }
                    }
                }
            } catch {
                FileHandleOutput.standardError("gatewayd collect: --import \(file): \(error)")
                await tally.fail()
            }
        }
        // What is still pending gets its final version before the command ends.
        await pipeline.engine.flushSummaries(all: true)
        let totals = await tally.totals
        FileHandleOutput.standardOutput(
            "stored \(totals.stored), duplicates \(totals.duplicates), quarantined \(totals.quarantined), rejected \(totals.rejected); "
                + "\(try pipeline.archive.storedReadingCount()) readings in \(dir)")
        if totals.failures > 0 { throw ExitCode(1) }
    }
}

/// DEVICE[#USER]=SUBJECT.
struct SubjectMappingArgument {
    var device: String
    var user: UInt8?
    var subject: String

    static func parse(_ text: String) throws -> SubjectMappingArgument {
        let sides = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard sides.count == 2, !sides[0].isEmpty, !sides[1].isEmpty else {
            throw ValidationError(
                "--map '\(text)': expected DEVICE[#USER]=SUBJECT, e.g. 00-1B-C5-00-00-00-04-17#1=alice")
        }
        let deviceParts = sides[0].split(separator: "#", maxSplits: 1).map(String.init)
        var user: UInt8?
        if deviceParts.count == 2 {
            guard let parsed = UInt8(deviceParts[1]) else {
                throw ValidationError("--map '\(text)': user '\(deviceParts[1])' is not a user slot 0…255")
            }
            user = parsed
        }
        return SubjectMappingArgument(device: deviceParts[0], user: user, subject: sides[1])
    }
}

actor OutcomeTally {
    struct Totals {
        var stored = 0, duplicates = 0, quarantined = 0, rejected = 0, failures = 0
    }
    private(set) var totals = Totals()

    func add(_ outcomes: [IngestOutcome]) {
        for outcome in outcomes { add(outcome) }
    }

    func add(_ outcome: IngestOutcome) {
        switch outcome {
        case .stored: totals.stored += 1
        case .duplicate: totals.duplicates += 1
        case .quarantined: totals.quarantined += 1
        case .rejected: totals.rejected += 1
        }
    }

    func fail() { totals.failures += 1 }
}
