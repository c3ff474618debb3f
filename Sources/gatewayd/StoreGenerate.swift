import ArgumentParser
import Foundation
import GatewayRuntime
import TimeSeries

/// `gatewayd store generate`: writes a synthetic heart-rate CSV (1 Hz, jittered clock, a random walk in bpm,
/// a few readings flagged doubtful) so README's first command needs nothing but this repository.
struct StoreGenerate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Write a synthetic 1 Hz heart-rate CSV (deterministic for a seed).")

    @Argument(help: "Output CSV path.") var output: String
    @Option(help: "Number of samples.") var count: Int = 86_400
    @Option(help: "First timestamp (ISO 8601).") var start: InstantArgument = InstantArgument(
        argument: "2026-03-28T00:00:00Z")!
    @Option(help: "Random seed.") var seed: UInt64 = 42

    func run() async throws {
        try SyntheticHeartRate.csv(count: count, startMillis: start.micros / 1_000, seed: seed).write(
            toFile: output, atomically: true, encoding: .utf8)
        print("wrote \(count) samples to \(output)")
    }
}

/// `gatewayd store crash-writer`: appends numbered samples and prints each acknowledged number; used by the
/// crash tests, which SIGKILL it at random instants and check that every printed number survives exactly once.
struct StoreCrashWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-writer",
        abstract: "Append numbered samples and print each acknowledged one (for crash tests).",
        shouldDisplay: false)

    @OptionGroup var store: StoreOptions
    @Option var start: Int64 = 0
    @Option var count: Int64 = 1_000_000
    @Option var batch: Int = 50
    @Option var chunkSamples: Int = 200

    func run() async throws {
        let db = try store.open(
            configuration: StoreConfiguration(
                chunkMaxSamples: chunkSamples, compressionLevel: 3,
                groupCommit: GroupCommitConfiguration(maxSegmentBytes: 16 << 10)))
        let id = try db.series(SeriesKey(subject: "crash", device: "writer", metric: "n"))
        var n = start
        while n < start + count {
            let samples = (0..<Int64(batch)).map { i in
                Sample(timestampMicros: (n + i) * 1_000_000, value: DecimalValue(mantissa: n + i, exponent: 0))
            }
            try await db.append(samples, to: id)
            FileHandle.standardOutput.write(Data("ack \(n) \(n + Int64(batch))\n".utf8))
            n += Int64(batch)
        }
        db.close()
    }
}
