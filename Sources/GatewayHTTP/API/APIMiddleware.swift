import FHIR
import GatewayRuntime
import Hummingbird
import Metrics
import Synchronization

/// Who called and whose data a request touched: the handler says (once it knows the token and the subjects), and the
/// audit middleware, which runs around it, reads it when the answer is known.
package final class APIRequestNote: Sendable {
    private let state = Mutex<(caller: String, subjects: [String])>(("none", []))

    package init() {}

    package var caller: String {
        get { state.withLock { $0.caller } }
        set { state.withLock { $0.caller = newValue } }
    }

    package var subjects: [String] {
        get { state.withLock { $0.subjects } }
        set { state.withLock { $0.subjects = newValue } }
    }
}

/// Every API request in the audit log (DESIGN.md rule 7): who, the route and query, whose data, and the answer's
/// status — refused and failed requests too, since the middleware inside it has made every error an answer.
struct APIAuditMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let audit: AuditLog

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let response = try await next(request, context)
        audit.record(
            caller: context.note.caller, method: request.method.rawValue, route: request.uri.path,
            query: request.uri.query, subjects: context.note.subjects, status: Int(response.status.code))
        return response
    }
}

/// Authentication: who the bearer token says is calling, found once per request — a configured token, one the token
/// endpoint issued, an unknown one, or none — and named for the audit log. It refuses nothing itself: the route that
/// knows the resource asks the grant (so an unknown route is a 404 and a wrong method a 405 before any 401, and a token
/// refused for a resource is audited by its name).
struct APIAuthenticationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let access: APIAccess

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.caller = access.caller(authorization: request.headers[.authorization])
        context.note.caller = context.caller.auditName
        return try await next(request, context)
    }
}

/// `gatewayd_api_requests_total{status}`: what the API answered, counted for /metrics.
struct APIMetricsMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let response = try await next(request, context)
        Counter(label: "gatewayd_api_requests_total", dimensions: [("status", String(response.status.code))])
            .increment()
        return response
    }
}

/// Errors as FHIR answers them: an `APIError` a handler throws becomes its OperationOutcome with its status (401 with
/// the Bearer challenge); anything else is a 500 whose OperationOutcome says what failed. Every body is FHIR JSON.
struct OperationOutcomeMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return FHIRHTTPResponse.make(
                APIResponse(status: error.status, body: error.outcome), pretty: APIQuery(request.uri.query).pretty)
        } catch {
            let failure = APIError(status: 500, code: "exception", diagnostics: "Internal error: \(error)")
            return FHIRHTTPResponse.make(
                APIResponse(status: 500, body: failure.outcome), pretty: APIQuery(request.uri.query).pretty)
        }
    }
}

/// An `APIResponse` as HTTP: application/fhir+json (or the token endpoint's application/json, never cached), the
/// Bearer challenge on a 401, `_pretty=true` indented.
enum FHIRHTTPResponse {
    static func make(_ response: APIResponse, pretty: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/fhir+json; charset=utf-8"
        if response.status == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"gatewayd\"" }
        if let contentType = response.contentType {
            headers[.contentType] = contentType
            headers[.cacheControl] = "no-store"  // OAuth: token responses are never cached
        }
        let text = (pretty ? response.body.prettyText : response.body.text) + "\n"
        return Response(
            status: HTTPResponse.Status(code: response.status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
