import Crypto
import _CryptoExtras

/// AES-CMAC (RFC 4493, NIST SP 800-38B): the MAC Bluetooth builds its Database Hash and its pairing functions on.
public enum AESCMAC {
    /// The 16-byte MAC of `message` under the 16-byte `key`, in the RFC's byte order (most significant first).
    public static func mac(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: key)
        func encrypt(_ block: [UInt8]) -> [UInt8] {
            var block = block
            // 16 bytes and a 16-byte key by construction: permute cannot fail here.
            try? AES.permute(&block, key: key)
            return block
        }
        func double(_ value: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 16)
            for index in 0..<16 { out[index] = value[index] << 1 | (index < 15 ? value[index + 1] >> 7 : 0) }
            if value[0] & 0x80 != 0 { out[15] ^= 0x87 }
            return out
        }
        func xor(_ a: [UInt8], _ b: some Collection<UInt8>) -> [UInt8] { zip(a, b).map { $0 ^ $1 } }
        let subkey1 = double(encrypt([UInt8](repeating: 0, count: 16)))
        let subkey2 = double(subkey1)
        let blocks = max(1, (message.count + 15) / 16)
        let lastStart = (blocks - 1) * 16
        let last: [UInt8] =
            !message.isEmpty && message.count % 16 == 0
            ? xor(Array(message[lastStart...]), subkey1)
            : xor(
                Array(message[lastStart...]) + [0x80] + [UInt8](repeating: 0, count: 15 - (message.count - lastStart)),
                subkey2)
        var state = [UInt8](repeating: 0, count: 16)
        for block in 0..<(blocks - 1) { state = encrypt(xor(state, message[(block * 16)..<(block * 16 + 16)])) }
        return encrypt(xor(state, last))
    }
}

extension AttributeDatabase {
    /// The Database Hash of this table (Core Vol 3 Part G 7.3): AES-CMAC with a zero key over, in handle order, each
    /// service, include and characteristic declaration and extended-properties descriptor as handle, type and value,
    /// and each other GATT-defined descriptor (user description, CCCD, SCCD, presentation and aggregate formats) as
    /// handle and type. Sent in Bluetooth's byte order (least significant first). It changes exactly when the
    /// structure a client discovers changes, so a client that kept the old value knows its cached discovery holds.
    public var databaseHash: [UInt8] {
        let withValue: Set<UInt16> = [0x2800, 0x2801, 0x2802, 0x2803, 0x2900]
        let withoutValue: Set<UInt16> = [0x2901, 0x2902, 0x2903, 0x2904, 0x2905]
        var message: [UInt8] = []
        for attribute in attributes {
            guard let short = attribute.type.shortValue, withValue.contains(short) || withoutValue.contains(short)
            else { continue }
            message += [UInt8(attribute.handle & 0xFF), UInt8(attribute.handle >> 8)] + attribute.type.attBytes
            if withValue.contains(short), case .fixed(let value) = attribute.value { message += value }
        }
        return AESCMAC.mac(message, key: [UInt8](repeating: 0, count: 16)).reversed()
    }
}
