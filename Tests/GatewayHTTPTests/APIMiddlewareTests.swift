import FHIR
import Foundation
import GatewayHTTP
import GatewayRuntime
import Hummingbird
import HummingbirdTesting
import Provenance
import Testing

/// The FHIR API's routes in process (HummingbirdTesting) on the pages' fixture (a cuff with a reset clock, two
/// users): errors answer as OperationOutcomes with their status, and the audit middleware records every request —
/// refused and unknown ones too — with its caller, the subjects it touched and the status it got.
@Suite struct APIMiddlewareTests {
    static func auditEntries(_ dir: String) throws -> [AuditEntry] {
        let text = try String(contentsOfFile: dir + "/audit.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try AuditEntry.parse(Array($0.utf8)) }
    }

    static func json(_ response: TestResponse) throws -> ExactJSON {
        try ExactJSON.parse(Array(response.body.readableBytesView))
    }

    @Test func errorsAreOperationOutcomesAndEveryRequestIsAudited() async throws {
        let (pages, pipeline, dir) = try await PagesTests.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        try await PagesTests.application(pages).test(.router) { client in
            // No token: 401 with the Bearer challenge, as FHIR JSON.
            let anonymous = try await client.execute(uri: "/fhir/Observation?subject=alice", method: .get) { $0 }
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == "Bearer realm=\"gatewayd\"")
            #expect(anonymous.headers[.contentType]?.hasPrefix("application/fhir+json") == true)
            #expect(try Self.json(anonymous)["resourceType"]?.stringValue == "OperationOutcome")
            // A token that is not one: 401 again, its caller "unknown-token".
            try await client.execute(
                uri: "/fhir/Observation?subject=alice", method: .get, headers: [.authorization: "Bearer wrong"]
            ) { #expect($0.status == .unauthorized) }
            // alice's token for bob's data: 403, and bob is named in the audit (the person whose data was asked for).
            let forbidden = try await client.execute(
                uri: "/fhir/Observation?subject=bob", method: .get,
                headers: [.authorization: "Bearer \(PagesTests.alice)"]
            ) { $0 }
            #expect(forbidden.status == .forbidden)
            #expect(try Self.json(forbidden)["issue"]?[0]?["code"]?.stringValue == "forbidden")
            // No route: 404 OperationOutcome; `_pretty` indents errors too.
            let nowhere = try await client.execute(uri: "/nowhere?_pretty=true", method: .get) { $0 }
            #expect(nowhere.status == .notFound)
            #expect(String(buffer: nowhere.body).contains("\n  \"resourceType\""))
            // A known token on a route that does not exist: 404, audited under the token's name (authentication ran).
            let lost = try await client.execute(
                uri: "/fhir/Nothing", method: .get, headers: [.authorization: "Bearer \(PagesTests.alice)"]
            ) { $0 }
            #expect(lost.status == .notFound)
            // A method the API does not take: 405.
            try await client.execute(
                uri: "/fhir/Device", method: .delete, headers: [.authorization: "Bearer \(PagesTests.system)"]
            ) { #expect($0.status == .methodNotAllowed) }
            // A read that works.
            let read = try await client.execute(
                uri: "/fhir/Observation?subject=alice&_count=2", method: .get,
                headers: [.authorization: "Bearer \(PagesTests.system)"]
            ) { $0 }
            #expect(read.status == .ok)
            #expect(try Self.json(read)["resourceType"]?.stringValue == "Bundle")
        }
        let entries = try Self.auditEntries(dir)
        #expect(entries.map(\.status) == [401, 401, 403, 404, 404, 405, 200])
        #expect(entries.map(\.who).prefix(2) == ["none", "unknown-token"])
        #expect(entries[2].subjects == ["bob"] && entries[2].who.hasPrefix("alice:tok-"))
        #expect(entries[3].request == "GET /nowhere?_pretty=true")
        #expect(entries[4].who.hasPrefix("alice:tok-") && entries[4].subjects.isEmpty)
        #expect(entries[6].subjects == ["alice"] && entries[6].who.hasPrefix("system:tok-"))
    }

    /// Each resource has its route; what none takes still gets FHIR's answer (404 before 405 before 401), as an
    /// OperationOutcome, and is audited — also below a path whose first components match a route.
    @Test func whatNoRouteTakesGetsFHIRsAnswerAndIsAudited() async throws {
        let (pages, pipeline, dir) = try await PagesTests.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let system: HTTPFields = [.authorization: "Bearer \(PagesTests.system)"]
        let cases: [(String, HTTPRequest.Method, HTTPFields, HTTPResponse.Status)] = [
            ("/fhir/Observation/x/y", .get, [:], .notFound),
            ("/fhir/Provenance/p1", .get, [:], .notFound),
            ("/fhir/metadata/x", .get, [:], .notFound),
            ("/auth/token/x", .post, [:], .notFound),
            ("/fhir/Observation/$lastn", .post, [:], .methodNotAllowed),
            ("/fhir/Patient", .put, [:], .methodNotAllowed),
            ("/fhir/Device", .get, [:], .unauthorized),
            ("/fhir/metadata", .head, system, .ok),
            ("/fhir/Observation/$stats?subject=alice&code=8867-4&duration=1&statistic=count", .get, system, .ok),
            ("/fhir/Patient/alice", .get, system, .ok),
        ]
        try await PagesTests.application(pages).test(.router) { client in
            for (uri, method, headers, status) in cases {
                try await client.execute(uri: uri, method: method, headers: headers) { response in
                    #expect(response.status == status, "\(method) \(uri)")
                    #expect(response.headers[.contentType]?.hasPrefix("application/fhir+json") == true, "\(uri)")
                }
            }
        }
        let entries = try Self.auditEntries(dir)
        #expect(entries.map(\.status) == cases.map { Int($0.3.code) })
    }
}
