import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The gateway's Ed25519 signing key. Signing ledger entries lets an auditor holding only the public key tell
/// the gateway's own entries from a ledger an attacker recomputed from scratch (an unsigned hash chain proves
/// order and integrity, not authorship).
///
/// The key file holds the 32-byte raw private key as 64 hex digits and one newline. It must be mode 0600 (or
/// stricter): a key that group or others can read could have been copied, so loading one is refused rather than
/// trusted.
public struct GatewayKey: Sendable {
    /// Immutable after init, and the key types are values; they only lack a `Sendable` annotation in swift-crypto.
    nonisolated(unsafe) public let privateKey: Curve25519.Signing.PrivateKey
    nonisolated(unsafe) public let publicKey: Curve25519.Signing.PublicKey
    /// `GatewayKey.fingerprint(of: publicKey)`: names the key in ledger entries and reports.
    public let fingerprint: String

    /// Hex digits in a fingerprint.
    public static let fingerprintLength = 16

    public init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
        publicKey = privateKey.publicKey
        fingerprint = Self.fingerprint(of: privateKey.publicKey)
    }

    /// A new random key, in memory only.
    public static func generate() -> GatewayKey { GatewayKey(privateKey: Curve25519.Signing.PrivateKey()) }

    /// SHA-256 of the raw 32-byte public key, first 16 hex digits: short enough to read out, long enough that two
    /// gateways' keys do not collide by accident (it names a key; it is not what the signature is checked with).
    public static func fingerprint(of publicKey: Curve25519.Signing.PublicKey) -> String {
        String(SHA256.hash(data: publicKey.rawRepresentation).hexString.prefix(fingerprintLength))
    }

    /// The public key as 64 lowercase hex digits (what `loadPublicKey(from:)` reads).
    public var publicKeyHex: String { Array(publicKey.rawRepresentation).hexString }

    /// An Ed25519 signature over `message`.
    func sign(_ message: [UInt8]) throws(GatewayKeyError) -> [UInt8] {
        do {
            return Array(try privateKey.signature(for: message))
        } catch {
            throw .signingFailed(reason: "\(error)")
        }
    }

    // MARK: Files

    /// Loads the private key from `path`, refusing a file that group or others can read or write.
    public static func load(from path: String) throws(GatewayKeyError) -> GatewayKey {
        let text = try readSecretFile(path)
        guard let bytes = bytesFromHex(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
            throw .malformed(path: path, reason: "expected 64 hex digits (a raw 32-byte Ed25519 private key)")
        }
        do {
            return GatewayKey(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: bytes))
        } catch {
            throw .malformed(path: path, reason: "not an Ed25519 private key: \(error)")
        }
    }

    /// Generates a new key into `path` (mode 0600), refusing to replace an existing file: replacing a key would
    /// leave every entry it signed unverifiable. Written to a temporary file and hard-linked into place, so a
    /// crash never leaves a half-written key at `path`.
    public static func create(at path: String) throws(GatewayKeyError) -> GatewayKey {
        let key = generate()
        let temporary = "\(path).tmp-\(getpid())"
        _ = unlink(temporary)
        do throws(FileSystemError) {
            let file = try LedgerFileDescriptor.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            defer { file.close() }
            guard fchmod(file.fd, 0o600) == 0 else {
                throw FileSystemError(operation: "chmod", path: temporary, code: errno)
            }
            try file.write(Array((Array(key.privateKey.rawRepresentation).hexString + "\n").utf8), at: 0)
            try file.sync()
        } catch {
            _ = unlink(temporary)
            throw .io(error)
        }
        defer { _ = unlink(temporary) }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST { throw .alreadyExists(path: path) }
            throw .io(FileSystemError(operation: "link", path: path, code: errno))
        }
        do {
            try LedgerFileDescriptor.syncDirectory(directoryOf(path))
        } catch {
            throw .io(error)
        }
        return key
    }

    /// The key at `path`, created there first if there is none (the first start of a gateway).
    public static func loadOrCreate(at path: String) throws(GatewayKeyError) -> GatewayKey {
        do {
            return try load(from: path)
        } catch .missing {
            do {
                return try create(at: path)
            } catch .alreadyExists {
                return try load(from: path)  // another process created it between our two calls
            }
        }
    }

    /// Writes the public key (64 hex digits and a newline, mode 0644) for auditors who verify elsewhere.
    /// The key at `path` (made on first use) with its public half beside it (PATH.pub), which `gatewayd verify
    /// --public-key` and a downstream that checks the ledger's signatures read.
    public static func loadOrCreatePublishing(at path: String) throws(GatewayKeyError) -> GatewayKey {
        let key = try loadOrCreate(at: path)
        if !FileManager.default.fileExists(atPath: path + ".pub") { try key.writePublicKey(to: path + ".pub") }
        return key
    }

    public func writePublicKey(to path: String) throws(GatewayKeyError) {
        do {
            let file = try LedgerFileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            defer { file.close() }
            try file.write(Array((publicKeyHex + "\n").utf8), at: 0)
            try file.sync()
        } catch {
            throw .io(error)
        }
    }

    /// Reads a public key written by `writePublicKey(to:)` (64 hex digits).
    public static func loadPublicKey(from path: String) throws(GatewayKeyError) -> Curve25519.Signing.PublicKey {
        let text: String
        do {
            let file = try LedgerFileDescriptor.open(path, flags: O_RDONLY)
            defer { file.close() }
            text = String(decoding: try file.read(count: 4096, at: 0), as: UTF8.self)
        } catch {
            throw error.code == ENOENT ? .missing(path: path) : .io(error)
        }
        return try publicKey(hex: text.trimmingCharacters(in: .whitespacesAndNewlines), source: path)
    }

    /// A public key from 64 hex digits (e.g. given on a command line).
    public static func publicKey(hex: String, source: String = "the given public key") throws(GatewayKeyError)
        -> Curve25519.Signing.PublicKey
    {
        guard let bytes = bytesFromHex(hex), bytes.count == 32 else {
            throw .malformed(path: source, reason: "expected 64 hex digits (a raw 32-byte Ed25519 public key)")
        }
        do {
            return try Curve25519.Signing.PublicKey(rawRepresentation: bytes)
        } catch {
            throw .malformed(path: source, reason: "not an Ed25519 public key: \(error)")
        }
    }

    private static func readSecretFile(_ path: String) throws(GatewayKeyError) -> String {
        let file: LedgerFileDescriptor
        do {
            file = try LedgerFileDescriptor.open(path, flags: O_RDONLY)
        } catch {
            throw error.code == ENOENT ? .missing(path: path) : .io(error)
        }
        defer { file.close() }
        do {
            let (permissions, regular) = try file.mode()
            guard regular else { throw GatewayKeyError.notARegularFile(path: path) }
            guard permissions & 0o077 == 0 else {
                throw GatewayKeyError.insecurePermissions(path: path, mode: UInt32(permissions))
            }
            return String(decoding: try file.read(count: 4096, at: 0), as: UTF8.self)
        } catch let error as GatewayKeyError {
            throw error
        } catch let error as FileSystemError {
            throw .io(error)
        } catch {
            throw .malformed(path: path, reason: "\(error)")
        }
    }
}

/// Why the gateway key could not be loaded, created or used; each message says what to do.
public enum GatewayKeyError: Error, Hashable, Sendable, CustomStringConvertible {
    case missing(path: String)
    /// Group or others may read or write the key file (`mode` is its permission bits).
    case insecurePermissions(path: String, mode: UInt32)
    case notARegularFile(path: String)
    case malformed(path: String, reason: String)
    case alreadyExists(path: String)
    case signingFailed(reason: String)
    case io(FileSystemError)

    public var description: String {
        switch self {
        case .missing(let path):
            "no gateway key at \(path): create one (the gateway does on first start) or give the right path"
        case .insecurePermissions(let path, let mode):
            "refusing the gateway key \(path): its mode is 0\(String(mode, radix: 8)), so group or others can read or "
                + "replace it; run `chmod 600 \(path)` (and consider the key exposed if others could read it)"
        case .notARegularFile(let path):
            "the gateway key \(path) is not a regular file"
        case .malformed(let path, let reason):
            "the gateway key \(path) is not usable: \(reason)"
        case .alreadyExists(let path):
            "a gateway key already exists at \(path); refusing to replace it (entries it signed would stop verifying)"
        case .signingFailed(let reason):
            "signing with the gateway key failed: \(reason)"
        case .io(let error):
            "gateway key: \(error)"
        }
    }
}
