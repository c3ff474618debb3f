import Foundation
import Provenance
import Synchronization

/// How a destination is reached with SMART Backend Services: a client registered at the PHR with this gateway's public
/// key asks the token endpoint for short-lived access tokens (client credentials, `private_key_jwt`).
public struct SMARTBackendSettings: Sendable {
    public var tokenURL: String
    public var clientID: String
    /// The scopes asked for (space-separated, SMART v1 or v2 syntax).
    public var scope: String
    /// The `kid` of the key in the client's registered JWK set, when the server needs it to pick the key.
    public var keyID: String?
    public var key: ClientKey

    public static let defaultScope = "system/Patient.cud system/Device.cud system/Observation.cud system/Provenance.cud"

    public init(tokenURL: String, clientID: String, scope: String = defaultScope, keyID: String? = nil, key: ClientKey)
    {
        (self.tokenURL, self.clientID, self.scope, self.keyID, self.key) = (tokenURL, clientID, scope, keyID, key)
    }
}

/// Why no access token could be had, named as the token endpoint said it.
public struct SMARTTokenError: Error, CustomStringConvertible {
    public var description: String
}

/// A destination's access token: asked for when first needed, kept, and asked for again before it expires (a minute
/// before, or at four fifths of a shorter lifetime) or when the destination answers 401 (`invalidate`).
public final class SMARTTokenSource: Sendable {
    public let settings: SMARTBackendSettings
    private let cached = Mutex<(token: String, renewAtMicros: Int64)?>(nil)
    /// Lifetime assumed when the endpoint gives none: SMART access tokens live five minutes or less.
    static let assumedLifetimeSeconds: Int64 = 300

    public init(settings: SMARTBackendSettings) { self.settings = settings }

    /// Forgets the token (the destination refused it), so the next call asks for a new one.
    public func invalidate() { cached.withLock { $0 = nil } }

    public func token(transport: any FHIRTransport, nowMicros: Int64) async throws -> String {
        if let held = cached.withLock({ $0 }), nowMicros < held.renewAtMicros { return held.token }
        // A random UUID: unique per assertion, which is all the token endpoint's replay check needs.
        let jti = UUID().uuidString.lowercased()
        let assertion = try ClientAssertion.make(
            clientID: settings.clientID, audience: settings.tokenURL, keyID: settings.keyID, key: settings.key,
            nowSeconds: nowMicros / 1_000_000, jti: jti)
        let form = [
            ("grant_type", "client_credentials"), ("scope", settings.scope),
            ("client_assertion_type", ClientAssertion.type), ("client_assertion", assertion),
        ]
        let response = try await transport.postForm(form, to: settings.tokenURL)
        let json = try? ExactJSON.parse(response.body)
        guard response.status == 200, let token = json?["access_token"]?.stringValue, !token.isEmpty else {
            let error = json?["error"]?.stringValue ?? "no access_token"
            let detail = json?["error_description"]?.stringValue.map { ": " + $0 } ?? ""
            throw SMARTTokenError(
                description: "the token endpoint \(settings.tokenURL) answered \(response.status) (\(error)\(detail))")
        }
        let lifetime = json?["expires_in"]?.numberText.flatMap { Int64($0) } ?? Self.assumedLifetimeSeconds
        let margin = min(60, max(1, lifetime / 5))
        cached.withLock { $0 = (token, nowMicros + (lifetime - margin) * 1_000_000) }
        return token
    }
}
