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
        guard digits.count == byteCount * 2, digits.utf8.allSatisfy({ !(0x41...0x46).contains($0) }),
            let bytes = bytesFromHex(digits)
        else {
            return nil
        }
        return Data(bytes)
    }
}

extension IdentityKey {
    /// Migration v11: the identity key is kept only for readings the device anchored (a sequence number or a
    /// timestamp); a reading anchored on the gateway's receive time is found by its stream and time, its identity
    /// derived again from the reading. The index is keyed by a hash, so every reading in it costs a random page
    /// written and an entry that grows with the history; a heart-rate strap's notifications no longer pay that.
    /// The table is rebuilt (SQLite cannot drop NOT NULL in place) keeping row ids, so batch ranges, feed positions
    /// and ledger sequences stay valid. Anchored on receipt = the variation's presence byte (its second byte) has
    /// neither the sequence (1) nor the device timestamp (2) bit.
    static let receiptAnchoredMigration = """
        CREATE TABLE reading_v11 (
            id INTEGER PRIMARY KEY, identity BLOB, stream INTEGER NOT NULL, effective_micros INTEGER NOT NULL,
            flags INTEGER NOT NULL, provenance_id INTEGER NOT NULL, stored INTEGER NOT NULL, ledger_sequence INTEGER,
            body BLOB NOT NULL);
        INSERT INTO reading_v11 (id, identity, stream, effective_micros, flags, provenance_id, stored, ledger_sequence, body)
            SELECT id, CASE WHEN hex(substr(body, 2, 1)) IN ('00', '04', '08', '0C') THEN NULL ELSE identity END,
                stream, effective_micros, flags, provenance_id, stored, ledger_sequence, body
            FROM reading ORDER BY id;
        DROP TABLE reading;
        ALTER TABLE reading_v11 RENAME TO reading;
        CREATE UNIQUE INDEX reading_by_identity ON reading(identity) WHERE identity IS NOT NULL;
        CREATE INDEX reading_by_stream_time ON reading(stream, effective_micros);
        CREATE INDEX reading_unstored ON reading(stored) WHERE stored = 0;
        """
}
