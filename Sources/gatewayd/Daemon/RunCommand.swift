import ArgumentParser
import Foundation
import GatewayRuntime
import Logging

/// `gatewayd run --config FILE`: the daemon a person installs and forgets (hw/gatewayd.service runs it).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract:
            "Run the gateway: devices, the durable pipeline, the FHIR API with /metrics, and PHR sync, until SIGTERM.",
        discussion: """
            Everything comes from the configuration file (README, "Configuration"; an example is hw/gatewayd.yaml). \
            Under systemd (Type=notify) it reports READY=1 once the API listens and pings the watchdog when WatchdogSec \
            is set. SIGTERM or SIGINT ends device links cleanly: every acknowledged reading is on disk before it exits.
            """)

    @OptionGroup var file: ConfigurationFile

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "notice"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level: '\(logLevel)' is not a level")
        }
        let configuration = try file.load()
        guard !configuration.api.tokens.isEmpty || configuration.api.allowLoopback else {
            throw ValidationError(
                "\(file.config): api.tokens is empty and api.allow_loopback is false, so nothing could ever be read")
        }
        // Every module's logger (GATT client, store, engine, sync) follows --log-level: one line per event on stderr.
        let logger = GatewayLogging.bootstrap(level: level)
        try await GatewayDaemon(configuration: configuration, logger: logger).withHTTP().run()
    }
}
