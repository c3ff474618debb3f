import GatewayRuntime
import ServiceLifecycle

/// The daemon's HTTP server: the FHIR API (its live store), /metrics, and the local pages with the daemon's pairing
/// and engine — what `gatewayd run` and `gatewayd demo` serve on one listener.
package enum DaemonHTTP {
    package static func server(_ parts: GatewayDaemon.DaemonParts) throws -> any Service {
        var api = try FHIRAPI.make(parts.configuration, store: parts.pipeline.store)
        api.scheme = parts.security.scheme
        var pages = Pages(
            configuration: parts.configuration, api: api, engine: parts.pipeline.engine,
            secure: parts.security.scheme == "https")
        pages.pairing = parts.pairing
        return try APIServer.application(
            api: api, host: parts.host, port: parts.port, security: parts.security, logger: parts.logger,
            metrics: parts.metrics, routes: { pages.install(on: $0) }, onServerRunning: parts.onServerRunning)
    }
}
