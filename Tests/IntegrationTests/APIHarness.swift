import Foundation
import Provenance
import Testing

@testable import GatewayRuntime

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// What the API suites share: a scratch directory, readings imported with `gatewayd collect --import` (as
/// FHIRAPITests does), the real `gatewayd serve` as a child process, and raw HTTP.
enum APIHarness {
    /// A fresh scratch directory; the caller removes it.
    static func scratch(_ label: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gatewayd-\(label)-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Imports `readings` into DIR/data through the real pipeline.
    static func importReadings(_ readings: [Reading], into dir: String, arguments: [String] = []) async throws {
        let encoder = JSONEncoder()
        let lines = try readings.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: dir + "/readings.jsonl", atomically: true, encoding: .utf8)
        let imported = try await FHIRAPITests.run(
            ["collect", "--dir", dir + "/data", "--import", dir + "/readings.jsonl", "--tz", "Asia/Tokyo"] + arguments)
        #expect(imported.status == 0, "\(imported.output)")
    }

    /// `gatewayd serve` over DIR/data on a free loopback port, up once /fhir/metadata answers.
    struct Server {
        let process: Process
        let base: String

        static func start(dataDirectory: String, tokens: [String]) async throws -> Server {
            let port = FHIRAPITests.freePort()
            let process = Process()
            process.executableURL = CrashRecoveryTests.gatewaydBinary
            process.arguments =
                [
                    "serve", "--dir", dataDirectory, "--listen", "127.0.0.1:\(port)", "--tz", "Asia/Tokyo",
                    "--gateway-id", "gw-test",
                ]
                + tokens.flatMap { ["--token", $0] }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let server = Server(process: process, base: "http://127.0.0.1:\(port)/fhir")
            let probe = tokens.first.map { String($0.prefix { $0 != "=" }) }
            for _ in 0..<100 {
                if (try? await FHIRAPITests.get(server.base + "/metadata", token: probe)) != nil { return server }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            server.stop()
            throw HarnessError(description: "gatewayd serve did not come up on \(server.base)")
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }

    struct HarnessError: Error, CustomStringConvertible {
        var description: String
    }

    /// Any method, raw bytes back (for writing resources to files as the server sent them).
    static func send(
        _ method: String, _ url: String, token: String?, contentType: String? = nil, body: Data? = nil
    ) async throws -> (status: Int, data: Data) {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, data)
    }

    /// A POST whose answer is parsed like FHIRAPITests.get's.
    static func post(_ url: String, token: String?, contentType: String?, body: String) async throws
        -> FHIRAPITests.Reply
    {
        let (status, data) = try await send("POST", url, token: token, contentType: contentType, body: Data(body.utf8))
        let json = try #require(
            try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(String(decoding: data, as: UTF8.self))")
        return FHIRAPITests.Reply(status: status, contentType: "", json: json)
    }

    /// JSON text with sorted keys, for comparing two answers member by member.
    static func canonical(_ value: Any?) -> String {
        guard let value, let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else {
            return "nil"
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A system tool's exit status (its output discarded).
    static func runTool(_ path: String, _ arguments: [String]) async throws -> Int32 {
        try await ChildProcess.run(URL(fileURLWithPath: path), arguments, mergingStandardError: true).status
    }

    /// `gatewayd ARGS` with stdout and stderr kept apart.
    static func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let result = try await ChildProcess.run(CrashRecoveryTests.gatewaydBinary, arguments)
        return (result.status, result.stdout, result.stderr)
    }
}
