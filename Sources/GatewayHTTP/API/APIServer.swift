import FHIR
import GatewayRuntime
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Prometheus
import ServiceLifecycle

/// The request context: Hummingbird's core storage plus whether the peer is on loopback (read from the channel's
/// remote address when the connection is accepted).
package struct APIRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let peerIsLoopback: Bool
    /// The peer's IP address ("" when unknown): what the pages' sign-in throttle counts by.
    package let peerAddress: String
    /// Who called and whose data the request touched, for the API's audit middleware.
    package let note = APIRequestNote()
    /// Who the Authorization header says is calling (`APIAuthenticationMiddleware`); what they may read is decided by
    /// the route that knows the resource.
    package var caller: APICaller = .anonymous

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        let address = source.channel.remoteAddress?.ipAddress ?? ""
        peerAddress = address
        peerIsLoopback = address == "::1" || address.hasPrefix("127.") || address.hasPrefix("::ffff:127.")
    }
}

/// Hummingbird wiring: every method on every path not taken by a more specific route (the pages, /metrics) goes to
/// `FHIRAPI`, which routes (so unknown routes and methods get FHIR OperationOutcomes too), through the API's middleware:
/// metrics, audit, and errors as OperationOutcomes.
package enum APIServer {
    /// A transaction Bundle of a day of one person's readings is well under this; larger bodies get 413.
    package static let maximumBodyBytes = 16 << 20

    /// The FHIR API, `/metrics` (Prometheus text, when `metrics` is given: to loopback callers and any valid token),
    /// `routes` (the local pages) and `services` run beside the server under its service group (SIGTERM/SIGINT shut them down gracefully).
    /// `security`: TLS (its certificate and key already in place, see `ListenerSecurity.prepare`) or plain HTTP.
    package static func application(
        api: FHIRAPI, host: String, port: Int, security: ListenerSecurity, logger: Logger,
        metrics: PrometheusCollectorRegistry? = nil, routes: (Router<APIRequestContext>) -> Void = { _ in },
        services: [any Service] = [], onServerRunning: @escaping @Sendable () async -> Void = {}
    ) throws -> some ApplicationProtocol {
        let router = Router(context: APIRequestContext.self)
        // More specific routes (the local pages under /app) before the API's catch-all.
        routes(router)
        if let metrics {
            router.get("/metrics") { request, context -> Response in
                let allowed =
                    (api.access.allowLoopback && context.peerIsLoopback)
                    || (try? api.access.grant(
                        authorization: request.headers[.authorization], peerIsLoopback: false, resourceType: nil))
                        != nil
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                guard allowed else {
                    headers[.wwwAuthenticate] = "Bearer realm=\"gatewayd\""
                    return Response(
                        status: .unauthorized, headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(string: "a bearer token is required\n")))
                }
                return Response(
                    status: .ok, headers: headers,
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
            }
        }
        install(api, on: router)
        let server: HTTPServerBuilder =
            try security.serverConfiguration().map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        return Application(
            router: router, server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "gatewayd"),
            services: services, onServerRunning: { _ in await onServerRunning() }, logger: logger)
    }

    /// The FHIR API's routes and middleware on `router` (after any more specific routes): what the server runs and
    /// what tests drive in process with HummingbirdTesting.
    package static func install(_ api: FHIRAPI, on router: Router<APIRequestContext>) {
        // Outermost first: the count and the audit see the answer the OperationOutcome middleware made of an error.
        let group = router.group()
            .add(middleware: APIMetricsMiddleware())
            .add(middleware: APIAuditMiddleware(audit: api.audit))
            .add(middleware: OperationOutcomeMiddleware())
            .add(middleware: APIAuthenticationMiddleware(access: api.access))
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]
        for method in methods {
            for path in ["/", "**"] {
                group.on(RouterPath(path), method: method) { request, context -> Response in
                    var body: [UInt8] = []
                    if method == .post || method == .put {
                        do {
                            body = Array(try await request.body.collect(upTo: maximumBodyBytes).readableBytesView)
                        } catch {
                            throw APIError(
                                status: 413, code: "too-costly",
                                diagnostics: "The request body is larger than \(maximumBodyBytes) bytes.")
                        }
                    }
                    let apiRequest = APIRequest(
                        method: request.method.rawValue, path: request.uri.path, query: request.uri.query,
                        host: request.head.authority,
                        peerIsLoopback: context.peerIsLoopback, body: body, contentType: request.headers[.contentType],
                        caller: context.caller)
                    return FHIRHTTPResponse.make(
                        try api.route(apiRequest, note: context.note), pretty: APIQuery(request.uri.query).pretty)
                }
            }
        }
    }
}
