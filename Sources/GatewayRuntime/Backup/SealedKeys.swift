import Crypto
import Foundation
import _CryptoExtras

/// The gateway's secrets in a backup (its ledger signing key, the Bluetooth bonds' keys, the TLS key), sealed with a
/// passphrase: scrypt (N 2¹⁵, r 8, p 1 — ~32 MiB and a fraction of a second on a Pi, costly to guess at scale) derives
/// an AES-256-GCM key, so a backup on a USB stick or in a cloud folder gives nobody the means to sign ledger entries
/// or to pose as a bonded cuff.
package struct SealedKeys: Codable {
    package var kdf = "scrypt"
    package var n = 32_768
    package var r = 8
    package var p = 1
    package var salt: String
    package var cipher = "AES-256-GCM"
    /// Nonce, ciphertext and tag, base64.
    package var box: String

    /// `files`: each key file's name in the backup ("signing.key", "bluetooth/bonds.json", "tls/key.pem") and bytes.
    package static func seal(_ files: [String: [UInt8]], passphrase: String) throws -> [UInt8] {
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255) }
        var sealed = SealedKeys(salt: Data(salt).base64EncodedString(), box: "")
        let key = try sealed.key(passphrase)
        let plaintext = try JSONEncoder().encode(files.mapValues { Data($0).base64EncodedString() })
        guard let combined = try AES.GCM.seal(plaintext, using: key).combined else {
            throw BackupError.keys("the keys could not be sealed")
        }
        sealed.box = combined.base64EncodedString()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array(try encoder.encode(sealed))
    }

    package static func open(_ bytes: [UInt8], passphrase: String) throws -> [String: [UInt8]] {
        let sealed: SealedKeys
        do { sealed = try JSONDecoder().decode(SealedKeys.self, from: Data(bytes)) } catch {
            throw BackupError.keys("keys.sealed is not a sealed key file (\(error))")
        }
        guard sealed.kdf == "scrypt", sealed.cipher == "AES-256-GCM", let box = Data(base64Encoded: sealed.box) else {
            throw BackupError.keys("keys.sealed uses \(sealed.kdf)/\(sealed.cipher), which this gatewayd cannot open")
        }
        let plaintext: Data
        do {
            plaintext = try AES.GCM.open(try AES.GCM.SealedBox(combined: box), using: try sealed.key(passphrase))
        } catch {
            throw BackupError.keys("the passphrase does not open the backup's keys (or keys.sealed was altered)")
        }
        let encoded = try JSONDecoder().decode([String: String].self, from: plaintext)
        return try encoded.mapValues { text in
            guard let data = Data(base64Encoded: text) else {
                throw BackupError.keys("keys.sealed holds a file that is not base64")
            }
            return [UInt8](data)
        }
    }

    private func key(_ passphrase: String) throws -> SymmetricKey {
        guard let salt = Data(base64Encoded: salt) else { throw BackupError.keys("keys.sealed has no usable salt") }
        return try KDF.Scrypt.deriveKey(
            from: Array(passphrase.utf8), salt: salt, outputByteCount: 32, rounds: n, blockSize: r, parallelism: p)
    }

    /// The passphrase: the first line of `path` (a file readable by its owner only, never a command-line argument,
    /// which other users see in the process list).
    package static func passphrase(file path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BackupError.keys("--passphrase-file \(path) cannot be read")
        }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard line.count >= 8 else {
            throw BackupError.keys("--passphrase-file \(path): a passphrase needs at least 8 characters")
        }
        return line
    }
}
