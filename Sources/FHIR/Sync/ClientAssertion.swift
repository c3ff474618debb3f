import Crypto
import Foundation
import Provenance
import _CryptoExtras

/// A problem with a client key or an assertion, said so a person can fix it.
public struct ClientAssertionError: Error, CustomStringConvertible, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The private key a gateway signs its client assertions with: ES384 (a P-384 EC key) or RS384 (an RSA key), the
/// two algorithms SMART Backend Services requires servers to support.
///
/// A P-384 key is held as its raw scalar (swift-crypto's P-384 key types are not `Sendable`) and rebuilt to sign.
public enum ClientKey: Sendable {
    case es384(raw: Data)
    case rs384(_RSA.Signing.PrivateKey)

    public static func es384(_ key: P384.Signing.PrivateKey) -> ClientKey { .es384(raw: key.rawRepresentation) }

    /// From PEM text (PKCS#8 or SEC1 for EC, PKCS#8 or PKCS#1 for RSA).
    public init(pem: String) throws(ClientAssertionError) {
        if let key = try? P384.Signing.PrivateKey(pemRepresentation: pem) {
            self = .es384(key)
        } else if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem), key.keySizeInBits >= 2048 {
            self = .rs384(key)
        } else {
            throw ClientAssertionError(
                "neither a P-384 EC private key (ES384) nor an RSA private key of 2048 bits or more (RS384) in PEM")
        }
    }

    var algorithm: String {
        switch self {
        case .es384: "ES384"
        case .rs384: "RS384"
        }
    }

    func sign(_ bytes: [UInt8]) throws -> [UInt8] {
        switch self {
        case .es384(let raw):
            Array(
                try P384.Signing.PrivateKey(rawRepresentation: raw).signature(for: SHA384.hash(data: bytes))
                    .rawRepresentation)
        case .rs384(let key):
            Array(try key.signature(for: SHA384.hash(data: bytes), padding: .insecurePKCS1v1_5).rawRepresentation)
        }
    }

    /// The public half, as a hub registers it.
    public var publicKey: ClientPublicKey {
        switch self {
        case .es384(let raw):
            (try? P384.Signing.PrivateKey(rawRepresentation: raw)).map { .es384($0.publicKey) } ?? .es384(raw: Data())
        case .rs384(let key): .rs384(key.publicKey)
        }
    }
}

/// A registered client's public key, which the hub checks assertions against.
public enum ClientPublicKey: Sendable {
    /// The point in X9.63 form (swift-crypto's P-384 key types are not `Sendable`).
    case es384(raw: Data)
    case rs384(_RSA.Signing.PublicKey)

    public static func es384(_ key: P384.Signing.PublicKey) -> ClientPublicKey { .es384(raw: key.x963Representation) }

    public init(pem: String) throws(ClientAssertionError) {
        if let key = try? P384.Signing.PublicKey(pemRepresentation: pem) {
            self = .es384(key)
        } else if let key = try? _RSA.Signing.PublicKey(pemRepresentation: pem), key.keySizeInBits >= 2048 {
            self = .rs384(key)
        } else {
            throw ClientAssertionError(
                "neither a P-384 EC public key (ES384) nor an RSA public key of 2048 bits or more (RS384) in PEM")
        }
    }

    public var pemRepresentation: String {
        switch self {
        case .es384(let raw): (try? P384.Signing.PublicKey(x963Representation: raw))?.pemRepresentation ?? ""
        case .rs384(let key): key.pemRepresentation
        }
    }

    func isValid(_ signature: [UInt8], for bytes: [UInt8], algorithm: String) -> Bool {
        switch self {
        case .es384(let raw):
            guard algorithm == "ES384", let key = try? P384.Signing.PublicKey(x963Representation: raw),
                let parsed = try? P384.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: SHA384.hash(data: bytes))
        case .rs384(let key):
            guard algorithm == "RS384" else { return false }
            return key.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA384.hash(data: bytes),
                padding: .insecurePKCS1v1_5)
        }
    }
}

/// The signed JWT a SMART Backend Services client authenticates with at a token endpoint (`private_key_jwt`, RFC 7523):
/// issued by and about the client, for the token endpoint, valid for at most five minutes, with a unique `jti`.
public enum ClientAssertion {
    public static let type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// SMART: the assertion's `exp` is no more than five minutes in the future.
    public static let maximumLifetimeSeconds: Int64 = 300

    public static func make(
        clientID: String, audience: String, keyID: String?, key: ClientKey, nowSeconds: Int64, jti: String
    ) throws -> String {
        let header = ExactJSON.obj(["alg": .string(key.algorithm), "typ": "JWT", "kid": keyID.map(ExactJSON.string)])
        let claims = ExactJSON.obj([
            "iss": .string(clientID), "sub": .string(clientID), "aud": .string(audience),
            "exp": .integer(nowSeconds + maximumLifetimeSeconds), "jti": .string(jti),
        ])
        let signingInput = base64URL(Array(header.text.utf8)) + "." + base64URL(Array(claims.text.utf8))
        return signingInput + "." + base64URL(try key.sign(Array(signingInput.utf8)))
    }

    /// What a checked assertion says.
    public struct Claims: Sendable, Equatable {
        public var clientID: String
        public var audience: String
        public var expiresSeconds: Int64
        public var jti: String
    }

    /// Checks the assertion's form, its signature by `key(clientID)`, its audience and its lifetime; the caller checks
    /// that `jti` was not seen before.
    public static func verify(
        _ jwt: String, audience isExpected: (String) -> Bool, nowSeconds: Int64, key: (String) -> ClientPublicKey?
    ) throws(ClientAssertionError) -> Claims {
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let headerBytes = unbase64URL(parts[0]), let claimBytes = unbase64URL(parts[1]),
            let signature = unbase64URL(parts[2]), let header = try? ExactJSON.parse(headerBytes),
            let claims = try? ExactJSON.parse(claimBytes)
        else {
            throw ClientAssertionError("the client assertion is not a signed JWT (header.claims.signature, base64url)")
        }
        guard let algorithm = header["alg"]?.stringValue, ["ES384", "RS384"].contains(algorithm) else {
            throw ClientAssertionError(
                "the assertion's alg is '\(header["alg"]?.stringValue ?? "none")': ES384 or RS384 is required")
        }
        guard let issuer = claims["iss"]?.stringValue, claims["sub"]?.stringValue == issuer else {
            throw ClientAssertionError("the assertion's iss and sub must both be the client_id")
        }
        guard let publicKey = key(issuer) else {
            throw ClientAssertionError("client '\(issuer)' is not registered here")
        }
        guard publicKey.isValid(signature, for: Array((parts[0] + "." + parts[1]).utf8), algorithm: algorithm) else {
            throw ClientAssertionError(
                "the assertion's signature does not verify with the key registered for '\(issuer)'")
        }
        guard let audience = claims["aud"]?.stringValue, isExpected(audience) else {
            throw ClientAssertionError(
                "the assertion's aud '\(claims["aud"]?.stringValue ?? "")' is not this token endpoint")
        }
        guard let expires = claims["exp"]?.numberText.flatMap({ Int64($0) }), expires > nowSeconds,
            expires <= nowSeconds + maximumLifetimeSeconds + 60
        else { throw ClientAssertionError("the assertion has expired, or its exp is more than five minutes ahead") }
        guard let jti = claims["jti"]?.stringValue, !jti.isEmpty else {
            throw ClientAssertionError("the assertion has no jti")
        }
        return Claims(clientID: issuer, audience: audience, expiresSeconds: expires, jti: jti)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_"
        )
        .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64URL(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map(Array.init)
    }
}
