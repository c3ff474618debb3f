import CBlueZ

/// A 48-bit Bluetooth device address (EUI-48), kept in the order people read it ("AA:BB:CC:DD:EE:FF").
///
/// BlueZ's `bdaddr_t` stores the bytes least-significant first; this type owns that reversal so no caller
/// has to remember it when a transport binds or connects a socket.
public struct BluetoothAddress: Hashable, Sendable, CustomStringConvertible {
    /// The six bytes, most significant first (display order).
    public let bytes: [UInt8]

    /// Why a textual address was refused.
    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case wrongGroupCount(Int)
        case badGroup(index: Int, text: String)

        public var description: String {
            switch self {
            case .wrongGroupCount(let n):
                "a Bluetooth address has 6 colon-separated hex bytes (AA:BB:CC:DD:EE:FF); got \(n) groups"
            case .badGroup(let index, let text):
                "byte \(index + 1) of the Bluetooth address, '\(text)', is not two hex digits"
            }
        }
    }

    /// Parses "AA:BB:CC:DD:EE:FF" (either case).
    public init(parsing text: String) throws(ParseError) {
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        guard groups.count == 6 else { throw .wrongGroupCount(groups.count) }
        var bytes: [UInt8] = []
        for (index, group) in groups.enumerated() {
            guard group.count == 2, let byte = UInt8(group, radix: 16) else {
                throw .badGroup(index: index, text: String(group))
            }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// Builds an address from BlueZ's little-endian `bdaddr_t`.
    public init(bdaddr: bdaddr_t) {
        let b = bdaddr.b
        bytes = [b.5, b.4, b.3, b.2, b.1, b.0]
    }

    /// The address as BlueZ's little-endian `bdaddr_t`, ready for `sockaddr_l2`.
    public var bdaddr: bdaddr_t {
        bdaddr_t(b: (bytes[5], bytes[4], bytes[3], bytes[2], bytes[1], bytes[0]))
    }

    public var description: String {
        bytes.map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}
