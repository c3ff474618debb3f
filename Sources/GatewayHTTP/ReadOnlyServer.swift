import Foundation
import GatewayRuntime
import Hummingbird
import Logging
import ServiceLifecycle
import StreamEngine

/// `gatewayd serve`: the FHIR API, /metrics and the pages over a data directory, reading only (a running daemon holds
/// the store) — or, as a care facility's hub (`api.hub`), accepting the homes' transactions — with the configuration's
/// sync destinations served beside it. Runs until SIGTERM or SIGINT.
package enum ReadOnlyServer {
    /// `say` is told where it listens and where it syncs to.
    package static func run(_ configuration: GatewayConfiguration, say: (String) -> Void) async throws {
        let dir = configuration.dataDirectory
        let (host, port, security) = try configuration.apiListener()
        if configuration.api.hub {
            // A hub starts empty: its archive is made on first start.
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: dir + "/engine.sqlite") {
                _ = try ReadingArchive(path: dir + "/engine.sqlite")
            }
        }
        try NoGatewayData.check(dir)
        var api = try FHIRAPI.make(configuration)
        api.scheme = security.scheme
        var logger = Logger(label: "gatewayd.serve")
        logger.logLevel = .notice
        say(
            "FHIR API on \(security.scheme)://\(configuration.api.listen)/fhir"
                + (api.hub != nil ? " (hub: accepting POST /fhir)" : "")
                + (security.fingerprint.map { "; TLS certificate SHA-256 \($0)" } ?? ""))
        let client = HTTPTransport.makeClient()
        var services: [any Service] = []
        if !configuration.destinations.isEmpty {
            let (sync, _) = try SyncService.open(configuration: configuration)
            services.append(
                SyncWorkerService(
                    sync: sync, transport: try HTTPTransport(client: client, destinations: configuration.destinations)))
            say("syncing to \(configuration.destinations.map(\.name).joined(separator: ", "))")
        }
        // The pages too, reading only: a running daemon holds the store (and says whose waiting readings are).
        let pages = Pages(configuration: configuration, api: api, engine: nil, secure: security.scheme == "https")
        let application = try APIServer.application(
            api: api, host: host, port: port, security: security, logger: logger, metrics: GatewayDaemon.registry,
            routes: { pages.install(on: $0) }, services: services)
        try await application.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        try? await client.shutdown()
    }
}
