/// The one reader every characteristic decoder uses: little-endian fields over a byte array, every read
/// length-checked, every failure a `CharacteristicDecodeError` naming the field and its offset.
public struct PayloadReader: Sendable {
    public let bytes: [UInt8]
    public let characteristic: String
    public private(set) var offset: Int = 0

    public init(_ bytes: [UInt8], characteristic: String) {
        self.bytes = bytes
        self.characteristic = characteristic
    }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset >= bytes.count }

    /// An error about `field` at the current offset (or at `offset` when given).
    public func error(_ field: String, _ problem: CharacteristicDecodeError.Problem, at offset: Int? = nil)
        -> CharacteristicDecodeError
    {
        CharacteristicDecodeError(
            characteristic: characteristic, field: field, offset: offset ?? self.offset, problem: problem)
    }

    public mutating func bytes(_ count: Int, _ field: String) throws(CharacteristicDecodeError) -> [UInt8] {
        guard count >= 0, remaining >= count else {
            throw error(field, .truncated(needed: count, available: max(remaining, 0)))
        }
        let slice = Array(bytes[offset..<offset + count])
        offset += count
        return slice
    }

    /// Reads `count` bytes as a little-endian unsigned integer (count ≤ 8).
    public mutating func unsigned(_ count: Int, _ field: String) throws(CharacteristicDecodeError) -> UInt64 {
        let raw = try bytes(count, field)
        var value: UInt64 = 0
        for (index, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        return value
    }

    public mutating func uint8(_ field: String) throws(CharacteristicDecodeError) -> UInt8 {
        UInt8(truncatingIfNeeded: try unsigned(1, field))
    }

    public mutating func uint16(_ field: String) throws(CharacteristicDecodeError) -> UInt16 {
        UInt16(truncatingIfNeeded: try unsigned(2, field))
    }

    public mutating func uint24(_ field: String) throws(CharacteristicDecodeError) -> UInt32 {
        UInt32(truncatingIfNeeded: try unsigned(3, field))
    }

    public mutating func uint32(_ field: String) throws(CharacteristicDecodeError) -> UInt32 {
        UInt32(truncatingIfNeeded: try unsigned(4, field))
    }

    public mutating func int8(_ field: String) throws(CharacteristicDecodeError) -> Int8 {
        Int8(bitPattern: try uint8(field))
    }

    public mutating func int16(_ field: String) throws(CharacteristicDecodeError) -> Int16 {
        Int16(bitPattern: try uint16(field))
    }

    /// IEEE 11073-20601 16-bit SFLOAT.
    public mutating func sfloat(_ field: String) throws(CharacteristicDecodeError) -> MedicalFloat {
        MedicalFloat(sfloat: try uint16(field))
    }

    /// IEEE 11073-20601 32-bit FLOAT.
    public mutating func float(_ field: String) throws(CharacteristicDecodeError) -> MedicalFloat {
        MedicalFloat(float: try uint32(field))
    }

    /// The rest of the payload as UTF-8 text (DIS strings); invalid UTF-8 is an error, not replaced.
    public mutating func utf8String(_ field: String) throws(CharacteristicDecodeError) -> String {
        let start = offset
        let raw = try bytes(remaining, field)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw error(field, .invalidValue("not valid UTF-8"), at: start)
        }
        return text
    }

    /// Ends decoding: trailing bytes after the last announced field are refused (see `CharacteristicValue`).
    public func finish() throws(CharacteristicDecodeError) {
        guard isAtEnd else { throw error("end_of_payload", .trailingBytes(count: remaining)) }
    }

    /// Refuses flag bits outside `allowed`; the field is read at `offset`.
    public func checkReservedBits(
        _ value: UInt64, allowed: UInt64, field: String, at offset: Int
    ) throws(CharacteristicDecodeError) {
        let reserved = value & ~allowed
        guard reserved == 0 else { throw error(field, .reservedFlagBits(reserved), at: offset) }
    }
}

/// The matching little-endian writer, used to encode values (simulated peripherals, RACP requests, tests).
public struct PayloadWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func unsigned(_ value: UInt64, _ count: Int) {
        for index in 0..<count { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
    }

    public mutating func uint8(_ value: UInt8) { bytes.append(value) }
    public mutating func uint16(_ value: UInt16) { unsigned(UInt64(value), 2) }
    public mutating func uint24(_ value: UInt32) { unsigned(UInt64(value), 3) }
    public mutating func uint32(_ value: UInt32) { unsigned(UInt64(value), 4) }
    public mutating func int8(_ value: Int8) { uint8(UInt8(bitPattern: value)) }
    public mutating func int16(_ value: Int16) { uint16(UInt16(bitPattern: value)) }
    public mutating func sfloat(_ value: MedicalFloat) { uint16(value.sfloatBits) }
    public mutating func float(_ value: MedicalFloat) { uint32(value.floatBits) }
    public mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
    public mutating func utf8(_ text: String) { bytes.append(contentsOf: Array(text.utf8)) }
}
