import Crypto

/// A reading's identity: the same reading always gets the same one — resent by the device on every
/// connection, heard again after a reconnect, or by a second gateway (DESIGN.md rule 4).
///
/// Following the PHD IG's conditional-create identifier, it is a SHA-256 over: the device identity (System ID,
/// else address), the subject, the reading kind, the device-reported anchor (its sequence number, else its
/// timestamp, else — when the device sent neither — the gateway's receive time, which cannot dedupe), the
/// duration (0: spot readings), the supplemental type (the BP user slot), and the hash of the measurement's
/// payload bytes. FHIR's `Observation.identifier` carries the hex form.
public struct ReadingIdentity: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// 64 lowercase hex digits.
    public let hex: String

    public init(hex: String) { self.hex = hex }

    public var description: String { hex }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.hex < rhs.hex }

    /// The canonical text the identity hashes, one field per line (kept readable for audits).
    public static func canonicalText(of reading: Reading, subject: String) -> String {
        let anchor: String
        if let sequence = reading.sequenceNumber {
            anchor = "sequence:\(sequence)"
        } else if let stamp = reading.time.deviceTimestamp {
            anchor = "device-time:\(stamp)" + (reading.time.deviceTimeOffsetMinutes.map { "+\($0)min" } ?? "")
        } else {
            anchor = "received:\(reading.time.receivedMicros)"
        }
        let payload = reading.rawPayloads.first.map { SHA256.hash(data: $0).hexString } ?? "none"
        return [
            "gatewayd-reading-id-v1", "device:\(reading.device.key)", "subject:\(subject)",
            "kind:\(reading.kind.rawValue)",
            anchor, "duration:0", "user:\(reading.context.userID.map(String.init) ?? "-")", "payload:\(payload)",
        ].joined(separator: "\n")
    }

    public init(of reading: Reading, subject: String) {
        hex = SHA256.hash(data: Array(Self.canonicalText(of: reading, subject: subject).utf8)).hexString
    }
}

extension Reading {
    /// Whether the identity's anchor is the gateway's receive time: the device sent neither a sequence number nor a
    /// timestamp (a heart-rate notification). Such a reading is found by its stream and time, so its identity need
    /// not be kept where dedupe looks identities up (the archive derives it again from the reading). The last case
    /// of `ReadingIdentity.canonicalText`.
    public var identityAnchoredOnReceipt: Bool { sequenceNumber == nil && time.deviceTimestamp == nil }

    /// The identity, once the reading has a subject.
    public var identity: ReadingIdentity? { subject.map { ReadingIdentity(of: self, subject: $0) } }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hex, two digits a byte (identities, digests, keys).
    package var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension SHA256.Digest {
    package var hexString: String { Array(self).hexString }
}
