import GatewayHTTP
import GatewayRuntime

extension GatewayDaemon {
    /// The daemon with its HTTP server: the FHIR API, /metrics and the local pages (GatewayHTTP) on one listener.
    func withHTTP() -> GatewayDaemon {
        var daemon = self
        daemon.server = { parts in try DaemonHTTP.server(parts) }
        return daemon
    }
}
