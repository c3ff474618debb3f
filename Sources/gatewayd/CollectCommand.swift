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
        let tally = IngestTally()
        let mapper = GatewayPipeline.mapperOptions(gatewayID: gatewayID, zone: zone)
        await pipeline.collect(unixSockets: sockets, zone: zone, mapper: mapper) { outcome, reading in
            await tally.add(outcome)
            if verbose {
                FileHandleOutput.standardOutput(
                    "\(outcomeLabel(outcome)) \(reading.kind.rawValue) from \(reading.device.key)")
            }
        } failed: { path, error in
            FileHandleOutput.standardError("gatewayd collect: \(path): \(error)")
            await tally.fail()
        }
        for file in imports {
            do {
                try await pipeline.importReadings(file: file) { batch in
                    await tally.add(batch.map(\.0))
                    if verbose {
                        for (outcome, pending) in batch {
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

/// DEVICE[#USER]: a device and, for a multi-user one, a user slot 0…254 (255 is the specification's "unknown user").
struct DeviceSlotArgument {
    var device: String
    var user: UInt8?

    static func parse(_ text: String, option: String, whole: String? = nil) throws -> DeviceSlotArgument {
        let parts = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let device = parts.first, !device.isEmpty else {
            throw ValidationError("\(option) '\(whole ?? text)': expected DEVICE[#USER]")
        }
        guard parts.count == 2 else { return DeviceSlotArgument(device: device) }
        guard let user = UInt8(parts[1]), user != 0xFF else {
            throw ValidationError("\(option) '\(whole ?? text)': user '\(parts[1])' is not a user slot 0…254")
        }
        return DeviceSlotArgument(device: device, user: user)
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
        let slot = try DeviceSlotArgument.parse(sides[0], option: "--map", whole: text)
        return SubjectMappingArgument(device: slot.device, user: slot.user, subject: sides[1])
    }
}
