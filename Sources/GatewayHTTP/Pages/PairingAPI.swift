import BLEGateway
import Foundation
import GatewayRuntime
import Hummingbird

/// The daemon's pairing as JSON, for `gatewayd pair` when the daemon runs (it becomes a client of the same pairing
/// the page drives). A bearer token that may say whose every device is (a Device or `*` write scope for everyone), or
/// loopback where `api.allow_loopback` trusts it; no cookie, so no form token. Audited like every action.
///
/// - `GET /app/api/pairing?after=N`: the status once its version is past N (waits up to 25 s).
/// - `POST /app/api/pairing/{scan|choose|answer|whose|cancel}` with a `PairingRequestMessage`.
extension Pages {
    func pairingAPI(_ request: Request, action: String?, peerIsLoopback: Bool) async -> Response {
        let route = "/app/api/pairing" + (action.map { "/" + $0 } ?? "")
        let method = action == nil ? "GET" : "POST"
        let caller: String
        switch pairingCaller(request.headers[.authorization], peerIsLoopback: peerIsLoopback) {
        case .success(let name): caller = name
        case .failure(let problem):
            audit.record(caller: "none", method: method, route: route, query: nil, subjects: [], status: problem.status)
            return Self.json(problem.status, ["error": problem.message])
        }
        guard let pairing else {
            audit.record(caller: caller, method: method, route: route, query: nil, subjects: [], status: 409)
            return Self.json(409, ["error": "this gateway does not pair here (gatewayd serve has no radio)"])
        }
        guard let action else {
            let after = Int(PageForm.fields(request.uri.query ?? "")["after"] ?? "") ?? -1
            let status = await pairing.changes(after: after)
            return Self.json(200, PairingStatusMessage(status, people: configuration.subjects.map(\.id)))
        }
        let message: PairingRequestMessage
        do {
            let buffer = try await request.body.collect(upTo: Self.maximumFormBytes)
            message =
                buffer.readableBytes == 0
                ? PairingRequestMessage() : try JSONDecoder.snakeCase.decode(PairingRequestMessage.self, from: buffer)
        } catch {
            audit.record(caller: caller, method: method, route: route, query: nil, subjects: [], status: 400)
            return Self.json(400, ["error": "the request is not a pairing request: \(error)"])
        }
        let subjects: [String]
        do {
            subjects = try await pairing.perform(action, message, caller: caller)
        } catch {
            let status = error.description.hasPrefix("no pairing action") ? 404 : 409
            audit.record(caller: caller, method: method, route: route, query: nil, subjects: [], status: status)
            return Self.json(status, ["error": "\(error)"])
        }
        audit.record(caller: caller, method: method, route: route, query: nil, subjects: subjects, status: 200)
        return Self.json(200, PairingStatusMessage(await pairing.status(), people: configuration.subjects.map(\.id)))
    }

    struct CallerProblem: Error {
        var status: Int
        var message: String
    }

    /// Who may pair through the API: a token with a write scope on Device (or `*`) for everyone, or trusted loopback.
    func pairingCaller(_ authorization: String?, peerIsLoopback: Bool) -> Result<String, CallerProblem> {
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else {
            if access.allowLoopback && peerIsLoopback { return .success("loopback") }
            return .failure(CallerProblem(status: 401, message: "a bearer token is needed"))
        }
        let secret = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let token = access.token(secret: secret) else {
            return .failure(CallerProblem(status: 401, message: "the bearer token is not known to this gateway"))
        }
        guard token.mayPair else {
            return .failure(
                CallerProblem(
                    status: 403, message: "pairing needs a token with system/Device.write (it says whose a device is)"))
        }
        return .success(token.auditID)
    }

    static func json(_ status: Int, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = securityHeaders(cookies: [])
        headers[.contentType] = "application/json"
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension JSONDecoder {
    static var snakeCase: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
