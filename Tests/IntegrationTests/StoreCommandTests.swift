import Foundation
import Testing

/// Runs the `gatewayd store` commands end to end on a generated file.
@Suite struct StoreCommandTests {
    func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await FHIRAPITests.run(arguments)
    }

    @Test func importQueryAndErrors() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("hr.csv").path
        let store = dir.appendingPathComponent("store").path
        #expect(try await run(["store", "generate", csv, "--count", "5000"]).status == 0)
        let imported = try await run(["store", "import", csv, "--dir", store, "--series", "alice/strap/hr"])
        #expect(imported.status == 0)
        #expect(imported.output.contains("imported 5000 samples"))
        let query = try await run([
            "store", "query", "--dir", store, "--series", "alice/strap/hr", "--window", "1h", "--tz", "Asia/Tokyo",
            "--exclude-flags", "0xFFFF",
        ])
        #expect(query.status == 0)
        #expect(query.output.contains("2026-03-28T09:00:00+09:00"))

        let badZone = try await run([
            "store", "query", "--dir", store, "--series", "alice/strap/hr", "--window", "1h", "--tz", "Mars/Base",
        ])
        #expect(badZone.status != 0)
        #expect(badZone.output.contains("'Mars/Base' is not an IANA time zone"))
        let badFile = dir.appendingPathComponent("bad.csv").path
        try "ts_ms,bpm\n1,70\n2,seventy\n".write(toFile: badFile, atomically: true, encoding: .utf8)
        let rejected = try await run(["store", "import", badFile, "--dir", store, "--series", "alice/strap/hr"])
        #expect(rejected.status != 0)
        #expect(rejected.output.contains("line 3: value 'seventy' is not a decimal number"))
        // Nothing already stored was lost by the rejected import.
        let info = try await run(["store", "info", "--dir", store])
        #expect(info.output.contains("5000 samples"))
    }
}
