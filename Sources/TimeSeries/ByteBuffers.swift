/// Appends little-endian integers and LEB128 varints to a growing byte array.
///
/// The store's on-disk formats (log records, chunk headers, columns) are all written through this one type so
/// byte order and varint rules live in one place.
package struct ByteWriter {
    package private(set) var bytes: [UInt8]

    package init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    package mutating func write(_ value: UInt8) { bytes.append(value) }

    mutating func write<T: FixedWidthInteger>(littleEndian value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    package mutating func write(varint value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    package mutating func write(signedVarint value: Int64) { write(varint: ZigZag.encode(value)) }

    package mutating func write(contentsOf other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }

    /// Overwrites four bytes at `offset` (used to patch a length or checksum in place).
    mutating func patch(littleEndian value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for i in 0..<4 { bytes[offset + i] = raw[i] }
        }
    }
}

/// Why bytes could not be read: always names the field and the offset so a corrupt file can be diagnosed.
public struct ByteReadError: Error, Equatable, CustomStringConvertible {
    public let field: String
    public let offset: Int
    public let problem: String

    public var description: String { "\(field) at byte \(offset): \(problem)" }
}

/// A bounds-checked cursor over bytes. Every read checks the remaining length and throws a typed error
/// naming the field, so no decoder can read past the end of a truncated chunk or log record.
package struct ByteReader {
    package let bytes: ArraySlice<UInt8>
    package private(set) var offset: Int

    package init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.offset = bytes.startIndex
    }

    package init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    package var remaining: Int { bytes.endIndex - offset }
    package var isAtEnd: Bool { offset >= bytes.endIndex }
    /// Offset relative to the start of the slice, for error messages.
    var position: Int { offset - bytes.startIndex }

    package func error(_ field: String, _ problem: String) -> ByteReadError {
        ByteReadError(field: field, offset: position, problem: problem)
    }

    package mutating func readByte(_ field: String) throws(ByteReadError) -> UInt8 {
        guard offset < bytes.endIndex else { throw error(field, "needs 1 byte, none left") }
        defer { offset += 1 }
        return bytes[offset]
    }

    package mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(ByteReadError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw error(field, "needs \(size) bytes, \(remaining) left") }
        var value: T = 0
        for i in 0..<size { value |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        offset += size
        return value
    }

    package mutating func readVarint(_ field: String) throws(ByteReadError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.endIndex else { throw error(field, "varint runs past the end") }
            let byte = bytes[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw error(field, "varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw error(field, "varint longer than 10 bytes") }
        }
    }

    package mutating func readSignedVarint(_ field: String) throws(ByteReadError) -> Int64 {
        ZigZag.decode(try readVarint(field))
    }

    package mutating func readBytes(_ count: Int, _ field: String) throws(ByteReadError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else {
            throw error(field, "needs \(count) bytes, \(remaining) left")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }
}

/// ZigZag maps signed integers to unsigned so that small magnitudes get small codes (0, -1, 1, -2 → 0, 1, 2, 3).
enum ZigZag {
    @inline(__always) static func encode(_ v: Int64) -> UInt64 {
        UInt64(bitPattern: (v << 1) ^ (v >> 63))
    }

    @inline(__always) static func decode(_ u: UInt64) -> Int64 {
        Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }
}
