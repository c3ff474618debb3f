import ArgumentParser
import BLEGateway
import Foundation
import GatewayRuntime

/// `gatewayd connect --unix PATH`: the gateway's GATT client against any peer at a socket path; prints what
/// it discovers and receives as one JSON object per line.
struct ConnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract:
            "Connect the GATT client to a device at a unix SEQPACKET socket and print what it finds, as JSON lines.",
        discussion: """
            The profile (blood pressure, glucose, heart rate) is chosen from the services discovered. Nothing is \
            stored: each reading is acknowledged to the device once its line is written to stdout, so do not \
            point this at a device whose readings you need to keep.
            """)

    @Option(help: "Socket path of the device.")
    var unix: String

    @Option(help: "Glucose: request stored records from this sequence number on (default: all).")
    var cursor: UInt16?

    @Option(help: "ATT transaction timeout in seconds.")
    var attTimeout: Double = 30

    @Option(help: "Stop after this many seconds (HR straps notify until told to stop).")
    var seconds: Double?

    @Flag(help: "One short human-readable line per reading instead of JSON.")
    var brief = false

    @Option(
        name: .customLong("cgm"),
        help: """
            A CGM's Specific Ops Control Point, before the download: start-session, stop-session, get-interval or \
            set-interval=MINUTES (repeatable, in order).
            """)
    var cgmOperations: [String] = []

    func validate() throws {
        _ = try cgmRequests()
    }

    /// The `--cgm` operations as requests; the first one not understood is named.
    func cgmRequests() throws -> [CGMSpecificOpsControlPoint] {
        try cgmOperations.map { text in
            switch text {
            case "start-session": return CGMSpecificOpsControlPoint(.startSession)
            case "stop-session": return CGMSpecificOpsControlPoint(.stopSession)
            case "get-interval": return CGMSpecificOpsControlPoint(.getCommunicationInterval)
            default:
                if text.hasPrefix("set-interval="), let minutes = UInt8(text.dropFirst("set-interval=".count)) {
                    return CGMSpecificOpsControlPoint(.setCommunicationInterval, operand: [minutes])
                }
                throw ValidationError(
                    "--cgm '\(text)': expected start-session, stop-session, get-interval or set-interval=MINUTES (0-255)"
                )
            }
        }
    }

    func run() async throws {
        let bearer: SeqPacketBearer
        do {
            bearer = try UnixSeqPacket.connect(path: unix)
        } catch {
            throw ValidationError("--unix \(unix): \(error)")
        }
        let client = GATTClient(
            bearer: bearer, options: GATTClientOptions(transactionTimeout: .milliseconds(Int64(attTimeout * 1000))))
        try await client.receiving {
            var options = ProfileSessionOptions(setDeviceClockWhenOffBy: nil, link: "unix:\(unix)")
            let database: DiscoveredDatabase
            do {
                try await client.exchangeMTU()
                database = try await client.discoverAll()
            } catch {
                FileHandleOutput.standardError("gatewayd connect: \(error)")
                throw ExitCode(1)
            }
            guard let profile = HealthProfile.of(database) else {
                FileHandleOutput.standardOutput(ProfileEvent.discovered(database).json.text)
                FileHandleOutput.standardError("gatewayd connect: no \(HealthProfile.serviceList) on this device")
                throw ExitCode(1)
            }
            let requests = try cgmRequests()
            if !requests.isEmpty, profile != .continuousGlucose {
                FileHandleOutput.standardError("gatewayd connect: --cgm needs a CGM; this is a \(profile.deviceName)")
                throw ExitCode(1)
            }
            options.cgmOperations = requests
            let stream = profile.session(client, StoredRecordCursor(next: cursor), options)
            func consume() async throws {
                for try await event in stream {
                    if brief {
                        if let line = event.briefLine { FileHandleOutput.standardOutput(line) }
                    } else {
                        FileHandleOutput.standardOutput(event.json.text)
                    }
                    if case .characteristicRead(let value) = event, let answer = value as? CGMSpecificOpsControlPoint,
                        let response = answer.response, response.code != 1
                    {
                        FileHandleOutput.standardError(
                            "gatewayd connect: the sensor refused op code \(response.request): \(CGMSpecificOpsControlPoint.responseName(response.code))"
                        )
                        throw ExitCode(1)
                    }
                    switch event {
                    case .measurement(let measurement): try await measurement.acknowledgeDurable()
                    case .malformed(let payload): try await payload.acknowledgement.acknowledgeDurable()
                    default: break
                    }
                }
            }
            do {
                if let seconds {
                    // --seconds: the link closes then, which ends the session.
                    try await withExpiry(
                        after: .milliseconds(Int64(seconds * 1000)), on: ContinuousClock(),
                        expire: { _ in client.close() }, body: consume)
                } else {
                    try await consume()
                }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                FileHandleOutput.standardError("gatewayd connect: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
