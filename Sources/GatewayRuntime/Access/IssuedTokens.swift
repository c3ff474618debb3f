import Crypto
import FHIR
import Foundation
import Synchronization

/// A SMART Backend Services client registered with a hub (`api.clients`): a home gateway known by its public key
/// instead of a shared secret, and what the tokens it is given may do.
package struct APIClient: Sendable {
    package var id: String
    package var key: ClientPublicKey
    package var scopes: [APIToken.Scope]
}

/// Access tokens the token endpoint issued, kept in memory only: they live five minutes, and a restarted hub simply
/// makes its clients ask again (their next request gets 401, then a new token). Assertion ids (`jti`) are remembered
/// until the assertion would have expired, so a captured assertion cannot be replayed.
package final class IssuedTokens: Sendable {
    package static let lifetimeSeconds: Int64 = 300

    package init() {}
    private let state = Mutex<(tokens: [String: (token: APIToken, expires: Int64)], jtis: [String: Int64])>(([:], [:]))

    package func token(_ secret: String, nowSeconds: Int64) -> APIToken? {
        state.withLock { state in
            guard let held = state.tokens[secret], held.expires > nowSeconds else { return nil }
            return held.token
        }
    }

    /// Issues a token for `client`; nil when the assertion's jti was used before.
    package func issue(to client: APIClient, jti: String, assertionExpires: Int64, nowSeconds: Int64) -> String? {
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        return state.withLock { state in
            state.jtis = state.jtis.filter { $0.value > nowSeconds }
            state.tokens = state.tokens.filter { $0.value.expires > nowSeconds }
            guard state.jtis[client.id + "\n" + jti] == nil else { return nil }
            state.jtis[client.id + "\n" + jti] = assertionExpires
            let token = APIToken(secret: secret, scopes: client.scopes, name: client.id, client: "client:" + client.id)
            state.tokens[secret] = (token, nowSeconds + Self.lifetimeSeconds)
            return secret
        }
    }
}
