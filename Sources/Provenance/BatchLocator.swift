/// Finds the one reading of a batch that changed from a few bytes per batch instead of a tag per reading.
///
/// Since entry format 4 a ledger entry keeps, beside the batch's Merkle root, `1 + ⌈log₂ n⌉` sums of 4 bytes: the
/// XOR of every leaf's first 4 bytes, then for each bit `b` of a leaf's position the XOR over the leaves whose
/// position has bit `b` set. When one reading changes, the total differs by some Δ, and each bit sum differs by Δ
/// exactly when that bit of the changed reading's position is set: the differences spell its position. When two or
/// more changed, some bit sum differs by something other than 0 or Δ and the batch is reported changed, unnamed,
/// rather than naming a wrong reading. A reading removed or added is placed the same way (the position where the
/// sums agree). On a day of 1 Hz notifications this is ~60 bytes an entry where 1-byte tags were ~1.3 a reading —
/// most of the ledger. The root still detects every change; the sums only locate (a sum of 32 bits, not a hash:
/// they cannot hide a change the root sees, only fail to name it).
public enum BatchLocator {
    /// Bytes of each sum.
    public static let width = 4

    /// Bit sums a batch of `count` readings carries (0 for one reading: there is nothing to locate).
    public static func bitCount(_ count: Int) -> Int {
        count <= 1 ? 0 : Int.bitWidth - (count - 1).leadingZeroBitCount
    }

    /// Bytes of locator a batch of `count` readings carries.
    public static func byteCount(_ count: Int) -> Int {
        count <= 1 ? 0 : width * (1 + bitCount(count))
    }

    /// The sums of `leaves` (in leaf order), big-endian, the total first.
    public static func sums(of leaves: [[UInt8]]) -> [UInt8] {
        let values = sumValues(leaves.map(prefix), positions: Array(leaves.indices), bits: bitCount(leaves.count))
        return leaves.count <= 1 ? [] : values.flatMap(bigEndian)
    }

    /// The position of the one reading whose leaf differs from when `recorded` was computed, or nil when none or
    /// more than one does (or `recorded` is not a locator for this many leaves).
    public static func changedPosition(recorded: [UInt8], leaves: [[UInt8]]) -> Int? {
        let bits = bitCount(leaves.count)
        guard leaves.count > 1, let sums = values(recorded, count: 1 + bits) else { return nil }
        let now = sumValues(leaves.map(prefix), positions: Array(leaves.indices), bits: bits)
        return position(differences: zip(sums, now).map { $0 ^ $1 }, limit: leaves.count)
    }

    /// Where one reading was removed from (`leaves` has one fewer than was recorded) or added at (one more): the
    /// position in `leaves` of the first reading after the gap, or of the added one. Nil when no single removal or
    /// addition explains the sums.
    public static func gapPosition(recorded: [UInt8], recordedCount: Int, leaves: [[UInt8]]) -> Int? {
        let bits = bitCount(recordedCount)
        guard recordedCount > 1, let sums = values(recorded, count: 1 + bits) else { return nil }
        let current = leaves.map(prefix)
        if current.count + 1 == recordedCount {
            // Removed at p: leaves before p kept their positions, leaves from p on moved down by one.
            for gap in 0...current.count {
                let positions = current.indices.map { $0 < gap ? $0 : $0 + 1 }
                let now = sumValues(current, positions: positions, bits: bits)
                let differences = zip(sums, now).map { $0 ^ $1 }
                if position(differences: differences, limit: recordedCount) == gap { return gap }
            }
        } else if current.count == recordedCount + 1 {
            // Added at p: the sums without it, positions from p on moved up by one, must match exactly.
            let extra = sums[0] ^ current.reduce(0, ^)
            for added in current.indices where current[added] == extra {
                var kept = current
                kept.remove(at: added)
                if sumValues(kept, positions: Array(kept.indices), bits: bits) == sums { return added }
            }
        }
        return nil
    }

    /// The position whose bits are the bit sums that differ by the total's difference, or nil when the total agrees,
    /// a bit sum differs by anything else (more than one change) or the position is out of range.
    static func position(differences: [UInt32], limit: Int) -> Int? {
        guard let total = differences.first, total != 0 else { return nil }
        var position = 0
        for (bit, difference) in differences.dropFirst().enumerated() {
            if difference == total {
                position |= 1 << bit
            } else if difference != 0 {
                return nil
            }
        }
        return position < limit ? position : nil
    }

    static func sumValues(_ prefixes: [UInt32], positions: [Int], bits: Int) -> [UInt32] {
        var sums = [UInt32](repeating: 0, count: 1 + bits)
        for (value, position) in zip(prefixes, positions) {
            sums[0] ^= value
            for bit in 0..<bits where position & (1 << bit) != 0 { sums[1 + bit] ^= value }
        }
        return sums
    }

    static func values(_ bytes: [UInt8], count: Int) -> [UInt32]? {
        guard bytes.count == count * width else { return nil }
        return (0..<count).map { index in
            bytes[(index * width)..<((index + 1) * width)].reduce(0) { $0 << 8 | UInt32($1) }
        }
    }

    static func prefix(_ leaf: [UInt8]) -> UInt32 {
        leaf.prefix(width).reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [
            UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
            UInt8(truncatingIfNeeded: value),
        ]
    }
}
