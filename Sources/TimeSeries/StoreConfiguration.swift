/// How the store seals, compresses, commits and rolls up. Defaults suit a 1 Hz strap on a Raspberry Pi.
public struct StoreConfiguration: Sendable {
    /// A series' head is sealed into a chunk when it holds this many samples… 8,192 (2.3 h of a 1 Hz strap) keeps what
    /// waits in memory and in the log small — a hub's 100 straps hold ~2.4 M samples in heads at 65,536 — for ~3 % more
    /// bytes per sealed sample (measured with StoreBenchmark: 0.744 against 0.718 B/sample).
    public var chunkMaxSamples: Int
    /// …or when its samples span this long (so a slow series still reaches a chunk within a day).
    public var chunkMaxSpanMicros: Int64
    /// zstd level for chunk columns. 19 squeezes the last few percent out of jittery timestamps at a few
    /// milliseconds per chunk; sealing happens once per `chunkMaxSamples`, on the log thread after the batch that filled the head
    /// was acknowledged (the next group commit waits for it).
    public var compressionLevel: Int32
    public var groupCommit: GroupCommitConfiguration
    /// Widths (µs) of the UTC-aligned rollups kept when raw data is dropped by retention.
    public var rollupWidthsMicros: [Int64]
    /// Data files roll over at this size.
    public var dataFileMaxBytes: Int

    public init(
        chunkMaxSamples: Int = 8_192, chunkMaxSpanMicros: Int64 = 86_400_000_000, compressionLevel: Int32 = 19,
        groupCommit: GroupCommitConfiguration = .init(),
        rollupWidthsMicros: [Int64] = [60_000_000, 3_600_000_000, 86_400_000_000],
        dataFileMaxBytes: Int = 64 << 20
    ) {
        self.chunkMaxSamples = chunkMaxSamples
        self.chunkMaxSpanMicros = chunkMaxSpanMicros
        self.compressionLevel = compressionLevel
        self.groupCommit = groupCommit
        self.rollupWidthsMicros = rollupWidthsMicros
        self.dataFileMaxBytes = dataFileMaxBytes
    }
}
