import Crypto
import Foundation

/// Bearer tokens with SMART-style scopes, from `--token TOKEN=SCOPE[,SCOPE…]`:
/// - `system/*.read` (or `system/Observation.read`, `system/Device.read`, `system/Provenance.read`): every subject;
/// - `patient/*.read@SUBJECT` (or `patient/Observation.read@SUBJECT`, …): only that subject's resources — a
///   patient scope must name its subject, since there is no SMART launch context to bind it to.
/// `.rs` (SMART v2) is accepted as a synonym of `.read`. A hub's uploaders hold `system/*.write` (or
/// `patient/*.write@SUBJECT`, `.cud` in SMART v2): it lets them POST transaction Bundles to /fhir, nothing else.
/// `system/Device.write` (or `patient/Device.write@SUBJECT`) lets a signed-in page say whose a device's waiting
/// readings are (for that subject), and uploads nothing.
package struct APIToken: Sendable {
    package struct Scope: Sendable, Equatable {
        /// "*" or a resource type.
        package var resourceType: String
        /// nil for a system scope; the bound subject for a patient scope.
        package var subject: String?
        package var write = false
    }

    package var secret: String
    package var scopes: [Scope]
    /// A name from the configuration, shown in the audit log next to the hash.
    package var name: String?
    /// The caller a token issued at the token endpoint stands for ("client:home-a"): the same for every token the client
    /// is given, so what it uploaded stays its own across renewals.
    package var client: String?

    /// The people whose devices this token may say whose they are (a Device or `*` write scope): nil every person,
    /// empty nobody. Pairing takes nil: it names the person as it pairs.
    package var assignable: Set<String>? {
        let writes = scopes.filter { $0.write && ($0.resourceType == "Device" || $0.resourceType == "*") }
        return writes.contains { $0.subject == nil } ? nil : Set(writes.compactMap(\.subject))
    }

    /// May pair devices and say whose any device is.
    package var mayPair: Bool { assignable == nil }

    /// What the audit log records instead of the secret: the first 12 hex digits of its SHA-256.
    package var auditID: String {
        if let client { return client }
        return hashedID
    }

    private var hashedID: String {
        (name.map { $0 + ":" } ?? "") + "tok-"
            + SHA256.hash(data: Array(secret.utf8)).prefix(6).map { byte in
                let hex = String(byte, radix: 16)
                return byte < 16 ? "0" + hex : hex
            }.joined()
    }

    package enum ParseError: Error, CustomStringConvertible {
        case bad(String)
        package var description: String { if case .bad(let why) = self { why } else { "" } }
    }

    package static let resourceTypes: Set<String> = ["*", "Observation", "Device", "Provenance", "Patient"]

    /// TOKEN=SCOPE[,SCOPE…]; the secret may not contain '='.
    package static func parse(_ text: String) throws(ParseError) -> APIToken {
        let sides = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard sides.count == 2, !sides[0].isEmpty, !sides[1].isEmpty else {
            throw .bad("expected TOKEN=SCOPE[,SCOPE…], e.g. s3cret=system/*.read or s3cret=patient/*.read@alice")
        }
        var scopes: [Scope] = []
        for item in sides[1].split(separator: ",").map(String.init) {
            let bound = item.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let scope = bound[0]
            let subject = bound.count == 2 ? bound[1] : nil
            let slash = scope.split(separator: "/", maxSplits: 1).map(String.init)
            guard slash.count == 2, let dot = slash[1].lastIndex(of: ".") else {
                throw .bad("'\(item)' is not a scope like system/*.read")
            }
            let type = String(slash[1][..<dot])
            let access = String(slash[1][slash[1].index(after: dot)...])
            guard ["read", "rs", "write", "cud"].contains(access) else {
                throw .bad("'\(item)': access is .read (.rs) or, for a hub's uploaders, .write (.cud)")
            }
            let write = access == "write" || access == "cud"
            guard resourceTypes.contains(type) else {
                throw .bad("'\(item)': resource type must be one of \(resourceTypes.sorted().joined(separator: ", "))")
            }
            switch slash[0] {
            case "system":
                guard subject == nil else { throw .bad("'\(item)': a system scope is not bound to a subject") }
                scopes.append(Scope(resourceType: type, subject: nil, write: write))
            case "patient":
                guard let subject, !subject.isEmpty else {
                    throw .bad("'\(item)': a patient scope must name its subject, e.g. patient/*.read@alice")
                }
                scopes.append(Scope(resourceType: type, subject: subject, write: write))
            default:
                throw .bad(
                    "'\(item)': the context must be system or patient (user scopes need a login, which this API has not)"
                )
            }
        }
        return APIToken(secret: sides[0], scopes: scopes)
    }
}

/// Who is asking and what they may read.
package struct APIGrant: Sendable {
    /// nil: every subject; else only these.
    package var subjects: Set<String>?
    /// The audit log's name for the caller.
    package var caller: String

    package init(subjects: Set<String>?, caller: String) { (self.subjects, self.caller) = (subjects, caller) }

    package func allows(subject: String) -> Bool { subjects.map { $0.contains(subject) } ?? true }
}

/// Who a request comes from, before anything is decided about what they may do: what authentication finds in the
/// Authorization header. (Whether that is enough — loopback, a scope for the resource — is the grant's question.)
package enum APICaller: Sendable {
    /// No bearer token.
    case anonymous
    /// A bearer token this gateway does not know (or one the token endpoint issued that has expired).
    case unknownToken
    case token(APIToken)

    /// The audit log's name for the caller: never the secret.
    package var auditName: String {
        switch self {
        case .anonymous: "none"
        case .unknownToken: "unknown-token"
        case .token(let token): token.auditID
        }
    }
}

package struct APIAccess: Sendable {
    package var tokens: [APIToken]
    package var allowLoopback: Bool
    /// Tokens the hub's token endpoint issued to SMART Backend Services clients (`TokenEndpoint`).
    package var issued: IssuedTokens? = nil

    package init(tokens: [APIToken], allowLoopback: Bool, issued: IssuedTokens? = nil) {
        (self.tokens, self.allowLoopback, self.issued) = (tokens, allowLoopback, issued)
    }

    /// The token a secret is: a configured one, or a live one the token endpoint issued.
    package func token(secret: String, nowSeconds: Int64 = Int64(Date().timeIntervalSince1970)) -> APIToken? {
        tokens.first(where: { constantTimeEqual($0.secret, secret) }) ?? issued?.token(secret, nowSeconds: nowSeconds)
    }

    /// Who the Authorization header says is calling.
    package func caller(authorization: String?) -> APICaller {
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else { return .anonymous }
        let secret = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        return token(secret: secret).map(APICaller.token) ?? .unknownToken
    }

    /// The grant for reading `resourceType` (nil: the CapabilityStatement, which any valid token may read), or 401/403.
    package func grant(authorization: String?, peerIsLoopback: Bool, resourceType: String?) throws(APIError) -> APIGrant
    {
        try grant(caller(authorization: authorization), peerIsLoopback: peerIsLoopback, resourceType: resourceType)
    }

    package func grant(_ caller: APICaller, peerIsLoopback: Bool, resourceType: String?) throws(APIError) -> APIGrant {
        let token: APIToken
        switch caller {
        case .anonymous:
            if allowLoopback && peerIsLoopback { return APIGrant(subjects: nil, caller: "loopback") }
            throw .missingToken
        case .unknownToken:
            throw APIError(status: 401, code: "login", diagnostics: "The bearer token is not known to this gateway.")
        case .token(let known): token = known
        }
        guard let resourceType else { return APIGrant(subjects: [], caller: token.auditID) }
        let scopes = token.scopes.filter { !$0.write && ($0.resourceType == "*" || $0.resourceType == resourceType) }
        guard !scopes.isEmpty else { throw .forbidden("The token's scopes do not allow reading \(resourceType).") }
        if scopes.contains(where: { $0.subject == nil }) { return APIGrant(subjects: nil, caller: token.auditID) }
        return APIGrant(subjects: Set(scopes.compactMap(\.subject)), caller: token.auditID)
    }

    /// The grant for uploading a transaction Bundle (hub mode): a token with a write scope.
    package func writeGrant(_ caller: APICaller) throws(APIError) -> APIGrant {
        let token: APIToken
        switch caller {
        case .anonymous: throw .missingToken
        case .unknownToken:
            throw APIError(status: 401, code: "login", diagnostics: "The bearer token is not known to this gateway.")
        case .token(let known): token = known
        }
        // A Device write scope says whose a device is (the pages' "assign"); it uploads nothing.
        let scopes = token.scopes.filter { $0.write && ($0.resourceType == "*" || $0.resourceType == "Observation") }
        guard !scopes.isEmpty else {
            throw .forbidden(
                "The token's scopes do not allow uploading (a write scope such as system/*.write is needed).")
        }
        if scopes.contains(where: { $0.subject == nil }) { return APIGrant(subjects: nil, caller: token.auditID) }
        return APIGrant(subjects: Set(scopes.compactMap(\.subject)), caller: token.auditID)
    }

    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
