/// Compact binary form of `ChunkStatistics` for the catalog's `stats` column.
enum StatisticsCoding {
    static func encode(_ s: ChunkStatistics) -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.write(varint: UInt64(s.count))
        w.write(signedVarint: s.minTimestampMicros)
        w.write(signedVarint: s.maxTimestampMicros)
        w.write(varint: UInt64(s.flagsUnion))
        w.write(varint: UInt64(s.flaggedCount))
        write(s.aggregate, &w)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> ChunkStatistics {
        var r = ByteReader(bytes)
        let count = Int(clamping: try r.readVarint("count"))
        let minTs = try r.readSignedVarint("min time")
        let maxTs = try r.readSignedVarint("max time")
        let union = UInt16(truncatingIfNeeded: try r.readVarint("flags union"))
        let flagged = Int(clamping: try r.readVarint("flagged count"))
        let aggregate = try read(&r)
        return ChunkStatistics(
            count: count, minTimestampMicros: minTs, maxTimestampMicros: maxTs, aggregate: aggregate,
            flagsUnion: union, flaggedCount: flagged)
    }

    static func write(_ a: Aggregate, _ w: inout ByteWriter) {
        w.write(varint: UInt64(a.count))
        guard a.count > 0, let min = a.min, let max = a.max, let first = a.first, let last = a.last else { return }
        for v in [min, max] { writeDecimal(v, &w) }
        for t in [first, last] {
            w.write(signedVarint: t.timestampMicros)
            writeDecimal(t.value, &w)
        }
        for e in [a.sum, a.sumOfSquares] {
            guard let e else {
                w.write(0)
                continue
            }
            w.write(1)
            w.write(signedVarint: Int64(e.exponent))
            w.write(littleEndian: UInt64(truncatingIfNeeded: e.mantissa))
            w.write(littleEndian: UInt64(truncatingIfNeeded: e.mantissa >> 64))
        }
    }

    static func read(_ r: inout ByteReader) throws -> Aggregate {
        let count = Int(clamping: try r.readVarint("aggregate count"))
        guard count > 0 else { return Aggregate() }
        let min = try readDecimal(&r)
        let max = try readDecimal(&r)
        var timed: [TimedValue] = []
        for _ in 0..<2 {
            timed.append(TimedValue(timestampMicros: try r.readSignedVarint("time"), value: try readDecimal(&r)))
        }
        var sums: [ExactDecimal?] = []
        for _ in 0..<2 {
            if try r.readByte("sum present") == 0 {
                sums.append(nil)
                continue
            }
            let exponent = Int(try r.readSignedVarint("sum exponent"))
            let low = try r.read(UInt64.self, "sum low")
            let high = try r.read(UInt64.self, "sum high")
            sums.append(ExactDecimal(mantissa: Int128(high: Int64(bitPattern: high), low: low), exponent: exponent))
        }
        return Aggregate(
            count: count, min: min, max: max, sum: sums[0], sumOfSquares: sums[1], first: timed[0], last: timed[1])
    }

    private static func writeDecimal(_ v: DecimalValue, _ w: inout ByteWriter) {
        w.write(signedVarint: v.mantissa)
        w.write(signedVarint: Int64(v.exponent))
    }

    private static func readDecimal(_ r: inout ByteReader) throws -> DecimalValue {
        let m = try r.readSignedVarint("mantissa")
        guard let e = Int8(exactly: try r.readSignedVarint("exponent")) else {
            throw r.error("exponent", "out of range")
        }
        return DecimalValue(mantissa: m, exponent: e)
    }
}

extension Int128 {
    init(high: Int64, low: UInt64) {
        self = Int128(high) << 64 | Int128(low)
    }
}
