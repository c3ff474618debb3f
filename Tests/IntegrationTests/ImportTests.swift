import Foundation
import Provenance
import Testing

@testable import GatewayRuntime

/// `gatewayd collect --import`: readings go in together (shared batches), and a bad line stops the import there,
/// with everything before it stored and named as such.
@Suite struct ImportTests {
    /// A line cut short, and a whole JSON object that is not a reading (which the fast line decoder hands to
    /// JSONDecoder, whose error is the one reported).
    @Test(arguments: [#"{"kind": "heart_rate""#, #"{"kind":"heart_rate","components":"seventy"}"#])
    func aBadLineStopsTheImportThereAndKeepsEverythingBeforeIt(badLine: String) async throws {
        let dir = try APIHarness.scratch("import")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let readings = LongHistoryAPITests.readings()
        let encoder = JSONEncoder()
        var lines = try readings.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        lines.insert(badLine, at: 600)  // line 601
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: dir + "/readings.jsonl", atomically: true, encoding: .utf8)
        let result = try await FHIRAPITests.run([
            "collect", "--dir", dir + "/data", "--import", dir + "/readings.jsonl", "--tz", "Asia/Tokyo",
        ])
        #expect(result.status != 0)
        #expect(
            result.output.contains("readings.jsonl line 601: not a reading") && result.output.contains("stored 600,"),
            "\(result.output)")
        // Importing the whole file again (fixed) stores only what was missing.
        lines.remove(at: 600)
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: dir + "/readings.jsonl", atomically: true, encoding: .utf8)
        let again = try await FHIRAPITests.run([
            "collect", "--dir", dir + "/data", "--import", dir + "/readings.jsonl", "--tz", "Asia/Tokyo",
        ])
        #expect(
            again.status == 0 && again.output.contains("stored \(readings.count - 600), duplicates 600"),
            "\(again.output)")
    }
}
