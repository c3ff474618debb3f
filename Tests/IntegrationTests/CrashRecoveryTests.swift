import Foundation
import Testing
import TimeSeries

/// Kills a real `gatewayd store crash-writer` process with SIGKILL at random instants, many times, and checks
/// after each restart that every acknowledged sample is present exactly once (DESIGN.md rule 3).
@Suite(.serialized) struct CrashRecoveryTests {
    static var gatewaydBinary: URL {
        // The test bundle sits next to the products of the same build.
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("gatewayd")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        let built = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/gatewayd")
        return built
    }

    @Test func acknowledgedSamplesSurviveSIGKILLExactlyOnce() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-crash-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SystemRandomNumberGenerator()
        var acknowledgedUpTo: Int64 = 0  // samples 0..<acknowledgedUpTo were acknowledged
        var next: Int64 = 0
        for round in 0..<CrashCampaign.rounds("CrashRecoveryTests", quick: 6, full: 12) {
            let process = Process()
            process.executableURL = Self.gatewaydBinary
            process.arguments = [
                "store", "crash-writer", "--dir", dir.path, "--start", String(next), "--batch", "37",
                "--chunk-samples", "150",
            ]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await Task.sleep(for: .milliseconds(Int.random(in: 150...700, using: &rng)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            for line in output.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 3, parts[0] == "ack", let end = Int64(parts[2]) {
                    acknowledgedUpTo = max(acknowledgedUpTo, end)
                }
            }
            // Reopen and check: every acknowledged number exactly once, nothing duplicated at all.
            let store = try TimeSeriesStore(directory: dir.path)
            let id = try #require(store.existingSeries(SeriesKey(subject: "crash", device: "writer", metric: "n")))
            let values = try store.scan(id, range: Int64.min..<Int64.max).samples.map(\.value.mantissa)
            store.close()
            let counts = Dictionary(values.map { ($0, 1) }, uniquingKeysWith: +)
            #expect(counts.values.allSatisfy { $0 == 1 }, "round \(round): duplicated samples")
            for n in 0..<acknowledgedUpTo where counts[n] != 1 {
                Issue.record("round \(round): acknowledged sample \(n) is missing")
                break
            }
            // The next writer continues after everything stored (acknowledged or not).
            next = (values.max() ?? -1) + 1
        }
        #expect(acknowledgedUpTo > 100, "the writer should have acknowledged some samples before being killed")
    }
}
