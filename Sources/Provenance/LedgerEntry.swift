import Crypto
import Foundation

/// SHA-256 over a reading's canonical encoding: what the ledger remembers of a reading, so that any later change
/// to the archived reading — a value, a flag, the time evidence, the subject — is detectable.
///
/// The canonical encoding is `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` (the same settings
/// the StreamEngine's archive stores readings with). `Reading` has no floating-point fields, so the bytes are
/// deterministic and survive a decode/encode round-trip; a test pins the exact bytes of a sample reading, because
/// if a Foundation upgrade ever changed them, every ledger written before it would stop verifying.
public struct ReadingDigest: Hashable, Sendable, CustomStringConvertible {
    /// 64 lowercase hex digits.
    public let hex: String

    public init(hex: String) { self.hex = hex }

    public init(of reading: Reading) throws(LedgerError) {
        hex = SHA256.hash(data: try Self.canonicalEncoding(of: reading)).hexString
    }

    public var description: String { hex }

    /// The bytes the digest is computed over.
    public static func canonicalEncoding(of reading: Reading) throws(LedgerError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(reading)
        } catch {
            throw .encodingFailed(what: "reading", reason: "\(error)")
        }
    }
}

/// One line of the ledger: an accepted batch, chained to the entry before it.
///
/// The entry hash covers everything but itself and the signature (see `canonicalText`); the signature covers the
/// entry hash. In the file an entry is one JSON object with sorted keys and no whitespace:
/// `{"hash":…,"previous":…,"readings":[{"digest":…,"id":…},…],"recorded":…,"sequence":…,"signature":…,"signer":…}`
/// (`signature` and `signer` only when signed).
public struct LedgerEntry: Hashable, Sendable, Codable {
    /// One reading of the batch: its identity and the digest of the reading as it was accepted.
    public struct Item: Hashable, Sendable, Codable {
        public var identity: ReadingIdentity
        public var digest: ReadingDigest

        public init(identity: ReadingIdentity, digest: ReadingDigest) {
            self.identity = identity
            self.digest = digest
        }

        /// Each reading's identity and the digest of its canonical JSON (`ReadingDigest(of:)`).
        public static func items(of readings: [Reading]) throws(LedgerError) -> [Item] {
            var items: [Item] = []
            items.reserveCapacity(readings.count)
            for (index, reading) in readings.enumerated() {
                guard let identity = reading.identity else { throw .readingWithoutSubject(index: index) }
                items.append(Item(identity: identity, digest: try ReadingDigest(of: reading)))
            }
            return items
        }

        enum CodingKeys: String, CodingKey {
            case identity = "id"
            case digest
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            identity = ReadingIdentity(hex: try container.decode(String.self, forKey: .identity))
            digest = ReadingDigest(hex: try container.decode(String.self, forKey: .digest))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(identity.hex, forKey: .identity)
            try container.encode(digest.hex, forKey: .digest)
        }
    }

    /// 1, 2, 3, … with no gaps: a missing or repeated number is a deleted or duplicated entry.
    public var sequence: Int
    /// The previous entry's hash; `LedgerEntry.genesisHash` (64 zeros) for entry 1.
    public var previousHash: String
    /// When the gateway accepted the batch, UTC microseconds.
    public var recordedMicros: Int64
    /// Format 1: the batch's readings, in the order they were accepted (empty in format 2).
    public var items: [Item]
    /// Formats 2 and 4: how many readings the batch holds and their Merkle root (see `BatchDigest`); format 2: a tag
    /// per reading; format 4: the `BatchLocator` sums, base64.
    public var count: Int?
    public var root: String?
    public var tags: String?
    public var locators: String?
    /// Format 3, a retirement: retention removed the readings of entries 1…`retired` (all effective before `cutoff`,
    /// UTC µs) from the archive. Recorded before they are removed, so `verify` can tell retention from deletion.
    public var retired: Int?
    public var cutoff: Int64?

    /// 1: each reading's identity and digest listed; 2: a Merkle root and a tag per reading; 3: a retirement;
    /// 4: a Merkle root and locator sums.
    public var format: Int { retired != nil ? 3 : root == nil ? 1 : locators != nil ? 4 : 2 }
    /// Readings in the batch, whatever the format (none in a retirement).
    public var readingCount: Int { count ?? items.count }
    /// SHA-256 (hex) of `canonicalText`.
    public var hash: String
    /// Fingerprint of the key that signed this entry (`GatewayKey.fingerprint`); part of the hashed text, so a
    /// signature cannot be stripped without the entry failing to verify.
    public var signer: String?
    /// Ed25519 signature (128 lowercase hex digits) over the 32 raw bytes of the entry hash. Hex, not base64:
    /// base64 has several spellings of the same bytes, and a byte changed anywhere in the file must be noticed.
    public var signature: String?

    /// The previous hash of entry 1.
    public static let genesisHash = String(repeating: "0", count: 64)

    enum CodingKeys: String, CodingKey {
        case sequence
        case previousHash = "previous"
        case recordedMicros = "recorded"
        case items = "readings"
        case hash, signer, signature, count, root,
            tags, locators, retired, cutoff
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sequence = try c.decode(Int.self, forKey: .sequence)
        previousHash = try c.decode(String.self, forKey: .previousHash)
        recordedMicros = try c.decode(Int64.self, forKey: .recordedMicros)
        count = try c.decodeIfPresent(Int.self, forKey: .count)
        root = try c.decodeIfPresent(String.self, forKey: .root)
        tags = try c.decodeIfPresent(String.self, forKey: .tags)
        locators = try c.decodeIfPresent(String.self, forKey: .locators)
        retired = try c.decodeIfPresent(Int.self, forKey: .retired)
        cutoff = try c.decodeIfPresent(Int64.self, forKey: .cutoff)
        // Format 1 entries must list their readings; later formats list none.
        items =
            root == nil && retired == nil
            ? try c.decode([Item].self, forKey: .items) : try c.decodeIfPresent([Item].self, forKey: .items) ?? []
        hash = try c.decode(String.self, forKey: .hash)
        signer = try c.decodeIfPresent(String.self, forKey: .signer)
        signature = try c.decodeIfPresent(String.self, forKey: .signature)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sequence, forKey: .sequence)
        try c.encode(previousHash, forKey: .previousHash)
        try c.encode(recordedMicros, forKey: .recordedMicros)
        if (root == nil && retired == nil) || !items.isEmpty { try c.encode(items, forKey: .items) }
        try c.encodeIfPresent(count, forKey: .count)
        try c.encodeIfPresent(root, forKey: .root)
        try c.encodeIfPresent(locators, forKey: .locators)
        try c.encodeIfPresent(tags, forKey: .tags)
        try c.encodeIfPresent(retired, forKey: .retired)
        try c.encodeIfPresent(cutoff, forKey: .cutoff)
        try c.encode(hash, forKey: .hash)
        try c.encodeIfPresent(signer, forKey: .signer)
        try c.encodeIfPresent(signature, forKey: .signature)
    }

    /// An entry with its hash computed from the fields and no signature yet.
    init(sequence: Int, previousHash: String, recordedMicros: Int64, items: [Item], signer: String?) {
        self.sequence = sequence
        self.previousHash = previousHash
        self.recordedMicros = recordedMicros
        self.items = items
        self.signer = signer
        self.hash = ""
        self.hash = computedHash
    }

    /// A format 4 entry (the batch as its Merkle root and locator sums), or format 2 (root and tags: tests of
    /// ledgers written before format 4).
    init(
        sequence: Int, previousHash: String, recordedMicros: Int64, batch: BatchDigest, format: Int = 4, signer: String?
    ) {
        self.sequence = sequence
        self.previousHash = previousHash
        self.recordedMicros = recordedMicros
        self.items = []
        self.count = batch.identities.count
        self.root = batch.root
        if format == 2 { self.tags = batch.tagsText } else { self.locators = batch.locatorsText }
        self.signer = signer
        self.hash = ""
        self.hash = computedHash
    }

    /// A format 3 entry: the readings of entries 1…`retired`, effective before `cutoff`, are retired by retention.
    init(sequence: Int, previousHash: String, recordedMicros: Int64, retired: Int, cutoff: Int64, signer: String?) {
        self.sequence = sequence
        self.previousHash = previousHash
        self.recordedMicros = recordedMicros
        self.items = []
        self.retired = retired
        self.cutoff = cutoff
        self.signer = signer
        self.hash = ""
        self.hash = computedHash
    }

    /// The text the entry hash is computed over (UTF-8, every line ending in "\n"):
    ///
    ///     gatewayd-ledger-entry-v1
    ///     sequence:<decimal>
    ///     previous:<64 hex>
    ///     recorded:<decimal UTC microseconds>
    ///     signer:<16 hex fingerprint, or "-" when unsigned>
    ///     readings:<count>
    ///     <identity hex> <digest hex>        (one line per reading, in batch order)
    ///
    /// Line-based and versioned so an auditor can recompute it with a shell. It is unambiguous because every
    /// field is a decimal or lowercase hex (`formatProblem` rejects anything else before the text is built).
    ///
    /// Format 2 is the same with `gatewayd-ledger-entry-v2` and, after `readings:<count>`, `root:<64 hex>` and
    /// `tags:<base64>` lines instead of one line per reading. Format 3 (a retirement) has `readings:0`, then
    /// `retired:<decimal>` and `cutoff:<decimal UTC microseconds>`. Format 4 is format 2 with `locators:<base64>`
    /// (empty for one reading) instead of `tags:`.
    public var canonicalText: String {
        var text = "gatewayd-ledger-entry-v\(format)\n"
        text += "sequence:\(sequence)\n"
        text += "previous:\(previousHash)\n"
        text += "recorded:\(recordedMicros)\n"
        text += "signer:\(signer ?? "-")\n"
        text += "readings:\(readingCount)\n"
        if let retired {
            text += "retired:\(retired)\n"
            text += "cutoff:\(cutoff.map(String.init) ?? "")\n"
        } else if let root {
            text += "root:\(root)\n"
            if let locators { text += "locators:\(locators)\n" } else { text += "tags:\(tags ?? "")\n" }
        } else {
            for item in items { text += "\(item.identity.hex) \(item.digest.hex)\n" }
        }
        return text
    }

    /// SHA-256 (hex) of `canonicalText`: what `hash` must equal.
    public var computedHash: String { SHA256.hash(data: Array(canonicalText.utf8)).hexString }

    /// What is wrong with the entry's form (not its hash or chain), or nil: the fields must be exactly what
    /// `Ledger` writes, so that the canonical text is unambiguous and one changed character is never ignored.
    public var formatProblem: String? {
        if sequence < 1 { return "sequence \(sequence) is not a positive number" }
        if !previousHash.isLowercaseHex(count: 64) { return "previous hash is not 64 lowercase hex digits" }
        if !hash.isLowercaseHex(count: 64) { return "hash is not 64 lowercase hex digits" }
        if let signer, !signer.isLowercaseHex(count: GatewayKey.fingerprintLength) {
            return "signer is not a \(GatewayKey.fingerprintLength)-digit lowercase hex fingerprint"
        }
        if let signature, !signature.isLowercaseHex(count: 128) { return "signature is not 128 lowercase hex digits" }
        if signature != nil, signer == nil { return "it carries a signature but names no signer" }
        if let retired {
            guard retired >= 1, retired < sequence else {
                return "a retirement names entries 1–\(retired), not entries before it"
            }
            guard cutoff != nil else { return "a retirement needs its cutoff" }
            if count != nil || root != nil || tags != nil || locators != nil || !items.isEmpty {
                return "a retirement records no readings"
            }
            return nil
        }
        if cutoff != nil { return "only a retirement has a cutoff" }
        if let root {
            guard let count, count >= 1 else { return "a format \(format) entry needs a reading count of at least 1" }
            if !root.isLowercaseHex(count: 64) { return "root is not 64 lowercase hex digits" }
            if !items.isEmpty { return "a format \(format) entry lists no readings" }
            if let locators {
                if tags != nil { return "an entry has tags or locators, not both" }
                guard let bytes = Data(base64Encoded: locators), bytes.base64EncodedString() == locators,
                    bytes.count == BatchLocator.byteCount(count)
                else {
                    return
                        "locators are not \(BatchLocator.byteCount(count)) bytes in canonical base64 for \(count) readings"
                }
                return nil
            }
            guard let tags, let bytes = Data(base64Encoded: tags), bytes.base64EncodedString() == tags,
                bytes.count % count == 0, BatchDigest.tagWidths.contains(bytes.count / count)
            else { return "tags are not 1 or 2 bytes per reading in canonical base64" }
            return nil
        }
        if count != nil || tags != nil || locators != nil { return "a format 1 entry has no count, tags or locators" }
        for (index, item) in items.enumerated() {
            if !item.identity.hex.isLowercaseHex(count: 64) {
                return "reading #\(index + 1)'s identity is not 64 lowercase hex digits"
            }
            if !item.digest.hex.isLowercaseHex(count: 64) {
                return "reading #\(index + 1)'s digest is not 64 lowercase hex digits"
            }
        }
        return nil
    }

    /// The entry as one line of the ledger file, without the newline.
    func jsonLine() throws(LedgerError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self))
        } catch {
            throw .encodingFailed(what: "ledger entry \(sequence)", reason: "\(error)")
        }
    }
}

extension String {
    func isLowercaseHex(count: Int) -> Bool {
        utf8.count == count && utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// Bytes from lowercase or uppercase hex text; nil if it is not an even number of hex digits.
package func bytesFromHex(_ text: some StringProtocol) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    func value(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(digits.count / 2)
    var index = 0
    while index < digits.count {
        guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
        index += 2
    }
    return bytes
}
