import Foundation
import Testing

/// Responses are compact JSON, as FHIR servers answer by default; `_pretty=true` indents them for people, and every
/// interaction accepts it.
@Suite struct ResponseFormattingTests {
    @Test func compactByDefaultIndentedOnRequest() async throws {
        let dir = try APIHarness.scratch("pretty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await APIHarness.importReadings(FHIRAPITests.readings(), into: dir)
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
