import ArgumentParser
import Foundation
import GatewayRuntime

/// `gatewayd sync`: the PHR sync of a configuration's destinations, once (for cron and tests) or until stopped.
/// `gatewayd serve --config` runs the same workers next to the API.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Send consented summaries (and raw readings where allowed) to the configured FHIR destinations.",
        discussion: """
            Reads the destinations and their consent rules from the configuration (README, "Configuration"). What was \
            stored since the last run is queued in DATA/outbox.sqlite and sent as FHIR transaction Bundles; a destination \
            that is down is retried with exponential backoff. `gatewayd status --config` shows each destination's \
            pending, sent and refused entries and the lag from measurement to upload.
            """)

    @OptionGroup var file: ConfigurationFile

    @Flag(help: "One pass over every destination (feed, then send what is due), then exit.")
    var once = false

    @Option(name: .customLong("retry-failed"), help: "Put the entries DESTINATION refused back in the queue first.")
    var retryFailed: String?

    func run() async throws {
        let configuration = try file.load()
        guard !configuration.destinations.isEmpty else {
            throw ValidationError("\(file.config): no sync destinations are configured")
        }
        try NoGatewayData.check(configuration.dataDirectory, givenAs: "data_directory")
        let (service, outbox) = try SyncService.open(configuration: configuration)
        if let retryFailed {
            guard configuration.destinations.contains(where: { $0.name == retryFailed }) else {
                throw ValidationError("--retry-failed: no destination is named '\(retryFailed)'")
            }
            let count = try outbox.retryFailed(destination: retryFailed)
            FileHandleOutput.standardError(
                "gatewayd sync: \(count) refused entr\(count == 1 ? "y" : "ies") of \(retryFailed) queued again")
        }
        let client = HTTPTransport.makeClient()
        let transport = try HTTPTransport(client: client, destinations: configuration.destinations)
        if once {
            for (name, result) in await service.runOnce(transport: transport) {
                print("\(name): \(result)")
            }
        } else {
            FileHandleOutput.standardError(
                "gatewayd sync: \(configuration.destinations.count) destination(s); Ctrl-C to stop")
            await service.run(transport: transport)
        }
        try await client.shutdown()
    }
}
