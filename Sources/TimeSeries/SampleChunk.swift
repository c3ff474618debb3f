/// Summary statistics kept in the catalog for every sealed chunk, so whole chunks inside a query window are
/// answered without reading the chunk file.
public struct ChunkStatistics: Hashable, Sendable {
    public var count: Int
    public var minTimestampMicros: Int64
    public var maxTimestampMicros: Int64
    /// Over all samples of the chunk, flagged or not.
    public var aggregate: Aggregate
    /// OR of every sample's flags: when it shares no bit with a query's exclusion mask, no sample is excluded
    /// and `aggregate` is the answer.
    public var flagsUnion: UInt16
    /// How many samples carry any flag.
    public var flaggedCount: Int
}

/// Decoded columns of a sample chunk, ordered by time.
public struct DecodedChunk: Sendable {
    public var timestamps: [Int64]
    public var mantissas: [Int64]
    public var exponents: [Int64]
    public var flags: [Int64]
    /// 0 = no tag, otherwise tag + 1.
    public var tags: [Int64]

    public var count: Int { timestamps.count }

    public func sample(at i: Int) -> Sample {
        Sample(
            timestampMicros: timestamps[i],
            value: DecimalValue(mantissa: mantissas[i], exponent: Int8(truncatingIfNeeded: exponents[i])),
            flags: UInt16(truncatingIfNeeded: flags[i]),
            contextTag: tags[i] == 0 ? nil : UInt32(truncatingIfNeeded: tags[i] - 1))
    }
}

/// Seals samples into an immutable column-encoded chunk.
///
/// Timestamps try delta and delta-of-delta and keep whichever compresses smaller (jittery 1 Hz straps favour
/// delta; metronomic sensors favour delta-of-delta). Mantissas are delta + zigzag + bit-packed, divided by the deltas'
/// common step when that is smaller; exponents,
/// flags and tags are run-length encoded; every column then goes through zstd.
public enum ChunkEncoder {
    static let kind: UInt8 = 1
    enum Column: UInt8 {
        case timestamp = 1
        case mantissa = 2
        case exponent = 3
        case flags = 4
        case tag = 5
    }

    /// Encodes samples (sorted here by time, stably) and computes the chunk's statistics.
    public static func encode(
        _ unsorted: [Sample], compressionLevel: Int32 = 9
    ) throws(ZstdError) -> (bytes: [UInt8], statistics: ChunkStatistics) {
        let samples = isSorted(unsorted) ? unsorted : stableSorted(unsorted)
        var aggregate = Aggregate()
        var flagsUnion: UInt16 = 0
        var flagged = 0
        var ts = [Int64]()
        var mantissas = [Int64]()
        var exponents = [Int64]()
        var flags = [Int64]()
        var tags = [Int64]()
        ts.reserveCapacity(samples.count)
        mantissas.reserveCapacity(samples.count)
        exponents.reserveCapacity(samples.count)
        flags.reserveCapacity(samples.count)
        tags.reserveCapacity(samples.count)
        for s in samples {
            ts.append(s.timestampMicros)
            mantissas.append(s.value.mantissa)
            exponents.append(Int64(s.value.exponent))
            flags.append(Int64(s.flags))
            tags.append(s.contextTag.map { Int64($0) + 1 } ?? 0)
            aggregate.add(s)
            flagsUnion |= s.flags
            if s.flags != 0 { flagged += 1 }
        }
        let (bytes, _) = try ColumnContainer.encode(
            kind: kind, rowCount: samples.count,
            columns: [
                .init(
                    id: Column.timestamp.rawValue, values: ts,
                    candidates: [.timestampDelta, .timestampDeltaOfDelta, .timestampPredictedDelta]),
                .init(id: Column.mantissa.rawValue, values: mantissas, candidates: [.zigzagDelta, .scaledZigzagDelta]),
                .init(id: Column.exponent.rawValue, values: exponents, candidates: [.runLength]),
                .init(id: Column.flags.rawValue, values: flags, candidates: [.runLength]),
                .init(id: Column.tag.rawValue, values: tags, candidates: [.runLength]),
            ],
            compressionLevel: compressionLevel)
        let statistics = ChunkStatistics(
            count: samples.count, minTimestampMicros: ts.first ?? 0, maxTimestampMicros: ts.last ?? 0,
            aggregate: aggregate, flagsUnion: flagsUnion, flaggedCount: flagged)
        return (bytes, statistics)
    }

    static func isSorted(_ samples: [Sample]) -> Bool {
        var previous = Int64.min
        for s in samples {
            if s.timestampMicros < previous { return false }
            previous = s.timestampMicros
        }
        return true
    }

    static func stableSorted(_ samples: [Sample]) -> [Sample] {
        samples.enumerated().sorted {
            ($0.element.timestampMicros, $0.offset) < ($1.element.timestampMicros, $1.offset)
        }.map(\.element)
    }
}

/// Reads a sample chunk back, verifying its checksum first.
public enum ChunkDecoder {
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(ChunkFormatError) -> DecodedChunk {
        let (rows, columns) = try ColumnContainer.decode(bytes, expectedKind: ChunkEncoder.kind)
        func column(_ c: ChunkEncoder.Column) throws(ChunkFormatError) -> [Int64] {
            if let values = columns[c.rawValue] { return values }
            if rows == 0 { return [] }
            throw .missingColumn(c.rawValue)
        }
        return DecodedChunk(
            timestamps: try column(.timestamp), mantissas: try column(.mantissa), exponents: try column(.exponent),
            flags: try column(.flags), tags: try column(.tag))
    }
}
