import ArgumentParser
import Foundation
import GatewayHTTP
import GatewayRuntime

/// `gatewayd serve`: the local read-only FHIR API over the data directory's archive.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Serve the stored readings as a read-only FHIR R4 API (Observation, Device, Provenance, $stats, $lastn).",
        discussion: """
            Every route, /fhir/metadata included, needs `Authorization: Bearer TOKEN` (DESIGN.md rule 7). Scopes (SMART style, read only): \
            system/*.read (everything), system/Observation.read, system/Device.read; patient/*.read@SUBJECT (or \
            patient/Observation.read@SUBJECT …) sees only SUBJECT's resources. --allow-loopback lets requests from a \
            loopback peer (127.0.0.0/8, ::1) in without a token. Every read is appended to DATA/audit.jsonl.
            Example: gatewayd serve --dir data --listen 127.0.0.1:8080 --tz Asia/Tokyo --token s3cret=system/*.read \
            --token alice-phone=patient/*.read@alice
            """)

    @Option(
        help:
            "The configuration file: data directory, subjects and zones, API tokens, hub mode, sync destinations. The other options are for use without one."
    )
    var config: String?

    @Option(help: "Data directory (as given to `gatewayd collect`).")
    var dir: String?

    @Option(help: "HOST:PORT to listen on (IPv6: [::1]:8080).")
    var listen = "127.0.0.1:8080"

    @Option(
        help: "IANA time zone of the subjects: date-only search values and $stats windows are local.",
        transform: ZoneArgument.parse)
    var tz = ZoneArgument.utc

    @Option(
        name: .customLong("token"),
        help: "TOKEN=SCOPE[,SCOPE…], e.g. s3cret=system/*.read or t2=patient/*.read@alice. Repeatable.")
    var tokens: [String] = []

    @Flag(help: "Let requests from a loopback peer in without a token.")
    var allowLoopback = false

    @Flag(
        help:
            "Plain HTTP on a --listen address off loopback (tokens and readings then cross the network in clear text). Without it such an address gets TLS with the gateway's own certificate (DATA/tls/)."
    )
    var plainHTTP = false

    @Option(help: "This gateway's identifier (its PhgDevice).")
    var gatewayID = ProcessInfo.processInfo.hostName

    func run() async throws {
        let configuration = try resolvedConfiguration()
        guard !configuration.api.tokens.isEmpty || configuration.api.allowLoopback else {
            throw ValidationError(
                "--token: give at least one token (or --allow-loopback), or nothing could ever be read")
        }
        try await ReadOnlyServer.run(configuration) { FileHandleOutput.standardError("gatewayd serve: " + $0) }
    }

    /// The configuration file, or one made of the command-line options.
    func resolvedConfiguration() throws -> GatewayConfiguration {
        if let config {
            return try ConfigurationFile.load(config)
        }
        guard let dir else { throw ValidationError("give --config FILE, or --dir DATA with --token/--allow-loopback") }
        let zone = tz.zone
        var configuration = GatewayConfiguration(
            file: "(command line)", dataDirectory: dir, gatewayID: gatewayID, signingKeyFile: nil, defaultZone: zone)
        configuration.api.listen = listen
        configuration.api.allowLoopback = allowLoopback
        configuration.api.plainHTTP = plainHTTP
        configuration.api.tokens = try tokens.map { text in
            do { return try APIToken.parse(text) } catch { throw ValidationError("--token: \(error)") }
        }
        return configuration
    }
}
