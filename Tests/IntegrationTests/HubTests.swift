import Foundation
import Testing

@testable import GatewayRuntime

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The hub's POST /fhir through the real server: who may upload for which Patient, what a malformed transaction gets,
/// that references resolve the way R4 processes a transaction, and that a resend is recognised by identifier and
/// stored once.
@Suite(.serialized) struct HubTests {
    static func observation(
        _ id: String, subject: String, value: Int, identifier: String, questionable: Bool = false
    ) -> String {
        let interpretation =
            questionable
            ? #","interpretation":[{"coding":[{"system":"http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status","code":"questionable"}]}]"#
            : ""
        return """
            {"resourceType":"Observation","id":"\(id)","identifier":[{"system":"urn:example:reading","value":"\(identifier)"}],"status":"final",
             "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"\(subject)"},
             "effectiveDateTime":"2026-11-18T08:3\(value % 10):00+09:00"\(interpretation),
             "valueQuantity":{"value":\(value),"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}
            """
    }

    static func patient(_ id: String, identifier: String) -> String {
        let parts = identifier.split(separator: "|").map(String.init)
        return
            #"{"resourceType":"Patient","id":"\#(id)","identifier":[{"system":"\#(parts[0])","value":"\#(parts[1])"}],"active":true}"#
    }

    static func transaction(_ entries: [(fullUrl: String?, resource: String, request: String)]) -> String {
        #"{"resourceType":"Bundle","type":"transaction","entry":["#
            + entries.map { entry in
                (entry.fullUrl.map { #"{"fullUrl":"\#($0)","# } ?? "{")
                    + #""resource":\#(entry.resource),"request":\#(entry.request)}"#
            }.joined(separator: ",") + "]}"
    }

    static func create(_ identifier: String, type: String = "Observation") -> String {
        #"{"method":"POST","url":"\#(type)","ifNoneExist":"identifier=\#(identifier)"}"#
    }

    /// A Patient and its readings in one transaction, referenced by urn:uuid as gatewayd sends them.
    static func upload(
        patient id: String, identifier: String, readings: [(id: String, value: Int, questionable: Bool)]
    ) -> String {
        let patientURL = "urn:uuid:\(UUID().uuidString.lowercased())"
        return transaction(
            [(patientURL, patient(id, identifier: identifier), create(identifier, type: "Patient"))]
                + readings.map { reading in
                    (
                        "urn:uuid:\(UUID().uuidString.lowercased())",
                        observation(
                            reading.id, subject: patientURL, value: reading.value, identifier: reading.id,
                            questionable: reading.questionable),
                        create("urn:example:reading|" + reading.id)
                    )
                })
    }

    static func statuses(_ reply: FHIRAPITests.Reply) -> [String] {
        ((reply.json["entry"] as? [[String: Any]]) ?? []).compactMap {
            ($0["response"] as? [String: Any])?["status"] as? String
        }
    }

    @Test func uploadsAreAuthorisedResolvedAndDeduplicated() async throws {
        let setup = try SyncTests.setup()
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        // A writer bound to one person, and a second home, next to the system-wide writer.
        var config = try String(contentsOfFile: setup.hubConfig, encoding: .utf8)
        config +=
            "\n    - name: carol-home\n      secret: carol-upload\n      scopes: [patient/*.write@urn:example:resident|carol-1]\n"
        config += "    - name: home-b\n      secret: home-b-upload\n      scopes: [system/*.write]\n"
        try config.write(toFile: setup.hubConfig, atomically: true, encoding: .utf8)
        let hub = try await SyncTests.startHub(setup)
        defer {
            hub.terminate()
            hub.waitUntilExit()
        }
        let url = "http://127.0.0.1:\(setup.hubPort)/fhir"
        func post(_ body: String, _ token: String?) async throws -> FHIRAPITests.Reply {
            try await APIHarness.post(url, token: token, contentType: "application/fhir+json", body: body)
        }
        let one = Self.upload(
            patient: "carol", identifier: "urn:example:resident|carol-1",
            readings: [("hr-1", 61, false), ("hr-2", 90, true)])

        #expect(try await post(one, nil).status == 401)
        #expect(try await post(one, SyncTests.readToken).status == 403)
        let otherPerson = Self.upload(
            patient: "dave", identifier: "urn:example:resident|dave-1", readings: [("hr-9", 61, false)])
        let refused = try await post(otherPerson, "carol-upload")
        #expect(refused.status == 403 && FHIRAPITests.diagnostics(refused).contains("dave"), "\(refused.json)")

        let created = try await post(one, "carol-upload")
        #expect(created.status == 200, "\(created.json)")
        #expect(created.json["type"] as? String == "transaction-response")
        #expect(Self.statuses(created) == ["201 Created", "201 Created", "201 Created"])
        // The resend, by the facility's own system writer: matched on the resident number, stored once.
        let again = try await post(one, SyncTests.uploadToken)
        #expect(Self.statuses(again) == ["200 OK", "200 OK", "200 OK"], "\(again.json)")
        let stored = try await FHIRAPITests.get(url + "/Observation?subject=carol", token: SyncTests.readToken)
        #expect(FHIRAPITests.entries(stored.json).count == 2)
        let first = try await FHIRAPITests.get(url + "/Observation/hr-1", token: SyncTests.readToken)
        #expect(first.status == 200)
        // The urn:uuid reference became the Patient's id on the hub.
        #expect((first.json["subject"] as? [String: Any])?["reference"] as? String == "Patient/carol")
        let found = try await FHIRAPITests.get(
            url + "/Patient?identifier=urn:example:resident%7Ccarol-1", token: SyncTests.readToken)
        #expect(FHIRAPITests.entries(found.json).map { $0["id"] as? String } == ["carol"])
        // The questionable reading is kept but left out of the hub's statistics, as the gateway's own $stats does.
        let stats = try await FHIRAPITests.get(
            url
                + "/Observation/$stats?subject=carol&code=http://loinc.org%7C8867-4&period=2026-11-18/2026-11-18&statistic=count",
            token: SyncTests.readToken)
        #expect(stats.status == 200, "\(stats.json)")
        let window = ((stats.json["parameter"] as? [[String: Any]]) ?? []).compactMap {
            $0["resource"] as? [String: Any]
        }.first
        let counts = ((window?["component"] as? [[String: Any]]) ?? []).compactMap { $0["valueInteger"] as? Int }
        #expect(counts == [1], "\(stats.json)")

        // Two homes' "alice", each with its gateway's own subject identifier: two Patients, and the second home cannot
        // join the first one's through that identifier.
        let aliceA = Self.upload(
            patient: "alice", identifier: "urn:gatewayd:subject|home-a/alice", readings: [("a-1", 70, false)])
        let aliceB = Self.upload(
            patient: "alice", identifier: "urn:gatewayd:subject|home-b/alice", readings: [("b-1", 80, false)])
        #expect(try await post(aliceA, SyncTests.uploadToken).status == 200)
        #expect(try await post(aliceB, "home-b-upload").status == 200)
        let patients = try await FHIRAPITests.get(
            url + "/Patient?identifier=urn:gatewayd:subject%7Chome-b/alice", token: SyncTests.readToken)
        let homeB = FHIRAPITests.entries(patients.json).compactMap { $0["id"] as? String }
        #expect(homeB.count == 1 && homeB.first != "alice", "\(patients.json)")
        let hijack = try await post(
            Self.upload(
                patient: "alice", identifier: "urn:gatewayd:subject|home-a/alice", readings: [("x-1", 99, false)]),
            "home-b-upload")
        #expect(hijack.status == 403 && FHIRAPITests.diagnostics(hijack).contains("another gateway"), "\(hijack.json)")

        // A reading stored before identifiers had a system, sent again by the upgraded gateway with one: the same resource.
        let legacy =
            #"{"resourceType":"Observation","id":"old-1","identifier":[{"value":"old-1"}],"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/carol"},"effectiveDateTime":"2026-11-18T07:00:00+09:00","valueQuantity":{"value":58,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}"#
        #expect(
            try await post(
                Self.transaction([
                    (nil, legacy, #"{"method":"POST","url":"Observation","ifNoneExist":"identifier=old-1"}"#)
                ]), SyncTests.uploadToken
            ).status == 200)
        let upgraded = legacy.replacingOccurrences(
            of: #"[{"value":"old-1"}]"#, with: #"[{"system":"urn:example:reading","value":"old-1"}]"#)
        let resent = try await post(
            Self.transaction([(nil, upgraded, Self.create("urn:example:reading|old-1"))]), SyncTests.uploadToken)
        #expect(Self.statuses(resent).first?.hasPrefix("200") == true, "\(resent.json)")
        #expect(
            FHIRAPITests.entries(
                try await FHIRAPITests.get(url + "/Observation?subject=carol", token: SyncTests.readToken).json
            ).count == 3)

        // Malformed transactions: named, and nothing of them is stored (all or nothing).
        let cases: [(String, String)] = [
            ("{not json", "not JSON"),
            (#"{"resourceType":"Bundle","type":"batch","entry":[]}"#, "Bundle.type"),
            (
                Self.transaction([
                    (
                        nil, Self.observation("hr-3", subject: "Patient/carol", value: 70, identifier: "hr-3"),
                        Self.create("urn:example:reading|hr-3")
                    ),
                    (
                        nil, Self.observation("hr-4", subject: "Patient/carol", value: 71, identifier: "hr-4"),
                        #"{"method":"POST","url":"Observation"}"#
                    ),
                ]), "Bundle.entry[1].request.ifNoneExist"
            ),
            (
                Self.transaction([
                    (
                        nil, Self.observation("hr-5", subject: "Patient/carol", value: 70, identifier: "hr-5"),
                        Self.create("other")
                    )
                ]),
                "Bundle.entry[0].resource.identifier"
            ),
            (
                Self.transaction([
                    (
                        nil, #"{"resourceType":"Location","id":"p","identifier":[{"value":"x"}]}"#,
                        Self.create("x", type: "Location")
                    )
                ]),
                "Location is not accepted"
            ),
            (
                Self.transaction([
                    (
                        nil,
                        Self.observation(
                            "hr-6", subject: "urn:uuid:0f0e0d0c-0000-4000-8000-000000000001", value: 70,
                            identifier: "hr-6"),
                        Self.create("urn:example:reading|hr-6")
                    )
                ]), "resolves neither"
            ),
            (
                Self.transaction([
                    (
                        nil, Self.observation("hr-7", subject: "Patient/nobody", value: 70, identifier: "hr-7"),
                        Self.create("urn:example:reading|hr-7")
                    )
                ]),
                "'Patient/nobody' resolves neither"
            ),
        ]
        for (body, named) in cases {
            let reply = try await post(body, SyncTests.uploadToken)
            #expect(reply.status == 400, "\(named): \(reply.json)")
            #expect(FHIRAPITests.diagnostics(reply).contains(named), "\(FHIRAPITests.diagnostics(reply))")
        }
        let after = try await FHIRAPITests.get(url + "/Observation?subject=carol", token: SyncTests.readToken)
        #expect(FHIRAPITests.entries(after.json).count == 3, "part of a refused transaction was stored")
    }

    @Test func aGatewayThatIsNotAHubRefusesUploads() async throws {
        let dir = try APIHarness.scratch("nohub")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await APIHarness.importReadings(FHIRAPITests.readings(), into: dir)
        let server = try await APIHarness.Server.start(
            dataDirectory: dir + "/data", tokens: ["w=system/*.write", "r=system/*.read"])
        defer { server.stop() }
        let body = Self.upload(
            patient: "carol", identifier: "urn:example:resident|carol-1", readings: [("hr-1", 61, false)])
        let reply = try await APIHarness.post(server.base, token: "w", contentType: "application/fhir+json", body: body)
        #expect(reply.status == 405 && FHIRAPITests.diagnostics(reply).contains("not a hub"))
        // A write scope reads nothing.
        #expect(try await FHIRAPITests.get(server.base + "/Observation", token: "w").status == 403)
    }
}
