import GatewayHTTP
import GatewayRuntime

extension GatewayDaemon {
    /// The daemon with the local pages (GatewayHTTP) beside the API on its listener.
    func withPages() -> GatewayDaemon {
        var daemon = self
        daemon.routes = { router, parts in
            var pages = Pages(
                configuration: parts.configuration, api: parts.api, engine: parts.pipeline.engine, secure: parts.secure)
            pages.pairing = parts.pairing
            pages.install(on: router)
        }
        return daemon
    }
}
