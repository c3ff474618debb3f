/// One UTC-aligned rollup bucket: what is left of raw samples after retention drops them.
///
/// The aggregate covers the samples with no flag set ("clean"); flagged samples are only counted, with the OR of
/// their flags, so a query that excludes doubtful readings can still be answered exactly after retention.
struct RollupBucket: Hashable, Sendable {
    var widthMicros: Int64
    var startMicros: Int64
    var clean: Aggregate
    var flaggedCount: Int
    var flagsUnion: UInt16
}

/// Encodes rollup buckets as a column container (kind 2), reusing the chunk codecs.
enum RollupCodec {
    static let kind: UInt8 = 2

    static func buckets(of chunk: DecodedChunk, widths: [Int64]) -> [RollupBucket] {
        buckets(of: (0..<chunk.count).map(chunk.sample(at:)), widths: widths)
    }

    static func buckets(of samples: [Sample], widths: [Int64]) -> [RollupBucket] {
        var result: [RollupBucket] = []
        for width in widths {
            var byStart: [Int64: RollupBucket] = [:]
            for s in samples {
                let start = s.timestampMicros.dividedRoundingDown(by: width) * width
                var bucket =
                    byStart[start]
                    ?? RollupBucket(
                        widthMicros: width, startMicros: start, clean: Aggregate(), flaggedCount: 0, flagsUnion: 0)
                if s.flags == 0 {
                    bucket.clean.add(s)
                } else {
                    bucket.flaggedCount += 1
                    bucket.flagsUnion |= s.flags
                }
                byStart[start] = bucket
            }
            result += byStart.values.sorted { $0.startMicros < $1.startMicros }
        }
        return result
    }

    static func encode(_ buckets: [RollupBucket], compressionLevel: Int32) throws(ZstdError) -> [UInt8] {
        var columns = [[Int64]](repeating: [], count: 23)
        for b in buckets {
            let a = b.clean
            let zero = DecimalValue(mantissa: 0, exponent: 0)
            let first = a.first ?? TimedValue(timestampMicros: 0, value: zero)
            let last = a.last ?? TimedValue(timestampMicros: 0, value: zero)
            var row: [Int64] = [
                b.widthMicros, b.startMicros, Int64(a.count), Int64(b.flaggedCount), Int64(b.flagsUnion),
                (a.min ?? zero).mantissa, Int64((a.min ?? zero).exponent),
                (a.max ?? zero).mantissa, Int64((a.max ?? zero).exponent),
                first.timestampMicros, first.value.mantissa, Int64(first.value.exponent),
                last.timestampMicros, last.value.mantissa, Int64(last.value.exponent),
            ]
            for sum in [a.sum, a.sumOfSquares] {
                let s = sum ?? .zero
                row += [
                    sum == nil ? 0 : 1, Int64(truncatingIfNeeded: s.mantissa >> 64),
                    Int64(bitPattern: UInt64(truncatingIfNeeded: s.mantissa)), Int64(s.exponent),
                ]
            }
            for (i, v) in row.enumerated() { columns[i].append(v) }
        }
        let encodings: [ColumnEncoding] = [.runLength, .timestampDelta, .zigzagDelta, .runLength, .runLength]
        let inputs = columns.enumerated().map { i, values in
            ColumnContainer.ColumnInput(
                id: UInt8(i + 1), values: values,
                candidates: i < encodings.count ? [encodings[i]] : [.zigzagDelta, .runLength])
        }
        return try ColumnContainer.encode(
            kind: kind, rowCount: buckets.count, columns: inputs, compressionLevel: compressionLevel
        ).bytes
    }

    static func decode(_ bytes: ArraySlice<UInt8>) throws(ChunkFormatError) -> [RollupBucket] {
        let (rows, columns) = try ColumnContainer.decode(bytes, expectedKind: kind)
        var c: [[Int64]] = []
        for id in 1...23 {
            guard let values = columns[UInt8(id)] else {
                if rows == 0 { return [] }
                throw .missingColumn(UInt8(id))
            }
            c.append(values)
        }
        func decimal(_ m: Int, _ e: Int, _ i: Int) -> DecimalValue {
            DecimalValue(mantissa: c[m][i], exponent: Int8(truncatingIfNeeded: c[e][i]))
        }
        func exact(_ base: Int, _ i: Int) -> ExactDecimal? {
            guard c[base][i] != 0 else { return nil }
            return ExactDecimal(
                mantissa: Int128(high: c[base + 1][i], low: UInt64(bitPattern: c[base + 2][i])),
                exponent: Int(c[base + 3][i]))
        }
        return (0..<rows).map { i in
            let count = Int(c[2][i])
            let clean =
                count == 0
                ? Aggregate()
                : Aggregate(
                    count: count, min: decimal(5, 6, i), max: decimal(7, 8, i), sum: exact(15, i),
                    sumOfSquares: exact(19, i),
                    first: TimedValue(timestampMicros: c[9][i], value: decimal(10, 11, i)),
                    last: TimedValue(timestampMicros: c[12][i], value: decimal(13, 14, i)))
            return RollupBucket(
                widthMicros: c[0][i], startMicros: c[1][i], clean: clean, flaggedCount: Int(c[3][i]),
                flagsUnion: UInt16(truncatingIfNeeded: c[4][i]))
        }
    }
}

/// What a retention pass did.
public struct RetentionReport: Sendable {
    public var chunksRolledUp = 0
    public var samplesDropped = 0
    public var rollupBuckets = 0
    public var filesDeleted = 0
    public var filesRewritten = 0
    public var corruptChunks: [CorruptChunkReport] = []
}

extension TimeSeriesStore {
    /// Drops raw samples in chunks that end before `cutoffMicros`, keeping their rollups, then reclaims disk.
    ///
    /// Each raw chunk is replaced by its rollup chunk in one catalog transaction, so a crash leaves either the
    /// raw chunk or its rollup, never neither. A corrupt chunk is reported and left in place.
    public func applyRetention(rawOlderThan cutoffMicros: Int64) throws -> RetentionReport {
        try requireWritable()
        var report = RetentionReport()
        let old = try catalog.allChunks().filter { $0.kind == .samples && $0.maxTimestampMicros < cutoffMicros }
        for chunk in old {
            let decoded: DecodedChunk
            do { decoded = try ChunkDecoder.decode(try readChunk(chunk)[...]) } catch {
                report.corruptChunks.append(self.report(corrupt: chunk, "\(error)"))
                continue
            }
            let buckets = RollupCodec.buckets(of: decoded, widths: configuration.rollupWidthsMicros)
            let bytes = try RollupCodec.encode(buckets, compressionLevel: configuration.compressionLevel)
            let location = try files.append(bytes)
            let rollup = ChunkRecord(
                id: 0, seriesID: chunk.seriesID, kind: .rollup, minTimestampMicros: chunk.minTimestampMicros,
                maxTimestampMicros: chunk.maxTimestampMicros, rowCount: buckets.count, file: location.file,
                offset: location.offset, length: bytes.count, statistics: nil)
            try stateLock.locked { try catalog.replace(chunkIDs: [chunk.id], with: [rollup]) }
            report.chunksRolledUp += 1
            report.samplesDropped += chunk.rowCount
            report.rollupBuckets += buckets.count
        }
        try reclaimFiles(&report)
        logger.info(
            "retention applied",
            metadata: [
                "retention.chunks": "\(report.chunksRolledUp)", "retention.samples": "\(report.samplesDropped)",
                "retention.files_deleted": "\(report.filesDeleted)",
            ])
        return report
    }

    /// Deletes data files nothing points into, and rewrites files that are mostly dead.
    private func reclaimFiles(_ report: inout RetentionReport) throws {
        let chunks = try catalog.allChunks()
        var live: [Int: Int] = [:]
        for c in chunks { live[c.file, default: 0] += c.length }
        for (number, size) in files.fileSizes() where number != files.activeNumber {
            let liveBytes = live[number, default: 0]
            if liveBytes == 0 {
                try files.remove(file: number)
                report.filesDeleted += 1
            } else if liveBytes * 2 < size {
                var moves: [(id: Int64, file: Int, offset: Int)] = []
                for c in chunks where c.file == number {
                    let location = try files.append(try readChunk(c))
                    moves.append((c.id, location.file, location.offset))
                }
                try stateLock.locked { try catalog.relocate(moves) }
                try files.remove(file: number)
                report.filesRewritten += 1
            }
        }
    }

    /// Merges rollup buckets of compacted time into the window accumulator, picking per rollup chunk the widest
    /// width whose buckets each fall inside one window and inside the range.
    func addRollups(
        _ query: WindowQuery, calendar: WindowCalendar, into accumulator: inout WindowAccumulator,
        plan: inout QueryPlanReport, corrupt: inout [CorruptChunkReport]
    ) throws {
        let (rollups, _) = try snapshot(query.series, kind: .rollup, range: query.range)
        for chunk in rollups {
            let buckets: [RollupBucket]
            do { buckets = try RollupCodec.decode(try readChunk(chunk)[...]) } catch {
                corrupt.append(report(corrupt: chunk, "\(error)"))
                continue
            }
            plan.rollupChunksRead += 1
            let widths = Set(buckets.map(\.widthMicros)).sorted(by: >)
            var answered = false
            for width in widths {
                let relevant = buckets.filter {
                    $0.widthMicros == width && $0.startMicros < query.range.upperBound
                        && $0.startMicros + width > query.range.lowerBound
                }
                let fits = relevant.allSatisfy { b in
                    query.range.contains(b.startMicros) && b.startMicros + width <= query.range.upperBound
                        && calendar.label(for: b.startMicros) == calendar.label(for: b.startMicros + width - 1)
                        && (b.flaggedCount == 0 || (query.excludeFlags != 0 && b.flagsUnion & ~query.excludeFlags == 0))
                }
                guard fits else { continue }
                for b in relevant {
                    accumulator.merge(
                        label: calendar.label(for: b.startMicros), b.clean, excluded: b.flaggedCount)
                }
                answered = true
                break
            }
            if !answered {
                throw StoreError.rollupCannotAnswer(
                    "raw samples of \(key(for: query.series)) from \(TimeFormat.iso8601(chunk.minTimestampMicros)) to "
                        + "\(TimeFormat.iso8601(chunk.maxTimestampMicros)) were dropped by retention, and their rollups "
                        + "(widths \(widths.map { "\($0 / 1_000_000)s" }.joined(separator: ", "))) cannot answer this "
                        + "query: align the range and window to whole minutes, or exclude flagged readings")
            }
        }
    }
}
