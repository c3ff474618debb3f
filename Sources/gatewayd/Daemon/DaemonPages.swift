import GatewayHTTP
import GatewayRuntime

extension GatewayDaemon {
    /// The daemon with the local pages (GatewayHTTP) beside the API on its listener.
    func withPages() -> GatewayDaemon {
        var daemon = self
        daemon.routes = { router, parts in
            Pages(
                configuration: parts.configuration, archive: parts.pipeline.archive, engine: parts.pipeline.engine,
                api: parts.api, secure: parts.secure
            ).install(on: router)
        }
        return daemon
    }
}
