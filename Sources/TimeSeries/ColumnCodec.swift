/// How one column of a chunk is encoded before compression.
enum ColumnEncoding: UInt8, Sendable {
    /// Sorted-ish timestamps: first value, the common divisor of the deltas, bit-packed deltas.
    case timestampDelta = 1
    /// Regular timestamps: first value, first delta, bit-packed delta-of-deltas (divided by the common divisor).
    case timestampDeltaOfDelta = 2
    /// Jittery timestamps: bit-packed residuals of each delta against half the previous one. A sensor whose
    /// clock wobbles around a fixed period makes consecutive deltas anti-correlated (a late tick is followed by
    /// an early one); adding back half the previous delta removes that and narrows the residuals.
    case timestampPredictedDelta = 5
    /// Values that change a little each step: first value, bit-packed zigzag deltas.
    case zigzagDelta = 3
    /// Values that rarely change (exponents, flags, tags): (value, run length) pairs.
    case runLength = 4
    /// Values that move in steps of a common size: first value, the common divisor of the deltas, bit-packed zigzag
    /// deltas divided by it. A decimal kept with a fine exponent (an RR interval of n/1024 s is n × 9765625 × 10⁻¹⁰ s)
    /// only ever moves in multiples of one step; without the divisor every delta costs ~30 bits instead of ~6.
    case scaledZigzagDelta = 6
}

/// Encodes and decodes one column of 64-bit integers. The chunk format decides which encoding each column gets.
enum ColumnCodec {
    static func encode(_ values: [Int64], as encoding: ColumnEncoding, minimumWidth: Int = 0) -> [UInt8] {
        var writer = ByteWriter(capacity: values.count)
        writer.write(varint: UInt64(values.count))
        guard let first = values.first else { return writer.bytes }
        switch encoding {
        case .timestampDelta, .timestampDeltaOfDelta, .timestampPredictedDelta:
            encodeTimestamps(values, first: first, encoding: encoding, minimumWidth: minimumWidth, &writer)
        case .zigzagDelta:
            writer.write(signedVarint: first)
            var packed = [Int64](repeating: 0, count: values.count - 1)
            for i in 1..<values.count {
                packed[i - 1] = Int64(bitPattern: ZigZag.encode(values[i] &- values[i - 1]))
            }
            packed.withUnsafeBufferPointer { BitPacking.pack($0, minimumWidth: minimumWidth, into: &writer) }
        case .scaledZigzagDelta:
            writer.write(signedVarint: first)
            var divisor: UInt64 = 0
            for i in 1..<values.count { divisor = gcd(divisor, (values[i] &- values[i - 1]).magnitude) }
            if divisor == 0 || divisor > UInt64(Int64.max) { divisor = 1 }
            writer.write(varint: divisor)
            let d = Int64(bitPattern: divisor)
            var packed = [Int64](repeating: 0, count: values.count - 1)
            for i in 1..<values.count {
                packed[i - 1] = Int64(bitPattern: ZigZag.encode((values[i] &- values[i - 1]) / d))
            }
            packed.withUnsafeBufferPointer { BitPacking.pack($0, minimumWidth: minimumWidth, into: &writer) }
        case .runLength:
            var i = 0
            while i < values.count {
                var j = i + 1
                while j < values.count && values[j] == values[i] { j += 1 }
                writer.write(signedVarint: values[i])
                writer.write(varint: UInt64(j - i))
                i = j
            }
        }
        return writer.bytes
    }

    private static func encodeTimestamps(
        _ values: [Int64], first: Int64, encoding: ColumnEncoding, minimumWidth: Int, _ writer: inout ByteWriter
    ) {
        writer.write(signedVarint: first)
        var deltas = [Int64](repeating: 0, count: values.count - 1)
        var divisor: UInt64 = 0
        for i in 1..<values.count {
            deltas[i - 1] = values[i] &- values[i - 1]
            divisor = gcd(divisor, deltas[i - 1].magnitude)
        }
        if divisor == 0 || divisor > UInt64(Int64.max) { divisor = 1 }
        writer.write(varint: divisor)
        let d = Int64(bitPattern: divisor)
        var residues: [Int64]
        if encoding == .timestampPredictedDelta {
            residues = [Int64](repeating: 0, count: deltas.count)
            var previous: Int64 = 0
            for i in 0..<deltas.count {
                let q = deltas[i] / d
                residues[i] = q &+ (previous >> 1)
                previous = q
            }
        } else if encoding == .timestampDeltaOfDelta {
            guard let firstDelta = deltas.first else { return }
            writer.write(signedVarint: firstDelta / d)
            residues = [Int64](repeating: 0, count: max(deltas.count - 1, 0))
            for i in 1..<deltas.count { residues[i - 1] = deltas[i] / d &- deltas[i - 1] / d }
        } else {
            residues = deltas.map { $0 / d }
        }
        residues.withUnsafeBufferPointer { BitPacking.pack($0, minimumWidth: minimumWidth, into: &writer) }
    }

    /// Decodes a column, checking that it holds exactly `expectedCount` values.
    static func decode(
        _ bytes: ArraySlice<UInt8>, as encoding: ColumnEncoding, expectedCount: Int
    ) throws(ByteReadError) -> [Int64] {
        var reader = ByteReader(bytes)
        let count = Int(clamping: try reader.readVarint("column value count"))
        guard count == expectedCount else {
            throw reader.error("column value count", "column holds \(count) values, chunk says \(expectedCount)")
        }
        guard count > 0 else { return [] }
        var result = [Int64](repeating: 0, count: count)
        switch encoding {
        case .timestampDelta, .timestampDeltaOfDelta, .timestampPredictedDelta:
            try decodeTimestamps(&reader, into: &result, encoding: encoding)
        case .zigzagDelta, .scaledZigzagDelta:
            let first = try reader.readSignedVarint("first value")
            var step: Int64 = 1
            if encoding == .scaledZigzagDelta {
                step = Int64(bitPattern: try reader.readVarint("value divisor"))
                guard step > 0 else { throw reader.error("value divisor", "must be positive") }
            }
            var packed = [Int64](repeating: 0, count: count - 1)
            try packed.withUnsafeMutableBufferPointer { (p) throws(ByteReadError) in
                try BitPacking.unpack(count: count - 1, from: &reader, into: p)
            }
            result.withUnsafeMutableBufferPointer { out in
                var v = first
                out[0] = v
                for i in 1..<count {
                    v &+= ZigZag.decode(UInt64(bitPattern: packed[i - 1])) &* step
                    out[i] = v
                }
            }
        case .runLength:
            var filled = 0
            while filled < count {
                let value = try reader.readSignedVarint("run value")
                let run = Int(clamping: try reader.readVarint("run length"))
                guard run > 0, run <= count - filled else {
                    throw reader.error("run length", "run of \(run) overflows the \(count) values of the column")
                }
                for i in filled..<(filled + run) { result[i] = value }
                filled += run
            }
        }
        guard reader.isAtEnd else {
            throw reader.error("column end", "\(reader.remaining) unexpected trailing bytes")
        }
        return result
    }

    private static func decodeTimestamps(
        _ reader: inout ByteReader, into result: inout [Int64], encoding: ColumnEncoding
    ) throws(ByteReadError) {
        let count = result.count
        let first = try reader.readSignedVarint("first timestamp")
        let divisor = Int64(bitPattern: try reader.readVarint("timestamp divisor"))
        guard divisor > 0 else { throw reader.error("timestamp divisor", "must be positive") }
        result[0] = first
        guard count > 1 else { return }
        if encoding == .timestampDeltaOfDelta {
            let firstDelta = try reader.readSignedVarint("first delta")
            var residues = [Int64](repeating: 0, count: count - 2)
            try residues.withUnsafeMutableBufferPointer { (p) throws(ByteReadError) in
                try BitPacking.unpack(count: count - 2, from: &reader, into: p)
            }
            var delta = firstDelta
            var t = first &+ delta &* divisor
            result[1] = t
            for i in 2..<count {
                delta &+= residues[i - 2]
                t &+= delta &* divisor
                result[i] = t
            }
        } else {
            var residues = [Int64](repeating: 0, count: count - 1)
            try residues.withUnsafeMutableBufferPointer { (p) throws(ByteReadError) in
                try BitPacking.unpack(count: count - 1, from: &reader, into: p)
            }
            var t = first
            var previous: Int64 = 0
            let predicted = encoding == .timestampPredictedDelta
            for i in 1..<count {
                var q = residues[i - 1]
                if predicted {
                    q &-= previous >> 1
                    previous = q
                }
                t &+= q &* divisor
                result[i] = t
            }
        }
    }

    static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }
}
