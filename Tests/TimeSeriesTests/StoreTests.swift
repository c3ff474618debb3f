import Foundation
import TestSupport
import Testing

@testable import TimeSeries

@Suite struct StoreTests {
    static let key = SeriesKey(subject: "alice", device: "cuff-1", metric: "systolic")
    static let small = StoreConfiguration(chunkMaxSamples: 500, compressionLevel: 3)

    static func samples(from start: Int64, count: Int, stepMicros: Int64, seed: UInt64) -> [Sample] {
        var rng = TestRandom(seed: seed)
        var m: Int64 = 1200
        return (0..<count).map { i in
            m += Int64(rng.next() % 7) - 3
            return Sample(
                timestampMicros: start + Int64(i) * stepMicros + Int64(rng.next() % 1000),
                value: DecimalValue(mantissa: m, exponent: -1), flags: rng.next() % 40 == 0 ? 0x2 : 0)
        }
    }

    @Test func appendedSamplesSurviveReopen() async throws {
        let dir = TemporaryDirectory()
        let input = Self.samples(from: 0, count: 1234, stepMicros: 1_000_000, seed: 1)
        do {
            let store = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
            let id = try store.series(Self.key)
            for batch in stride(from: 0, to: input.count, by: 100) {
                try await store.append(Array(input[batch..<min(batch + 100, input.count)]), to: id)
            }
            store.close()
        }
        let reopened = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
        defer { reopened.close() }
        let id = try #require(reopened.existingSeries(Self.key))
        let scan = try reopened.scan(id, range: Int64.min..<Int64.max)
        #expect(scan.samples == input)
        #expect(scan.corruptChunks.isEmpty)
    }

    /// Once chunks hold most of what the log holds, the log is checkpointed down to the unsealed samples, long before
    /// it reaches its segment size; every sample still reads back after a reopen.
    @Test func theLogShrinksToWhatIsNotSealedOnceChunksHoldTheRest() async throws {
        let dir = TemporaryDirectory()
        let configuration = StoreConfiguration(
            chunkMaxSamples: 2_000, compressionLevel: 3,
            groupCommit: GroupCommitConfiguration(compactionFloorBytes: 16 << 10))
        let input = Self.samples(from: 0, count: 9_000, stepMicros: 1_000_000, seed: 5)
        func logBytes() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: dir.path + "/wal").reduce(0) { total, name in
                total
                    + ((try FileManager.default.attributesOfItem(atPath: dir.path + "/wal/" + name)[.size] as? Int) ?? 0)
            }
        }
        do {
            let store = try TimeSeriesStore(directory: dir.path, configuration: configuration)
            let id = try store.series(Self.key)
            for batch in stride(from: 0, to: input.count, by: 100) {
                try await store.append(Array(input[batch..<min(batch + 100, input.count)]), to: id)
            }
            // 8,000 samples are in four chunks, 1,000 in the head: the log holds about what the head needs, not 9,000.
            let live = input.count % 2_000
            #expect(try logBytes() <= 2 * live * WriteAheadLog.checkpointBytesPerSample + 16 << 10)
            #expect(try logBytes() < input.count * 6)
            store.close()
        }
        let reopened = try TimeSeriesStore(directory: dir.path, configuration: configuration)
        defer { reopened.close() }
        let scan = try reopened.scan(try #require(reopened.existingSeries(Self.key)), range: Int64.min..<Int64.max)
        #expect(scan.samples == input)
    }

    @Test func tornLogTailIsTruncatedNotAccepted() async throws {
        let dir = TemporaryDirectory()
        let input = Self.samples(from: 0, count: 10, stepMicros: 1_000_000, seed: 2)
        do {
            let store = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
            try await store.append(input, to: try store.series(Self.key))
            store.close()
        }
        let log = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/wal").first)
        let handle = try #require(FileHandle(forWritingAtPath: dir.path + "/wal/" + log))
        handle.seekToEndOfFile()
        // Half a record: a plausible header promising more bytes than follow.
        handle.write(Data([200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]))
        try handle.close()
        let reopened = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
        defer { reopened.close() }
        let id = try #require(reopened.existingSeries(Self.key))
        #expect(try reopened.scan(id, range: Int64.min..<Int64.max).samples == input)
        let size = try FileManager.default.attributesOfItem(atPath: dir.path + "/wal/" + log)[.size] as? Int
        let expected = LogRecord.encode(
            lsn: 1, kind: .append, entries: input.map { SeriesSample(series: id, sample: $0) }
        ).count
        #expect(size == expected)
    }

    /// One damaged record in the middle of a segment: every record after it was acknowledged and is replayed (not
    /// truncated away with it), the damaged byte range is reported, and the segment keeps its records.
    @Test func aCorruptRecordInTheMiddleLosesOnlyItself() async throws {
        let dir = TemporaryDirectory()
        let input = Self.samples(from: 0, count: 50, stepMicros: 1_000_000, seed: 3)
        do {
            let store = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
            let id = try store.series(Self.key)
            for batch in stride(from: 0, to: 50, by: 10) {
                try await store.append(Array(input[batch..<(batch + 10)]), to: id)
            }
            store.close()
        }
        let log = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/wal").first)
        let path = dir.path + "/wal/" + log
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let size = bytes.count
        // Records 1 and 2 are whole; flip a byte in the payload of record 3 (samples 20..<30).
        var offset = 0
        for _ in 0..<2 {
            guard case .record(let record) = LogRecord.read(bytes, at: offset) else {
                Issue.record("unreadable log")
                return
            }
            offset += record.length
        }
        guard case .record(let third) = LogRecord.read(bytes, at: offset) else {
            Issue.record("unreadable log")
            return
        }
        bytes[offset + LogRecord.headerSize + 3] ^= 0x55
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let reopened = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
        defer { reopened.close() }
        let id = try #require(reopened.existingSeries(Self.key))
        #expect(try reopened.scan(id, range: Int64.min..<Int64.max).samples == Array(input[0..<20] + input[30..<50]))
        #expect(reopened.walDamage.map(\.bytes) == [offset..<(offset + third.length)])
        #expect(reopened.walDamage.first?.reason == "checksum mismatch")
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == size)  // nothing truncated
        // A reader beside the writer sees the same records past the damage.
        var seen = 0
        try WriteAheadLog.readOnlyReplay(directory: dir.path + "/wal") { _, _, entries in seen += entries.count }
        #expect(seen == 40)
    }

    /// A batch of many samples is logged column by column and compressed: it reads back exactly (tags, flags, negative
    /// and large mantissas, several series, the same instant twice), takes a fraction of the plain record's bytes,
    /// and a damaged one is refused by its checksum, never read as other samples.
    @Test func aLargeLogRecordIsCompressedAndReadsBackExactly() throws {
        var entries: [SeriesSample] = []
        for index in 0..<600 {
            let time = 1_795_000_000_000_000 + Int64(index / 2) * 1_000_000
            entries.append(
                SeriesSample(
                    series: Int64(index % 3),
                    sample: Sample(
                        timestampMicros: time,
                        value: DecimalValue(
                            mantissa: index % 3 == 1
                                ? Int64(800 + index % 40) * 9_765_625
                                : Int64(60 + index % 25) - (index % 3 == 2 ? 200 : 0),
                            exponent: index % 3 == 1 ? -10 : 0),
                        flags: UInt16(index % 7 == 0 ? 4 : 0), contextTag: index % 5 == 0 ? nil : UInt32(index % 4))))
        }
        let record = LogRecord.encode(lsn: 9, kind: .append, entries: entries)
        guard case .record(let decoded) = LogRecord.read(record, at: 0) else {
            Issue.record("the record did not read back")
            return
        }
        #expect(
            decoded.entries == entries && decoded.lsn == 9 && decoded.kind == .append && decoded.length == record.count)
        #expect(record[LogRecord.headerSize] == LogRecord.Kind.append.rawValue | LogRecord.compressedBit)
        let plain = LogRecord.encode(
            lsn: 9, kind: .append, entries: Array(entries.prefix(LogRecord.compressionThreshold - 1)))
        #expect(plain[LogRecord.headerSize] == LogRecord.Kind.append.rawValue)
        #expect(record.count * 3 < entries.count * 8)
        var damaged = record
        damaged[record.count / 2] ^= 0x40
        guard case .invalid = LogRecord.read(damaged, at: 0) else {
            Issue.record("a damaged record was read")
            return
        }
    }

    @Test func corruptChunkIsReportedAndSkipped() async throws {
        let dir = TemporaryDirectory()
        let store = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
        defer { store.close() }
        let id = try store.series(Self.key)
        let input = Self.samples(from: 0, count: 1500, stepMicros: 1_000_000, seed: 3)
        try await store.append(input, to: id)
        try store.sealAll()
        let chunks = try store.catalog.allChunks()
        #expect(chunks.count == 1)
        // A second, healthy series must keep being served.
        let other = try store.series(SeriesKey(subject: "bob", device: "strap", metric: "hr"))
        try await store.append(Self.samples(from: 0, count: 50, stepMicros: 1_000_000, seed: 4), to: other)
        try store.sealAll()
        let target = chunks[0]
        let file = try #require(FileHandle(forUpdatingAtPath: dir.path + "/chunks/" + ChunkFiles.name(target.file)))
        file.seek(toFileOffset: UInt64(target.offset + target.length / 2))
        let original = file.readData(ofLength: 1)
        file.seek(toFileOffset: UInt64(target.offset + target.length / 2))
        file.write(Data([original[original.startIndex] ^ 0xFF]))
        try file.close()

        let scan = try store.scan(id, range: Int64.min..<Int64.max)
        #expect(scan.samples.isEmpty)
        #expect(scan.corruptChunks.count == 1)
        #expect(scan.corruptChunks[0].series == Self.key)
        #expect(scan.corruptChunks[0].fromMicros == input.map(\.timestampMicros).min())
        #expect("\(scan.corruptChunks[0])".contains("checksum mismatch"))
        let windows = try store.windows(WindowQuery(series: id, range: 0..<2_000_000_000, widthMicros: 60_000_000))
        #expect(windows.corruptChunks.count == 1)
        #expect(try store.scan(other, range: Int64.min..<Int64.max).samples.count == 50)
    }

    @Test func retentionKeepsRollupsThatAnswerLikeRawData() async throws {
        let dir = TemporaryDirectory()
        let store = try TimeSeriesStore(directory: dir.path, configuration: Self.small)
        defer { store.close() }
        let id = try store.series(Self.key)
        let day: Int64 = 86_400_000_000
        let input = Self.samples(from: 0, count: 3000, stepMicros: 97_000_000, seed: 5)  // ~3.4 days
        for batch in stride(from: 0, to: input.count, by: 100) {
            try await store.append(Array(input[batch..<(batch + 100)]), to: id)
        }
        try store.sealAll()
        let tokyo = try #require(TimeZone(identifier: "Asia/Tokyo"))
        let queries = [
            WindowQuery(series: id, range: 0..<(4 * day), widthMicros: 3_600_000_000, excludeFlags: 0xFFFF),
            WindowQuery(series: id, range: 0..<(4 * day), widthMicros: day, timeZone: tokyo, excludeFlags: 0x2),
        ]
        let before = try queries.map { try store.windows($0).windows }
        let report = try store.applyRetention(rawOlderThan: 2 * day)
        #expect(report.chunksRolledUp > 0)
        let after = try queries.map { try store.windows($0) }
        #expect(after.map(\.windows) == before)
        #expect(after[0].plan.rollupChunksRead == report.chunksRolledUp)
        // Including flagged readings cannot be answered from clean rollups: a clear error, not a wrong number.
        #expect(throws: StoreError.self) {
            try store.windows(WindowQuery(series: id, range: 0..<(4 * day), widthMicros: 3_600_000_000))
        }
    }

    @Test func csvErrorsNameTheLine() throws {
        #expect(throws: CSVImportError(line: 3, problem: "value 'x' is not a decimal number like 120.5")) {
            try CSVSamples.parse(Array("ts_ms,bpm\n1,70\n2,x\n".utf8))
        }
        #expect(throws: CSVImportError.self) { try CSVSamples.parse(Array("time,bpm\n1,70\n".utf8)) }
        #expect(
            try CSVSamples.parse(Array("ts_s,v,flags\n1,120.5,4\n".utf8))
                == [Sample(timestampMicros: 1_000_000, value: DecimalValue(mantissa: 1205, exponent: -1), flags: 4)])
    }
}
