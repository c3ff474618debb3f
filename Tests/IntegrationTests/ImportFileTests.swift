import Foundation
import Provenance
import StreamEngine
import Testing

/// `gatewayd collect --import`: a file goes through the engine a chunk at a time; a bad line ends the file there,
/// naming the line, after everything before it is stored; importing the same file again stores nothing twice.
@Suite struct ImportFileTests {
    @Test func aBadLineStopsTheImportThereAndEverythingBeforeItIsStored() throws {
        let dir = try APIHarness.scratch("import")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let readings = FHIRAPITests.readings()
        let encoder = JSONEncoder()
        var lines = try readings.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        lines.insert(#"{"kind":"heart_rate","components":"seventy"}"#, at: 3)
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/readings.jsonl", atomically: true, encoding: .utf8)
        let first = try FHIRAPITests.run(["collect", "--dir", dir + "/data", "--import", dir + "/readings.jsonl", "--tz", "Asia/Tokyo"])
        #expect(first.status != 0 && first.output.contains("readings.jsonl line 4: not a reading"), "\(first.output)")
        #expect(first.output.contains("stored 3,"), "\(first.output)")
        let archive = try ReadingArchive(path: dir + "/data/engine.sqlite")
        #expect(try archive.storedReadingCount() == 3)

        // The file mended: the rest is stored, the first three are duplicates.
        lines.remove(at: 3)
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/readings.jsonl", atomically: true, encoding: .utf8)
        let again = try FHIRAPITests.run(["collect", "--dir", dir + "/data", "--import", dir + "/readings.jsonl", "--tz", "Asia/Tokyo"])
        #expect(again.status == 0 && again.output.contains("stored \(readings.count - 3), duplicates 3"), "\(again.output)")
    }
}

/// Responses are compact JSON, as FHIR servers answer by default; `_pretty=true` indents them for people, and every
/// interaction accepts it.
@Suite struct ResponseFormattingTests {
    @Test func compactByDefaultIndentedOnRequest() async throws {
        let dir = try APIHarness.scratch("pretty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try APIHarness.importReadings(FHIRAPITests.readings(), into: dir)
        let server = try await APIHarness.Server.start(dataDirectory: dir + "/data", tokens: ["sys=system/*.read"])
        defer { server.stop() }
        for path in ["/metadata", "/Observation?subject=alice", "/Device", "/Observation/$lastn?subject=alice&max=1"] {
            let compact = try await APIHarness.send("GET", server.base + path, token: "sys")
            let text = String(decoding: compact.data, as: UTF8.self)
            #expect(compact.status == 200 && !text.dropLast().contains("\n"), "\(path): \(text.prefix(200))")
            let separator = path.contains("?") ? "&" : "?"
            let pretty = try await APIHarness.send("GET", server.base + path + separator + "_pretty=true", token: "sys")
            let indented = String(decoding: pretty.data, as: UTF8.self)
            #expect(pretty.status == 200 && indented.contains("\n  \""), "\(path): \(indented.prefix(200))")
            // The same resource either way (a Bundle's self link keeps the query, so compare what is not a link).
            let a = try #require(try JSONSerialization.jsonObject(with: compact.data) as? [String: Any])
            let b = try #require(try JSONSerialization.jsonObject(with: pretty.data) as? [String: Any])
            #expect(a["resourceType"] as? String == b["resourceType"] as? String && a.keys.sorted() == b.keys.sorted())
        }
    }
}
