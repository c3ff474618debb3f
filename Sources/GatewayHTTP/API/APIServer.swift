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
        let read: Set<HTTPRequest.Method> = [.get, .head]
        func route(
            _ path: String, _ methods: Set<HTTPRequest.Method>,
            _ handle: @escaping @Sendable (APIRequest, Parameters, APIRequestNote) throws -> APIResponse
        ) {
            // Every method is registered: one the route does not take gets the FHIR 405 (or 404) from `unrouted`,
            // not the router's bare 404.
            for method in allMethods {
                group.on(RouterPath(path), method: method) { request, context -> Response in
                    let apiRequest = try await apiRequest(request, context)
                    context.note.caller = apiRequest.caller.auditName
                    let response =
                        methods.contains(method)
                        ? try handle(apiRequest, context.parameters, context.note) : try api.unrouted(apiRequest)
                    return FHIRHTTPResponse.make(response, pretty: APIQuery(request.uri.query).pretty)
                }
            }
        }
        // Constant path components win over parameters (`$stats` over `:id`), and both over the catch-all.
        route("/auth/token", Set(allMethods)) { try api.token($0, note: $2) }
        route("/fhir/.well-known/smart-configuration", read) { try api.smartConfiguration($0, note: $2) }
        route("/fhir", [.post]) { try api.receiveTransaction($0, note: $2) }
        route("/fhir/metadata", read) { try api.metadata($0, note: $2) }
        route("/fhir/Observation", read) { try api.searchObservations($0, note: $2) }
        route("/fhir/Observation/$stats", read.union([.post])) { try api.stats($0, note: $2) }
        route("/fhir/Observation/$lastn", read) { try api.lastN($0, note: $2) }
        route("/fhir/Observation/:id", read) { try api.observation($0, id: try $1.require("id"), note: $2) }
        route("/fhir/Device", read) { try api.devices($0, note: $2) }
        route("/fhir/Device/:id", read) { try api.device($0, id: try $1.require("id"), note: $2) }
        route("/fhir/Patient", read) { try api.patients($0, note: $2) }
        route("/fhir/Patient/:id", read) { try api.patient($0, id: try $1.require("id"), note: $2) }
        route("/fhir/Provenance", read) { try api.provenance($0, note: $2) }
        // Everything else: FHIR's 404 or 405. The router does not go back up a path once a constant component matched
        // (`/fhir/Nothing` goes down `fhir`), so each constant first component has a catch-all of its own.
        for path in ["/", "**", "/fhir/**", "/auth/**"] {
            route(path, []) { request, _, _ in try api.unrouted(request) }
        }
    }

    private static let allMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]

    /// The request as the API sees it: its body read (POST and PUT, up to `maximumBodyBytes`), its caller found.
    private static func apiRequest(_ request: Request, _ context: APIRequestContext) async throws -> APIRequest {
        var body: [UInt8] = []
        if request.method == .post || request.method == .put {
            do {
                body = Array(try await request.body.collect(upTo: maximumBodyBytes).readableBytesView)
            } catch {
                throw APIError(
                    status: 413, code: "too-costly",
                    diagnostics: "The request body is larger than \(maximumBodyBytes) bytes.")
            }
        }
        return APIRequest(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query,
            host: request.head.authority, peerIsLoopback: context.peerIsLoopback, body: body,
            contentType: request.headers[.contentType], caller: context.caller)
    }
}
