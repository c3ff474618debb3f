import Foundation
import Provenance

/// A reading identity as the archive keeps it: its first 128 bits, binary (16 bytes instead of 64 hex characters
/// in the row and again in its index). Dedupe and lookups by identity use this key; 128 bits keep a collision out
/// of reach for any number of readings a gateway will ever hold.
enum IdentityKey {
    static let byteCount = 16

    /// The key of a full identity (64 hex digits), or of a prefix of at least 32 digits.
    static func of(_ hex: String) -> Data? {
        let digits = hex.prefix(byteCount * 2)
        guard digits.count == byteCount * 2, digits.utf8.allSatisfy({ !(0x41...0x46).contains($0) }), let bytes = bytesFromHex(digits) else {
            return nil
        }
        return Data(bytes)
    }
}
