import Foundation
import Provenance
import Testing

@testable import gatewayd

/// `gatewayd collect --import`: readings go in together (shared batches), and a bad line stops the import there,
/// with everything before it stored and named as such.
@Suite struct ImportTests {
    @Test func aBadLineStopsTheImportThereAndKeepsEverythingBeforeIt() throws {
        let dir = try APIHarness.scratch("import")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let readings = LongHistoryAPITests.readings()
        let encoder = JSONEncoder()
        var lines = try readings.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        lines.insert("{\"kind\": \"heart_rate\"", at: 600)  // line 601: cut short
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/readings.jsonl", atomically: true, encoding: .utf8)
        let result = try FHIRAPITests.run(["collect", "--dir", dir + "/data", "--import", dir + "/readings.jsonl", "--tz", "Asia/Tokyo"])
        #expect(result.status != 0)
        #expect(result.output.contains("line 601") && result.output.contains("stored 600,"), "\(result.output)")
        // Importing the whole file again (fixed) stores only what was missing.
        lines.remove(at: 600)
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/readings.jsonl", atomically: true, encoding: .utf8)
        let again = try FHIRAPITests.run(["collect", "--dir", dir + "/data", "--import", dir + "/readings.jsonl", "--tz", "Asia/Tokyo"])
        #expect(again.status == 0 && again.output.contains("stored \(readings.count - 600), duplicates 600"), "\(again.output)")
    }
}
