import Foundation
import Testing

@testable import GatewayRuntime

/// `gatewayd audit` over an audit log written by the real server (reads) and by `AuditLog.recordShare` (shares),
/// with a damaged line in the middle.
@Suite(.serialized) struct AuditCommandTests {
    @Test func listsReadsAndSharesFiltersBySubjectAndTimeAndSkipsAMalformedLine() async throws {
        let dir = try APIHarness.scratch("audit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await APIHarness.importReadings(FHIRAPITests.readings(), into: dir)
        let data = dir + "/data"
        do {
            let server = try await APIHarness.Server.start(
                dataDirectory: data, tokens: ["sys-secret=system/*.read", "alice-secret=patient/*.read@alice"])
            defer { server.stop() }
            #expect(
                try await FHIRAPITests.get(server.base + "/Observation?subject=alice", token: "alice-secret").status
                    == 200)
            #expect(
                try await FHIRAPITests.get(server.base + "/Observation?subject=bob", token: "alice-secret").status
                    == 403)
            #expect(
                try await FHIRAPITests.get(server.base + "/Observation?subject=bob", token: "sys-secret").status == 200)
            let post = try await APIHarness.post(
                server.base + "/Observation/$stats", token: "alice-secret",
                contentType: "application/x-www-form-urlencoded",
                body: "code=8480-6&period=2026-11-18/2026-11-19&statistic=count")
            #expect(post.status == 200)
        }
        // The server's own probe of /fhir/metadata is audited too (no subjects).
        let path = data + "/audit.jsonl"
        let log = try AuditLog(path: path)
        let readLines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count
        try FileHandle(forWritingTo: URL(fileURLWithPath: path)).closing { handle in
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("{\"kind\":\"read\",\"time\":\"yesterday\"\nnot json at all\n".utf8))
        }
        log.recordShare(destination: "phr-clinic", subjects: ["alice"], resources: 12, status: 201, detail: nil)
        log.recordShare(
            destination: "phr-clinic", subjects: ["bob"], resources: 3, status: 0, detail: "connection refused")
        let firstBad = readLines + 1

        let table = try await APIHarness.run(["audit", "--dir", data])
        #expect(table.status == 0, "\(table.stderr)")
        let rows = table.stdout.split(separator: "\n").map(String.init)
        #expect(rows.first?.contains("kind") == true && rows.first?.contains("status") == true, "\(table.stdout)")
        #expect(rows.contains { $0.contains(" read ") && $0.contains("403") && $0.contains("bob") })
        #expect(
            rows.contains {
                $0.contains(" read ") && $0.contains("POST /fhir/Observation/$stats") && $0.contains("alice")
            })
        #expect(
            rows.contains { $0.contains(" share ") && $0.contains("phr-clinic") && $0.contains("12 resources shared") })
        #expect(rows.contains { $0.contains(" share ") && $0.contains("connection refused") })
        #expect(!table.stdout.contains("sys-secret") && !table.stdout.contains("alice-secret"))
        #expect(
            rows.last == "\(readLines) reads, 1 refused; 2 shares, 1 failed; 2 malformed lines skipped",
            "\(table.stdout)")
        #expect(
            table.stderr.contains("line \(firstBad):") && table.stderr.contains("line \(firstBad + 1):"),
            "\(table.stderr)")
        #expect(table.stderr.contains("skipped"))

        // Only what touched bob: the refused read, the system read, the failed share.
        let bob = try await APIHarness.run(["audit", "--dir", data, "--subject", "Patient/bob"])
        #expect(bob.status == 0)
        let bobRows = bob.stdout.split(separator: "\n").dropFirst().dropLast()
        #expect(bobRows.count == 3 && bobRows.allSatisfy { $0.contains("bob") }, "\(bob.stdout)")
        #expect(
            bob.stdout.hasSuffix("2 reads, 1 refused; 1 share, 1 failed; 2 malformed lines skipped\n"), "\(bob.stdout)")

        // --json: the matching lines as they are, parseable; the summary on stderr.
        let json = try await APIHarness.run(["audit", "--dir", data, "--subject", "alice", "--json"])
        #expect(json.status == 0)
        let objects = json.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(objects.count == json.stdout.split(separator: "\n").count && objects.count == 3, "\(json.stdout)")
        #expect(objects.allSatisfy { ($0["subjects"] as? [String])?.contains("alice") == true })
        #expect(objects.contains { $0["kind"] as? String == "share" && $0["destination"] as? String == "phr-clinic" })
        #expect(json.stderr.contains("2 reads, 0 refused; 1 share, 0 failed"), "\(json.stderr)")

        // --since: nothing is from the future; a day or an RFC 3339 time in the past keeps everything.
        let future = try await APIHarness.run(["audit", "--dir", data, "--since", "2999-01-01"])
        #expect(future.stdout.contains("(no matching entries)") && future.stdout.contains("0 reads, 0 refused"))
        let past = try await APIHarness.run([
            "audit", "--dir", data, "--since", "2020-01-01T00:00:00+09:00", "--tz", "Asia/Tokyo",
        ])
        #expect(past.stdout.contains("\(readLines) reads"))
        let bad = try await APIHarness.run(["audit", "--dir", data, "--since", "last week"])
        #expect(bad.status != 0 && bad.stderr.contains("--since"), "\(bad.stderr)")
        let missing = try await APIHarness.run(["audit", "--dir", dir + "/nowhere"])
        #expect(missing.status != 0 && missing.stderr.contains("--dir"))
    }
}

extension FileHandle {
    /// Runs `body`, then closes the handle whatever happened.
    func closing(_ body: (FileHandle) throws -> Void) throws {
        defer { try? close() }
        try body(self)
    }
}
