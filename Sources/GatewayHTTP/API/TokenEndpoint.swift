import Crypto
import FHIR
import Foundation
import GatewayRuntime
import Provenance
import Synchronization

/// `POST /auth/token` (SMART Backend Services, RFC 6749 client credentials with an RFC 7523 `private_key_jwt`
/// assertion): a registered client proves itself with an assertion signed by its key (ES384 or RS384) and gets an
/// access token with the scopes it was registered with. Answers are OAuth JSON, errors included.
package struct TokenEndpoint {
    package let clients: [APIClient]
    package let issued: IssuedTokens

    package static let path = "/auth/token"

    package func respond(_ request: APIRequest, nowSeconds: Int64) -> (response: APIResponse, caller: String) {
        func refuse(_ status: Int, _ error: String, _ why: String, caller: String = "none") -> (APIResponse, String) {
            (
                APIResponse(
                    status: status, body: .obj(["error": .string(error), "error_description": .string(why)]),
                    contentType: "application/json"), caller
            )
        }
        guard request.method == "POST" else { return refuse(405, "invalid_request", "the token endpoint takes POST") }
        guard (request.contentType ?? "").lowercased().hasPrefix("application/x-www-form-urlencoded") else {
            return refuse(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        }
        let form = APIQuery(String(decoding: request.body, as: UTF8.self))
        guard form.all("grant_type") == ["client_credentials"] else {
            return refuse(400, "unsupported_grant_type", "grant_type must be client_credentials")
        }
        guard form.all("client_assertion_type") == [ClientAssertion.type],
            let assertion = form.all("client_assertion").first
        else {
            return refuse(
                400, "invalid_client",
                "a client_assertion of type \(ClientAssertion.type) is required (private_key_jwt)")
        }
        let claims: ClientAssertion.Claims
        do {
            claims = try ClientAssertion.verify(
                assertion, audience: { Self.isThisEndpoint($0, host: request.host) }, nowSeconds: nowSeconds,
                key: { id in clients.first { $0.id == id }?.key })
        } catch {
            return refuse(400, "invalid_client", error.description)
        }
        guard let client = clients.first(where: { $0.id == claims.clientID }) else {
            return refuse(400, "invalid_client", "client '\(claims.clientID)' is not registered here")
        }
        guard
            let secret = issued.issue(
                to: client, jti: claims.jti, assertionExpires: claims.expiresSeconds, nowSeconds: nowSeconds)
        else {
            return refuse(400, "invalid_client", "this assertion (jti) was already used", caller: "client:" + client.id)
        }
        let scope = client.scopes.map { scope in
            (scope.subject == nil ? "system/" : "patient/") + scope.resourceType + (scope.write ? ".cud" : ".rs")
                + (scope.subject.map { "@" + $0 } ?? "")
        }.joined(separator: " ")
        let body = ExactJSON.obj([
            "access_token": .string(secret), "token_type": "bearer",
            "expires_in": .integer(IssuedTokens.lifetimeSeconds),
            "scope": .string(scope),
        ])
        return (APIResponse(status: 200, body: body, contentType: "application/json"), "client:" + client.id)
    }

    /// The assertion's audience is this endpoint as the client reached it: its path, and the Host it was asked at (a
    /// TLS proxy in front may make the scheme https).
    package static func isThisEndpoint(_ audience: String, host: String?) -> Bool {
        guard let url = URL(string: audience), url.path == path, let host else { return false }
        let authority = (url.host ?? "") + (url.port.map { ":\($0)" } ?? "")
        return authority == host && ["http", "https"].contains(url.scheme ?? "")
    }

    /// `/.well-known/smart-configuration`: where the token endpoint is and what it supports.
    package static func configuration(base: String) -> ExactJSON {
        let root = base.hasSuffix("/fhir") ? String(base.dropLast(5)) : base
        return .obj([
            "token_endpoint": .string(root + path),
            "grant_types_supported": .array(["client_credentials"]),
            "token_endpoint_auth_methods_supported": .array(["private_key_jwt"]),
            "token_endpoint_auth_signing_alg_values_supported": .array(["ES384", "RS384"]),
            "scopes_supported": .array(["system/*.cud", "system/*.rs", "patient/*.cud", "patient/*.rs"]),
            "capabilities": .array(["client-confidential-asymmetric"]),
        ])
    }
}
