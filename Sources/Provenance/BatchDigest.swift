import Crypto
import Foundation

/// What a ledger entry remembers of its batch since entry format 2: a Merkle root over its readings, instead of each
/// reading's identity and digest (150 bytes a reading in the file, more than the reading itself takes in the store),
/// and what locates a changed reading: since format 4 a few XOR sums per batch (`BatchLocator`); in format 2 a tag
/// per reading (2 bytes before 2026-12, then 1), which still verify.
///
/// Leaves are the readings sorted by identity; a leaf is SHA-256(0x00 ‖ identity ‖ digest) over the 32 raw bytes
/// of each, a node SHA-256(0x01 ‖ left ‖ right), and a lone last node is carried up unchanged (the domain bytes
/// keep a leaf from passing for a node). The root detects any change to any reading at full strength; the locator
/// sums or the tags — the first bytes of each leaf — only locate which reading changed, so `gatewayd verify` can
/// still name it.
public struct BatchDigest: Hashable, Sendable {
    /// Bytes of tag per reading in format 2 entries written after 2026-12 (before: 2).
    public static let tagLength = 1
    /// Tag widths a format 2 entry may carry.
    public static let tagWidths: ClosedRange<Int> = 1...2

    /// The batch's readings in leaf order.
    public let identities: [ReadingIdentity]
    public let leaves: [[UInt8]]
    /// 64 lowercase hex digits.
    public let root: String
    /// `tagWidth` bytes per reading, in leaf order (format 2).
    public let tags: [UInt8]
    /// The batch's `BatchLocator` sums (format 4).
    public var locators: [UInt8] { BatchLocator.sums(of: leaves) }

    /// The first `width` bytes of the leaf at `index` (to compare with an entry's tags of that width).
    public func tag(_ index: Int, width: Int) -> ArraySlice<UInt8> { leaves[index].prefix(width) }

    /// The batch of these readings, each digested as `ReadingDigest(of:)` does (its canonical JSON).
    public init(readings: [Reading]) throws(LedgerError) {
        try self.init(items: try LedgerEntry.Item.items(of: readings))
    }

    /// The batch of readings already digested by the caller (the archive digests a reading as it stores it).
    /// `tagWidth`: bytes of tag per reading (`tagLength`; 2 to write entries as gateways before 2026-12 did).
    public init(items: [LedgerEntry.Item], tagWidth: Int = BatchDigest.tagLength) throws(LedgerError) {
        guard !items.isEmpty else { throw .emptyBatch }
        var pairs: [(ReadingIdentity, [UInt8], identityBytes: [UInt8])] = []
        pairs.reserveCapacity(items.count)
        var lowercase = true
        for (index, item) in items.enumerated() {
            guard let id = bytesFromHex(item.identity.hex), id.count == 32, let dig = bytesFromHex(item.digest.hex),
                dig.count == 32
            else {
                throw .encodingFailed(what: "reading \(index)", reason: "its identity or digest is not 64 hex digits")
            }
            if lowercase, !item.identity.hex.utf8.allSatisfy({ $0 < 0x41 || $0 > 0x46 }) { lowercase = false }
            pairs.append((item.identity, Self.leaf(identity: id, digest: dig), id))
        }
        // Ordered by identity text; for lowercase hex (every identity the gateway makes) that is the bytes' order,
        // compared without the text (String comparison was a tenth of a live batch's time).
        if lowercase {
            pairs.sort { $0.identityBytes.lexicographicallyPrecedes($1.identityBytes) }
        } else {
            pairs.sort { $0.0.hex < $1.0.hex }
        }
        identities = pairs.map(\.0)
        leaves = pairs.map(\.1)
        root = Self.root(of: leaves).hexString
        tags = leaves.flatMap { $0.prefix(tagWidth) }
    }

    static func leaf(identity: [UInt8], digest: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: identity)
        hasher.update(data: digest)
        return Array(hasher.finalize())
    }

    static func root(of leaves: [[UInt8]]) -> [UInt8] {
        var level = leaves
        while level.count > 1 {
            var next: [[UInt8]] = []
            next.reserveCapacity((level.count + 1) / 2)
            var index = 0
            while index + 1 < level.count {
                var hasher = SHA256()
                hasher.update(data: [0x01])
                hasher.update(data: level[index])
                hasher.update(data: level[index + 1])
                next.append(Array(hasher.finalize()))
                index += 2
            }
            if index < level.count { next.append(level[index]) }
            level = next
        }
        return level.first ?? []
    }

    /// The tags as they are written in an entry (base64; the entry's canonical-form check refuses other spellings).
    public var tagsText: String { Data(tags).base64EncodedString() }
    /// The locator sums as they are written in an entry (base64, canonical; empty for a batch of one reading).
    public var locatorsText: String { Data(locators).base64EncodedString() }
}
