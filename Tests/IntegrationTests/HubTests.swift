import Foundation
import Testing

@testable import gatewayd

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The hub's POST /fhir through the real server: who may upload, what a malformed transaction gets, and that a
/// resend is recognised by identifier and stored once.
@Suite(.serialized) struct HubTests {
    static func observation(_ id: String, subject: String, value: Int, identifier: String) -> String {
        """
        {"resourceType":"Observation","id":"\(id)","identifier":[{"value":"\(identifier)"}],"status":"final",
         "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/\(subject)"},
         "effectiveDateTime":"2026-11-18T08:30:00+09:00",
         "valueQuantity":{"value":\(value),"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}
        """
    }

    static func transaction(_ entries: [(resource: String, request: String)]) -> String {
        #"{"resourceType":"Bundle","type":"transaction","entry":["#
            + entries.map { #"{"resource":\#($0.resource),"request":\#($0.request)}"# }.joined(separator: ",") + "]}"
    }

    static func create(_ identifier: String) -> String { #"{"method":"POST","url":"Observation","ifNoneExist":"identifier=\#(identifier)"}"# }

    @Test func uploadsAreAuthorisedValidatedAndDeduplicated() async throws {
        let setup = try SyncTests.setup()
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        // A writer bound to one person, next to the system-wide one.
        var config = try String(contentsOfFile: setup.hubConfig, encoding: .utf8)
        config += "\n    - name: carol-home\n      secret: carol-upload\n      scopes: [patient/*.write@carol]\n"
        try config.write(toFile: setup.hubConfig, atomically: true, encoding: .utf8)
        let hub = try await SyncTests.startHub(setup)
        defer {
            hub.terminate()
            hub.waitUntilExit()
        }
        let url = "http://127.0.0.1:\(setup.hubPort)/fhir"
        let one = Self.transaction([(Self.observation("hr-1", subject: "carol", value: 61, identifier: "id-1"), Self.create("id-1"))])

        #expect(try await APIHarness.post(url, token: nil, contentType: "application/fhir+json", body: one).status == 401)
        #expect(try await APIHarness.post(url, token: SyncTests.readToken, contentType: "application/fhir+json", body: one).status == 403)
        let otherPerson = Self.transaction([(Self.observation("hr-2", subject: "dave", value: 61, identifier: "id-2"), Self.create("id-2"))])
        let refused = try await APIHarness.post(url, token: "carol-upload", contentType: "application/fhir+json", body: otherPerson)
        #expect(refused.status == 403 && FHIRAPITests.diagnostics(refused).contains("dave"))

        let created = try await APIHarness.post(url, token: "carol-upload", contentType: "application/fhir+json", body: one)
        #expect(created.status == 200, "\(created.json)")
        #expect(created.json["type"] as? String == "transaction-response")
        let firstStatus = ((created.json["entry"] as? [[String: Any]])?.first?["response"] as? [String: Any])?["status"] as? String
        #expect(firstStatus == "201 Created")
        let again = try await APIHarness.post(url, token: SyncTests.uploadToken, contentType: "application/fhir+json", body: one)
        let againStatus = ((again.json["entry"] as? [[String: Any]])?.first?["response"] as? [String: Any])?["status"] as? String
        #expect(againStatus == "200 OK")
        let stored = try await FHIRAPITests.get(url + "/Observation?subject=carol", token: SyncTests.readToken)
        #expect(FHIRAPITests.entries(stored.json).count == 1)
        #expect(try await FHIRAPITests.get(url + "/Observation/hr-1", token: SyncTests.readToken).status == 200)

        // Malformed transactions: named, and nothing of them is stored (all or nothing).
        let cases: [(String, String)] = [
            ("{not json", "not JSON"),
            (#"{"resourceType":"Bundle","type":"batch","entry":[]}"#, "Bundle.type"),
            (Self.transaction([
                (Self.observation("hr-3", subject: "carol", value: 70, identifier: "id-3"), Self.create("id-3")),
                (Self.observation("hr-4", subject: "carol", value: 71, identifier: "id-4"), #"{"method":"POST","url":"Observation"}"#),
            ]), "Bundle.entry[1].request.ifNoneExist"),
            (Self.transaction([(Self.observation("hr-5", subject: "carol", value: 70, identifier: "id-5"), Self.create("other"))]), "Bundle.entry[0].resource.identifier"),
            (Self.transaction([(#"{"resourceType":"Patient","id":"p"}"#, Self.create("x"))]), "Patient is not accepted"),
        ]
        for (body, named) in cases {
            let reply = try await APIHarness.post(url, token: SyncTests.uploadToken, contentType: "application/fhir+json", body: body)
            #expect(reply.status == 400, "\(named): \(reply.json)")
            #expect(FHIRAPITests.diagnostics(reply).contains(named), "\(FHIRAPITests.diagnostics(reply))")
        }
        let after = try await FHIRAPITests.get(url + "/Observation?subject=carol", token: SyncTests.readToken)
        #expect(FHIRAPITests.entries(after.json).count == 1, "part of a refused transaction was stored")
    }

    @Test func aGatewayThatIsNotAHubRefusesUploads() async throws {
        let dir = try APIHarness.scratch("nohub")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try APIHarness.importReadings(FHIRAPITests.readings(), into: dir)
        let server = try await APIHarness.Server.start(dataDirectory: dir + "/data", tokens: ["w=system/*.write", "r=system/*.read"])
        defer { server.stop() }
        let body = Self.transaction([(Self.observation("hr-1", subject: "carol", value: 61, identifier: "id-1"), Self.create("id-1"))])
        let reply = try await APIHarness.post(server.base, token: "w", contentType: "application/fhir+json", body: body)
        #expect(reply.status == 405 && FHIRAPITests.diagnostics(reply).contains("not a hub"))
        // A write scope reads nothing.
        #expect(try await FHIRAPITests.get(server.base + "/Observation", token: "w").status == 403)
    }
}
