import Crypto
import Provenance

/// Logical ids derived from what a resource describes — never random, never a counter — so mapping the same
/// reading, device or window again yields the same id and an upload becomes an idempotent update. FHIR ids are
/// `[A-Za-z0-9\-\.]{1,64}`.
public enum ResourceIDs {
    /// A reading's Observation. A reading the device anchored (a sequence number or a timestamp): its identity (64
    /// hex digits, exactly the id length limit), which the archive keeps for dedupe anyway. A reading anchored on the
    /// gateway's receive time (a heart-rate notification): "t" + its effective time (16 hex digits of UTC µs) + "-" +
    /// 46 digits of its identity, so it is found by its time and the archive keeps no identity index for it.
    public static func observation(_ identity: ReadingIdentity, of reading: Reading) -> String {
        guard reading.identityAnchoredOnReceipt else { return identity.hex }
        return timeTag(reading) + "-" + identity.hex.prefix(46)
    }

    /// An Observation derived from a reading (status bits, meal context): "bpstatus-" + 48 hex digits of its
    /// identity; for a reading anchored on receipt "bpstatus-" + the time tag + "-" + the identity's first digits.
    static func derived(_ kind: String, of identity: ReadingIdentity, reading: Reading) -> String {
        guard reading.identityAnchoredOnReceipt else { return kind + "-" + identity.hex.prefix(48) }
        return kind + "-" + timeTag(reading) + "-" + identity.hex.prefix(max(32, 64 - kind.count - 19))
    }

    private static func timeTag(_ reading: Reading) -> String {
        let digits = String(UInt64(bitPattern: reading.time.effectiveMicros), radix: 16)
        return "t" + String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Where the reading of an Observation id made for a reading anchored on receipt (its own or a derived one) is
    /// found: its effective time and the identity digits the id carries. Nil for any other id.
    public static func readingLocation(ofObservationID id: String) -> (effectiveMicros: Int64, identityPrefix: String)?
    {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        let tag = parts[parts.count - 2]
        let prefix = parts[parts.count - 1]
        guard tag.count == 17, tag.first == "t", let bits = UInt64(tag.dropFirst(), radix: 16), prefix.count >= 32,
            prefix.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        return (Int64(bitPattern: bits), String(prefix))
    }

    /// The PhdDevice of a sensor. A System ID or Bluetooth address key reads as the PHD IG's examples do
    /// ("phd-001BC50000000417"); any other key (a link name, manufacturer:model:serial) is hashed, because it may
    /// hold characters an id cannot and two keys must never collapse into one device.
    public static func phdDevice(key: String) -> String {
        if let hex = euiHex(key) { return "phd-" + hex }
        return "phd-x" + sha256Hex(Array("gatewayd-device\n\(key)".utf8)).prefix(32)
    }

    /// The PhgDevice of a gateway: its configured id when that is already a valid id, else a hash of it.
    public static func phgDevice(gatewayID: String) -> String {
        if gatewayID.count <= 59, !gatewayID.isEmpty, gatewayID.allSatisfy(isIDCharacter) { return "phg-" + gatewayID }
        return "phg-x" + sha256Hex(Array("gatewayd-gateway\n\(gatewayID)".utf8)).prefix(32)
    }

    /// "AABBCCDDEEFF" for a 6- or 8-octet EUI written with '-' or ':' separators, else nil.
    static func euiHex(_ key: String) -> String? {
        let octets = key.split(omittingEmptySubsequences: false) { $0 == "-" || $0 == ":" }
        guard octets.count == 6 || octets.count == 8,
            octets.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) })
        else { return nil }
        return octets.joined().uppercased()
    }

    static func isIDCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == ".")
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).hexString }
}
