/// Patched frame-of-reference bit packing in blocks of 1,024 values.
///
/// Each block stores its minimum (as a zigzag delta from the previous block's minimum, so a timestamp column's
/// block headers cost a byte, not ten) and packs `value - minimum` at one of the widths 1, 2, 4, 8, 16, 32 or 64
/// bits — or 0 when every value equals the minimum. A value that does not fit takes the all-ones code and is
/// stored after the block as an exception (a zigzag offset from the base); the width is chosen to minimise the block's size, so one missed
/// heartbeat (a delta of 2 s among deltas of 1 s) does not widen all 128 values.
///
/// Widths are powers of two so a packed value never straddles a byte in the narrow cases: zstd's Huffman stage
/// then sees whole symbols (two 4-bit deltas per byte) and takes the packed stream close to its entropy.
enum BitPacking {
    static let blockLength = 1024
    private static let widths: [Int] = [0, 1, 2, 4, 8, 16, 32, 64]

    /// `minimumWidth` 8 gives zstd one symbol per byte; which of narrow or byte-wide codes compresses better
    /// depends on the data, so the column encoder tries both and keeps the smaller (the decoder does not care).
    static func pack(_ values: UnsafeBufferPointer<Int64>, minimumWidth: Int = 0, into writer: inout ByteWriter) {
        var start = 0
        var previousMinimum: Int64 = 0
        var offsets = [UInt64](repeating: 0, count: blockLength)
        while start < values.count {
            let end = min(start + blockLength, values.count)
            let n = end - start
            let (width, low) = bestFrame(values, start..<end, minimumWidth: minimumWidth)
            for i in 0..<n { offsets[i] = UInt64(bitPattern: values[start + i] &- low) }
            writer.write(UInt8(width))
            writer.write(signedVarint: low &- previousMinimum)
            previousMinimum = low
            guard width > 0 else {
                start = end
                continue
            }
            let escape: UInt64 = width == 64 ? UInt64.max : (1 << UInt64(width)) - 1
            var exceptions: [(Int, UInt64)] = []
            if width < 64 {
                for i in 0..<n where offsets[i] >= escape {
                    exceptions.append((i, ZigZag.encode(values[start + i] &- low)))
                }
            }
            writer.write(varint: UInt64(exceptions.count))
            writeCodes(offsets, n, width: width, escape: escape, into: &writer)
            for (position, value) in exceptions {
                writer.write(varint: UInt64(position))
                writer.write(varint: value)
            }
            start = end
        }
    }

    /// The narrowest width, and the frame base, that leave at most 1 in 32 values as exceptions.
    ///
    /// Minimising raw packed size would pick 2-bit codes with 10 % exceptions for a heart-rate delta stream; that
    /// is smaller before zstd and larger after it, because exceptions are varints the entropy coder cannot model
    /// well. Exceptions are for rare outliers (a missed beat, a gap), on either side: the base is the start of
    /// the densest window of values, not the block minimum, so one short delta does not widen the block.
    private static func bestFrame(
        _ values: UnsafeBufferPointer<Int64>, _ range: Range<Int>, minimumWidth: Int
    ) -> (Int, Int64) {
        let sorted = values[range].sorted()
        let n = sorted.count
        guard let first = sorted.first, let last = sorted.last else { return (0, 0) }
        if first == last { return (0, first) }
        let allowed = n / 32
        for width in widths where width > 0 && width >= minimumWidth && width < 64 {
            let span = (UInt64(1) << UInt64(width)) - 1  // codes 0..<span are values, span is the escape
            var bestCovered = 0
            var bestBase = first
            var lo = 0
            for hi in 0..<n {
                while UInt64(bitPattern: sorted[hi] &- sorted[lo]) >= span { lo += 1 }
                if hi - lo + 1 > bestCovered {
                    bestCovered = hi - lo + 1
                    bestBase = sorted[lo]
                }
            }
            if n - bestCovered <= allowed { return (width, bestBase) }
        }
        return (64, first)
    }

    private static func varintLength(_ v: UInt64) -> Int { max(1, (64 - v.leadingZeroBitCount + 6) / 7) }

    private static func writeCodes(
        _ offsets: [UInt64], _ n: Int, width: Int, escape: UInt64, into writer: inout ByteWriter
    ) {
        if width >= 8 {
            for i in 0..<n {
                var v = min(offsets[i], escape)
                for _ in 0..<(width / 8) {
                    writer.write(UInt8(truncatingIfNeeded: v))
                    v >>= 8
                }
            }
            return
        }
        let perByte = 8 / width
        var i = 0
        while i < n {
            var byte: UInt8 = 0
            for slot in 0..<perByte where i + slot < n {
                byte |= UInt8(truncatingIfNeeded: min(offsets[i + slot], escape)) << (slot * width)
            }
            writer.write(byte)
            i += perByte
        }
    }

    /// Unpacks `count` values. Every block header, body and exception is checked against the remaining bytes.
    static func unpack(
        count: Int, from reader: inout ByteReader, into output: UnsafeMutableBufferPointer<Int64>
    ) throws(ByteReadError) {
        var start = 0
        var minimum: Int64 = 0
        while start < count {
            let n = min(blockLength, count - start)
            let width = Int(try reader.readByte("bit-packed block width"))
            guard widths.contains(width) else {
                throw reader.error("bit-packed block width", "\(width) is not a supported width")
            }
            minimum &+= try reader.readSignedVarint("bit-packed block minimum")
            if width == 0 {
                for i in 0..<n { output[start + i] = minimum }
                start += n
                continue
            }
            let exceptionCount = Int(clamping: try reader.readVarint("bit-packed exception count"))
            guard exceptionCount <= n else {
                throw reader.error("bit-packed exception count", "\(exceptionCount) exceptions in a block of \(n)")
            }
            let byteCount = width >= 8 ? n * (width / 8) : (n + (8 / width) - 1) / (8 / width)
            let body = try reader.readBytes(byteCount, "bit-packed block body")
            let base = minimum
            body.withUnsafeBufferPointer { raw in
                unpackBlock(raw, width: width, minimum: base, into: output, start: start, count: n)
            }
            for _ in 0..<exceptionCount {
                let position = Int(clamping: try reader.readVarint("exception position"))
                guard position < n else {
                    throw reader.error("exception position", "\(position) is outside a block of \(n)")
                }
                let value = try reader.readVarint("exception value")
                output[start + position] = minimum &+ ZigZag.decode(value)
            }
            start += n
        }
    }

    @inline(__always)
    private static func unpackBlock(
        _ raw: UnsafeBufferPointer<UInt8>, width: Int, minimum: Int64,
        into output: UnsafeMutableBufferPointer<Int64>, start: Int, count: Int
    ) {
        switch width {
        case 4:
            for i in 0..<count {
                let byte = raw[i >> 1]
                output[start + i] = minimum &+ Int64((byte >> UInt8((i & 1) << 2)) & 0x0F)
            }
        case 1, 2:
            let perByte = 8 / width
            let mask = UInt8((1 << width) - 1)
            for i in 0..<count {
                let byte = raw[i / perByte]
                output[start + i] = minimum &+ Int64((byte >> UInt8((i % perByte) * width)) & mask)
            }
        case 8:
            for i in 0..<count { output[start + i] = minimum &+ Int64(raw[i]) }
        default:
            let bytesPerValue = width / 8
            for i in 0..<count {
                var v: UInt64 = 0
                let base = i * bytesPerValue
                for b in 0..<bytesPerValue { v |= UInt64(raw[base + b]) << (8 * b) }
                output[start + i] = minimum &+ Int64(bitPattern: v)
            }
        }
    }
}
