import Foundation
import Testing

@testable import GatewayHTTP
@testable import GatewayRuntime

/// `POST /fhir/Observation/$stats` through the real server: a form body and a Parameters body give exactly what
/// the GET gives, a malformed body is a 400 naming the element, and POST anywhere else stays 405.
@Suite(.serialized) struct StatsPostTests {
    static let query =
        "subject=alice&code=http://loinc.org%7C8480-6&period=2026-11-18/2026-11-19&statistic=average,minimum,maximum,count&interval=P1D"

    /// The same request as a Parameters resource, with every value[x] kind $stats uses.
    static let parameters = """
        {"resourceType": "Parameters", "parameter": [
          {"name": "subject", "valueReference": {"reference": "Patient/alice"}},
          {"name": "coding", "valueCoding": {"system": "http://loinc.org", "code": "8480-6"}},
          {"name": "period", "valuePeriod": {"start": "2026-11-18", "end": "2026-11-19"}},
          {"name": "statistic", "valueCode": "average,minimum"},
          {"name": "statistic", "valueCode": "maximum"},
          {"name": "statistic", "valueString": "count"},
          {"name": "interval", "valueCode": "P1D"}
        ]}
        """

    @Test func formAndParametersBodiesAnswerAsTheQueryStringDoes() async throws {
        let dir = try APIHarness.scratch("statspost")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await APIHarness.importReadings(FHIRAPITests.readings(), into: dir)
        let server = try await APIHarness.Server.start(
            dataDirectory: dir + "/data", tokens: ["sys-secret=system/*.read", "alice-secret=patient/*.read@alice"])
        defer { server.stop() }
        let stats = server.base + "/Observation/$stats"
        let sys = "sys-secret"

        let get = try await FHIRAPITests.get(stats + "?" + Self.query, token: sys)
        #expect(get.status == 200, "\(get.json)")
        let windows = (get.json["parameter"] as? [[String: Any]]) ?? []
        #expect(windows.count == 2)
        let expected = APIHarness.canonical(get.json)

        let form = try await APIHarness.post(
            stats, token: sys, contentType: "application/x-www-form-urlencoded", body: Self.query)
        #expect(form.status == 200, "\(form.json)")
        #expect(APIHarness.canonical(form.json) == expected)

        for type in ["application/fhir+json", "application/json; charset=utf-8"] {
            let posted = try await APIHarness.post(stats, token: sys, contentType: type, body: Self.parameters)
            #expect(posted.status == 200, "\(type): \(posted.json)")
            #expect(APIHarness.canonical(posted.json) == expected, "\(type)")
        }

        // The URL's query and the body join: subject in the URL, the rest in the body.
        let split = try await APIHarness.post(
            stats + "?subject=alice", token: sys, contentType: "application/x-www-form-urlencoded",
            body: Self.query.replacingOccurrences(of: "subject=alice&", with: ""))
        #expect(APIHarness.canonical(split.json) == expected)

        // A token bound to alice names no subject and gets hers; asking for bob's is refused as in GET.
        let bound = try await APIHarness.post(
            stats, token: "alice-secret", contentType: "application/x-www-form-urlencoded",
            body: Self.query.replacingOccurrences(of: "subject=alice&", with: ""))
        #expect(APIHarness.canonical(bound.json) == expected)
        let bobs = try await APIHarness.post(
            stats, token: "alice-secret", contentType: "application/x-www-form-urlencoded",
            body: Self.query.replacingOccurrences(of: "subject=alice", with: "subject=bob"))
        #expect(bobs.status == 403)
        let anonymous = try await APIHarness.post(
            stats, token: nil, contentType: "application/fhir+json", body: Self.parameters)
        #expect(anonymous.status == 401)

        // POST reads are audited like GET ones, with the subject they touched.
        let audit = try String(contentsOfFile: dir + "/data/audit.jsonl", encoding: .utf8)
        let posts = audit.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        .filter { $0["method"] as? String == "POST" }
        #expect(posts.count == 7)
        #expect(posts.contains { $0["status"] as? Int == 200 && ($0["subjects"] as? [String]) == ["alice"] })
        #expect(posts.contains { $0["status"] as? Int == 403 && ($0["subjects"] as? [String]) == ["bob"] })
    }

    @Test func malformedBodiesAre400sNamingTheElementAndOtherPostsAre405() async throws {
        let dir = try APIHarness.scratch("statspost-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await APIHarness.importReadings(FHIRAPITests.readings(), into: dir)
        let server = try await APIHarness.Server.start(
            dataDirectory: dir + "/data", tokens: ["sys-secret=system/*.read"])
        defer { server.stop() }
        let stats = server.base + "/Observation/$stats"
        let sys = "sys-secret"
        let fhir = "application/fhir+json"

        func expression(_ reply: FHIRAPITests.Reply) -> [String] {
            ((reply.json["issue"] as? [[String: Any]])?.first?["expression"] as? [String]) ?? []
        }

        let noValue = try await APIHarness.post(
            stats, token: sys, contentType: fhir,
            body:
                #"{"resourceType":"Parameters","parameter":[{"name":"subject","valueString":"alice"},{"name":"code","valueString":"8480-6"},{"name":"period"}]}"#
        )
        #expect(noValue.status == 400 && noValue.json["resourceType"] as? String == "OperationOutcome")
        #expect(FHIRAPITests.diagnostics(noValue).contains("Parameters.parameter[2]: no value[x]"), "\(noValue.json)")
        #expect(expression(noValue) == ["Parameters.parameter[2]"])

        let cases: [(body: String, says: String)] = [
            ("{not json", "Parameters: the body is not JSON"),
            (#"{"resourceType":"Bundle"}"#, "resourceType is 'Bundle'; expected Parameters"),
            (#"{"resourceType":"Parameters","parameter":{"name":"x"}}"#, "Parameters.parameter: must be an array"),
            (
                #"{"resourceType":"Parameters","parameter":[{"valueString":"alice"}]}"#,
                "Parameters.parameter[0]: no name"
            ),
            (
                #"{"resourceType":"Parameters","parameter":[{"name":"subject","valueString":"a","valueCode":"b"}]}"#,
                "more than one value[x]"
            ),
            (
                #"{"resourceType":"Parameters","parameter":[{"name":"period","valuePeriod":{"start":"2026-11-18"}}]}"#,
                "Parameters.parameter[0].valuePeriod: needs both start and end"
            ),
            (
                #"{"resourceType":"Parameters","parameter":[{"name":"include","valueBoolean":true}]}"#,
                "valueBoolean is not supported"
            ),
            (
                #"{"resourceType":"Parameters","parameter":[{"name":"duration","valueDecimal":"24"}]}"#,
                "Parameters.parameter[0].valueDecimal: must be a JSON number"
            ),
            (
                #"{"resourceType":"Parameters","parameter":[{"name":"coding","valueCoding":{"system":"http://loinc.org"}}]}"#,
                "Parameters.parameter[0].valueCoding: needs a code"
            ),
        ]
        for (body, says) in cases {
            let reply = try await APIHarness.post(stats, token: sys, contentType: fhir, body: body)
            #expect(reply.status == 400, "\(body)")
            #expect(FHIRAPITests.diagnostics(reply).contains(says), "\(body) → \(FHIRAPITests.diagnostics(reply))")
        }

        // A well-formed body with a wrong value is refused by $stats itself, naming the parameter as GET does.
        let badStatistic = try await APIHarness.post(
            stats, token: sys, contentType: "application/x-www-form-urlencoded",
            body: "subject=alice&code=8480-6&period=2026-11-18/2026-11-19&statistic=variance")
        #expect(badStatistic.status == 400 && FHIRAPITests.diagnostics(badStatistic).contains("'statistic'"))
        let unknown = try await APIHarness.post(
            stats, token: sys, contentType: fhir,
            body: #"{"resourceType":"Parameters","parameter":[{"name":"colour","valueString":"red"}]}"#)
        #expect(unknown.status == 400 && FHIRAPITests.diagnostics(unknown).contains("'colour'"))

        let plain = try await APIHarness.post(stats, token: sys, contentType: "text/plain", body: Self.query)
        #expect(plain.status == 415 && FHIRAPITests.diagnostics(plain).contains("application/x-www-form-urlencoded"))

        // POST is for $stats only.
        for path in ["/Observation", "/Observation/$lastn", "/Device", "/metadata", "/Provenance"] {
            let reply = try await APIHarness.post(
                server.base + path, token: sys, contentType: fhir, body: Self.parameters)
            #expect(reply.status == 405, "\(path)")
            #expect(reply.json["resourceType"] as? String == "OperationOutcome")
            #expect(FHIRAPITests.diagnostics(reply).contains("only for /fhir/Observation/$stats"), "\(path)")
        }
        let put = try await APIHarness.send(
            "PUT", stats, token: sys, contentType: fhir, body: Data(Self.parameters.utf8))
        #expect(put.status == 405)
    }
}

/// The body parser, in process.
@Suite struct OperationParametersTests {
    func request(_ body: String, type: String?, query: String? = nil) -> APIRequest {
        APIRequest(
            method: "POST", path: "/fhir/Observation/$stats", query: query, host: nil,
            peerIsLoopback: true,
            body: Array(body.utf8), contentType: type)
    }

    @Test func everyValueTypeBecomesItsQueryText() throws {
        let body = """
            {"resourceType":"Parameters","parameter":[
              {"name":"subject","valueReference":{"reference":"Patient/alice"}},
              {"name":"code","valueCoding":{"code":"8480-6"}},
              {"name":"coding","valueCoding":{"system":"http://loinc.org","code":"8480-6"}},
              {"name":"system","valueUri":"http://loinc.org"},
              {"name":"period","valuePeriod":{"start":"2026-11-18T00:00:00+09:00","end":"2026-11-19"}},
              {"name":"duration","valueDecimal":1.50},
              {"name":"limit","valueInteger":3},
              {"name":"since","valueDateTime":"2026-11-18T08:30:00Z"},
              {"name":"statistic","valueCode":"average"}
            ]}
            """
        let query = try OperationParameters.query(request(body, type: "application/fhir+json", query: "_format=json"))
        let pairs = query.items.map { "\($0.name)=\($0.value)" }
        #expect(
            pairs == [
                "_format=json", "subject=Patient/alice", "code=8480-6", "coding=http://loinc.org|8480-6",
                "system=http://loinc.org",
                "period=2026-11-18T00:00:00+09:00/2026-11-19", "duration=1.5", "limit=3", "since=2026-11-18T08:30:00Z",
                "statistic=average",
            ])
        // A form body keeps '+' as the query string does, so an unencoded offset survives.
        let form = try OperationParameters.query(
            request(
                "period=2026-11-18T00:00:00+09:00/2026-11-19&code=a%7Cb\n", type: "application/x-www-form-urlencoded"))
        #expect(form.items.map(\.value) == ["2026-11-18T00:00:00+09:00/2026-11-19", "a|b"])
        #expect(try OperationParameters.query(request("", type: nil)).items.isEmpty)
    }

    @Test func badValuesNameTheirElement() {
        func diagnostics(_ body: String) -> String {
            do throws(APIError) {
                _ = try OperationParameters.query(request(body, type: "application/json"))
                return "accepted"
            } catch {
                return error.diagnostics
            }
        }
        #expect(
            diagnostics(#"{"resourceType":"Parameters","parameter":[{"name":"limit","valueInteger":1.5}]}"#)
                == "Parameters.parameter[0].valueInteger: '1.5' is not an integer")
        #expect(
            diagnostics(#"{"resourceType":"Parameters","parameter":[{"name":"x","part":[]}]}"#).contains(
                "'part' is not used by $stats"))
        #expect(
            diagnostics(
                #"{"resourceType":"Parameters","parameter":[{"name":"subject","valueReference":{"display":"Alice"}}]}"#
            )
            .contains("valueReference: needs a reference"))
        #expect(diagnostics(#"[1,2]"#) == "Parameters: the body is not a JSON object")
        #expect(diagnostics(#"{"parameter":[]}"#).contains("resourceType is missing"))
        #expect(diagnostics(#"{"resourceType":"Parameters"}"#) == "accepted")
    }
}
