import BLEGateway
import FHIR
import Foundation
import GatewayRuntime
import Hummingbird
import HummingbirdTesting
import Provenance
import Testing

@testable import GatewayHTTP

/// The pages in process, on a real listener (HummingbirdTesting's live server), over a data directory that a simulated
/// cuff filled as the demo's does: two users mapped, a third (a visitor) not, its clock reset by a battery change.
@Suite struct PagesTests {
    static let system = "system-token"
    static let alice = "alice-token"

    /// A data directory after one connection of the demo's kind of cuff, and the pages over it.
    static func fixture(sync: String = "") async throws -> (Pages, GatewayPipeline, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pages-\(UUID().uuidString.prefix(8))")
            .path
        let configuration = try GatewayConfiguration.parse(
            """
            data_directory: \(dir)
            subjects:
              alice: { name: Alice, test: true }
              bob: {}
            api:
              tokens:
                - { name: system, secret: \(system), scopes: [system/*.read, system/Device.write] }
                - { name: alice, secret: \(alice), scopes: [patient/*.read@alice] }
            """ + "\n" + sync, file: "(test)", environment: [:])
        let pipeline = try GatewayPipeline.open(directory: dir, zone: .gmt)
        let recipe = try #require(HealthProfile.bloodPressure.simulator)
        var settings = SimulatorSettings()
        settings.clock = SimulatedClock(batteryChangedAt: Date().addingTimeInterval(-3600))
        let cuff = recipe.make(settings)
        await cuff.measure(count: 6, users: [1, 2, 3], seed: 7, end: nil, spacing: 600)
        // alice's newest: taken with the cuff too loose (doubtful, and the page must say why).
        let monitor = try #require(cuff as? SimulatedBloodPressureMonitor)
        await monitor.measure(
            systolic: .number(mantissa: 152, exponent: 0), diastolic: .number(mantissa: 91, exponent: 0),
            meanArterialPressure: .number(mantissa: 111, exponent: 0), pulseRate: .number(mantissa: 70, exponent: 0),
            user: .user(1), status: BloodPressureMeasurementStatus(cuffTooLoose: true))
        let key = "00-1B-C5-00-00-00-04-17"
        _ = try await pipeline.engine.mapSubject(deviceKey: key, userID: 1, subject: "alice")
        _ = try await pipeline.engine.mapSubject(deviceKey: key, userID: 2, subject: "bob")
        let (central, peripheral) = try SeqPacketBearer.pair()
        let serving = Task { await cuff.serve(peripheral) }
        try await pipeline.collect(
            bearer: central, link: "sim:cuff", zone: .gmt,
            mapper: GatewayPipeline.mapperOptions(gatewayID: "gw", zone: .gmt)
        ) { _, _ in }
        await serving.value
        let pages = Pages(
            configuration: configuration, api: try FHIRAPI.make(configuration, store: pipeline.store),
            engine: pipeline.engine, secure: false)
        return (pages, pipeline, dir)
    }

    /// The pages and, behind them, the FHIR API with its middleware — as the server has them, in process.
    static func application(_ pages: Pages) -> some ApplicationProtocol {
        let router = Router(context: APIRequestContext.self)
        pages.install(on: router)
        APIServer.install(pages.api, on: router)
        return Application(router: router)
    }

    /// Signs in with `token` and returns the session cookie (name=value).
    static func signIn(_ client: some TestClientProtocol, _ token: String) async throws -> String? {
        try await client.execute(
            uri: "/app/login", method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "token=\(token)")
        ) { response in
            guard response.status == .seeOther, let cookie = response.headers[.setCookie] else { return nil }
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"))
            return String(cookie.prefix { $0 != ";" })
        }
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    @Test func signingInShowsWhatNeedsAttentionAndAssigningMovesTheReadings() async throws {
        let (pages, pipeline, dir) = try await Self.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let waiting = try #require(try pipeline.archive.waitingGroups().first)
        #expect(try pipeline.archive.waitingGroups().map(\.userID) == [3])
        let bobBefore = try pipeline.archive.readings(subject: "bob").count
        try await Self.application(pages).test(.live) { client in
            // Not signed in: to the sign-in page; a wrong token is refused there.
            try await client.execute(uri: "/app", method: .get) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/app/login")
            }
            try await client.execute(
                uri: "/app/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=nope")
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(Self.text(response).contains("This token is not known to this gateway."))
            }
            let cookie = try #require(try await Self.signIn(client, Self.system))
            let page = try await client.execute(uri: "/app", method: .get, headers: [.cookie: cookie]) { $0 }
            let html = Self.text(page)
            #expect(page.status == .ok && page.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
            #expect(html.contains("data-kind=\"clock-reset\"") && html.contains("data-kind=\"waiting-readings\""))
            #expect(html.contains("user 3: \(waiting.count) reading(s)"), "\(html)")
            #expect(html.contains("<option value=\"alice\">Alice (test data)</option>"))
            let csrf = try #require(
                html.range(of: #"name="csrf" value=""#).map { range in
                    String(html[range.upperBound...].prefix { $0 != "\"" })
                })
            // A form without the session's form token changes nothing.
            try await client.execute(
                uri: "/app/assign", method: .post,
                headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=forged&device=00-1B-C5-00-00-00-04-17&user=3&subject=bob")
            ) { response in
                #expect(response.headers[.location] == "/app?problem=form")
            }
            #expect(try pipeline.archive.waitingGroups().count == 1)
            try await client.execute(
                uri: "/app/assign", method: .post,
                headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=\(csrf)&device=00-1B-C5-00-00-00-04-17&user=3&subject=bob")
            ) { response in
                #expect(
                    response.status == .seeOther
                        && response.headers[.location] == "/app?assigned=\(waiting.count)&to=bob")
            }
            #expect(try pipeline.archive.waitingGroups().isEmpty)
            #expect(
                try pipeline.archive.readings(subject: "bob").count == bobBefore + waiting.count)
            let after = Self.text(
                try await client.execute(
                    uri: "/app?assigned=\(waiting.count)&to=bob", method: .get, headers: [.cookie: cookie]
                ) { $0 })
            #expect(
                after.contains("\(waiting.count) reading(s) are now bob&#39;s.")
                    && !after.contains("data-kind=\"waiting-readings\""))
        }
        let audit = try String(contentsOfFile: dir + "/audit.jsonl", encoding: .utf8)
        #expect(audit.contains("/app/assign") && audit.contains("\"status\":403") && audit.contains("\"status\":303"))
    }

    /// Beside a running daemon (`gatewayd serve`) the pages only read: no form, and an assignment changes nothing.
    @Test func servePagesOnlyRead() async throws {
        let (pages, pipeline, dir) = try await Self.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        var reading = pages
        reading.engine = nil
        try await Self.application(reading).test(.live) { client in
            let cookie = try #require(try await Self.signIn(client, Self.system))
            let html = Self.text(try await client.execute(uri: "/app", method: .get, headers: [.cookie: cookie]) { $0 })
            #expect(html.contains("data-kind=\"waiting-readings\"") && !html.contains("action=\"/app/assign\""))
            let csrf = try #require(
                html.range(of: #"name="csrf" value=""#).map { String(html[$0.upperBound...].prefix { $0 != "\"" }) })
            try await client.execute(
                uri: "/app/assign", method: .post,
                headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=\(csrf)&device=00-1B-C5-00-00-00-04-17&user=3&subject=bob")
            ) { response in
                #expect(response.headers[.location] == "/app?problem=read-only")
            }
            #expect(try pipeline.archive.waitingGroups().count == 1)
        }
    }

    /// Sharing: what each destination may receive, in words; for an operator's token what waits, was sent and was
    /// refused (with the reason) and a button that queues the refused entries again; a person's token sees only the
    /// sentences about them.
    @Test func sharingSaysWhatGoesWhereAndRetriesRefusals() async throws {
        let (pages, pipeline, dir) = try await Self.fixture(
            sync: """
                sync:
                  - name: phr
                    url: https://phr.example/fhir
                    token: phr-token
                    share:
                      - { subjects: [alice], metrics: [blood_pressure, glucose] }
                      - { subjects: [bob], metrics: [heart_rate], raw: true }
                """)
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let outbox = try Outbox(path: dir + "/outbox.sqlite")
        try outbox.enqueue(
            [
                Outbox.Entry(
                    resourceKey: "summary-1", subject: "alice", category: .summary, version: 1, method: "PUT",
                    url: "Observation/s1", ifNoneExist: nil, resource: "{}", measuredMicros: 1_796_000_000_000_000)
            ], destination: "phr", positions: (0, 0), nowMicros: 1_796_000_000_000_000)
        let pending = try #require(try outbox.pending(destination: "phr", limit: 10).first)
        try outbox.markFailed(id: pending.id, version: 1, reason: "HTTP 422: unknown code")
        try await Self.application(pages).test(.live) { client in
            let cookie = try #require(try await Self.signIn(client, Self.system))
            let html = Self.text(
                try await client.execute(uri: "/app/sharing", method: .get, headers: [.cookie: cookie]) { $0 })
            #expect(
                html.contains("alice&#39;s blood-pressure, glucose summaries go to phr (https://phr.example/fhir)."))
            #expect(
                html.contains(
                    "bob&#39;s heart-rate summaries go to phr (https://phr.example/fhir), and the readings themselves.")
            )
            #expect(html.contains("<dd data-count=\"refused\">1</dd>") && html.contains("HTTP 422: unknown code"))
            let csrf = try #require(
                html.range(of: #"name="csrf" value=""#).map { String(html[$0.upperBound...].prefix { $0 != "\"" }) })
            try await client.execute(
                uri: "/app/sharing/retry", method: .post,
                headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=\(csrf)&destination=phr")
            ) { response in
                #expect(response.headers[.location] == "/app/sharing?retried=1&to=phr")
            }
            #expect(try outbox.report(destination: "phr").failed == 0)
            let mine = try #require(try await Self.signIn(client, Self.alice))
            let hers = Self.text(
                try await client.execute(uri: "/app/sharing", method: .get, headers: [.cookie: mine]) { $0 })
            #expect(hers.contains("alice&#39;s blood-pressure") && !hers.contains("bob&#39;s"))
            #expect(!hers.contains("data-count") && !hers.contains("/app/sharing/retry"))
        }
    }

    /// A person's token sees that person's devices only: no waiting readings (they belong to nobody yet), no form.
    @Test func aPersonsTokenSeesOnlyTheirDevicesAndMayNotAssign() async throws {
        let (pages, pipeline, dir) = try await Self.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        try await Self.application(pages).test(.live) { client in
            let cookie = try #require(try await Self.signIn(client, Self.alice))
            let html = Self.text(try await client.execute(uri: "/app", method: .get, headers: [.cookie: cookie]) { $0 })
            #expect(html.contains("data-kind=\"clock-reset\""))  // alice's cuff
            #expect(!html.contains("waiting-readings") && !html.contains("/app/assign\" "))
        }
    }

    /// A person's page: the blood-pressure chart's points are exactly the daily averages `$stats` gives through the API
    /// for the same period; another person's page is refused to a token limited to alice.
    @Test func aPersonsChartHoldsWhatStatsReturns() async throws {
        let (pages, pipeline, dir) = try await Self.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        try await Self.application(pages).test(.live) { client in
            let cookie = try #require(try await Self.signIn(client, Self.system))
            let html = Self.text(
                try await client.execute(uri: "/app/person/alice?days=7", method: .get, headers: [.cookie: cookie]) {
                    $0
                })
            #expect(html.contains("<figure id=\"blood-pressure\"") && html.contains("class=\"badge\""))
            let period = try #require(
                html.range(of: #"data-period=""#).map { String(html[$0.upperBound...].prefix { $0 != "\"" }) })
            let shown = html.components(separatedBy: #"data-code="8480-6" data-start=""#).dropFirst().map {
                part -> String in
                let start = String(part.prefix { $0 != "\"" })
                let value = part.components(separatedBy: #"data-value=""#).dropFirst().first.map {
                    String($0.prefix { $0 != "\"" })
                }
                return start + "=" + (value ?? "")
            }
            let stats = try await client.execute(
                uri:
                    "/fhir/Observation/$stats?subject=alice&code=http://loinc.org%7C8480-6&period=\(period)&statistic=average&interval=P1D",
                method: .get, headers: [.authorization: "Bearer \(Self.system)"]
            ) { response in
                #expect(
                    response.status == .ok && response.headers[.contentType]?.hasPrefix("application/fhir+json") == true
                )
                return try ExactJSON.parse(Array(response.body.readableBytesView))
            }
            let expected = (stats["parameter"]?.arrayValue ?? []).compactMap { parameter -> String? in
                guard let start = parameter["resource"]?["effectivePeriod"]?["start"]?.stringValue,
                    let value = parameter["resource"]?["component"]?[0]?["valueQuantity"]?["value"]?.numberText
                else { return nil }
                return start + "=" + value
            }
            #expect(!shown.isEmpty && shown == expected, "page \(shown), $stats \(expected)")
            #expect(html.contains("data-chart=\"blood-pressure\""))  // the 7-day average
            // Her newest readings; a doubtful one is set apart and says why.
            #expect(html.contains("<ul class=\"readings\">"))
            let doubtful = html.components(separatedBy: "data-doubtful=\"true\"").dropFirst()
            #expect(!doubtful.isEmpty && doubtful.allSatisfy { $0.prefix(600).contains("⚠ doubtful: ") })
            #expect(html.contains("⚠ doubtful: cuff too loose"))
            let mine = try #require(try await Self.signIn(client, Self.alice))
            try await client.execute(uri: "/app/person/bob", method: .get, headers: [.cookie: mine]) { response in
                #expect(response.status == .forbidden)
            }
        }
    }

    /// A device's page: whose it is, its battery, each connection with readings received against expected, its clock
    /// history; a person's token sees their own devices only.
    @Test func aDevicesPageShowsItsConnectionsAndClock() async throws {
        let (pages, pipeline, dir) = try await Self.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let connection = try #require(try pipeline.archive.connections(deviceKey: "00-1B-C5-00-00-00-04-17").first)
        #expect(connection.batteryPercent != nil && connection.readingsReceived > 0)
        try await Self.application(pages).test(.live) { client in
            let cookie = try #require(try await Self.signIn(client, Self.system))
            let list = Self.text(try await client.execute(uri: "/app", method: .get, headers: [.cookie: cookie]) { $0 })
            #expect(list.contains("href=\"/app/device/00-1B-C5-00-00-00-04-17\""))
            let html = Self.text(
                try await client.execute(
                    uri: "/app/device/00-1B-C5-00-00-00-04-17", method: .get, headers: [.cookie: cookie]
                ) { $0 })
            #expect(html.contains("<table class=\"connections\">") && html.contains("<table class=\"clock\">"))
            #expect(html.contains("<td>\(connection.readingsReceived)"), "\(html)")
            #expect(html.contains("\(connection.batteryPercent ?? -1) %"))
            #expect(html.contains("user 1: <a href=\"/app/person/alice\">alice</a>"))
            // Its newest readings (alice's and bob's; the visitor's are nobody's yet), the loose-cuff one marked.
            #expect(html.contains("<ul class=\"readings\">") && html.contains("⚠ doubtful: cuff too loose"))
            let mine = try #require(try await Self.signIn(client, Self.alice))
            try await client.execute(uri: "/app/device/00-1B-C5-00-00-00-04-17", method: .get, headers: [.cookie: mine])
            { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/app/device/unknown", method: .get, headers: [.cookie: mine]) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    /// The daily summaries on a person's page: a strap worn for a few minutes gives alice a resting heart rate and an
    /// RMSSD for today, drawn from the Observations the API serves.
    @Test func aPersonsPageDrawsHerDailySummaries() async throws {
        let (pages, pipeline, dir) = try await Self.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        var settings = SimulatorSettings()
        settings.interval = .milliseconds(2)
        settings.count = 240
        let strap = try #require(HealthProfile.heartRate.simulator).make(settings)
        let (central, peripheral) = try SeqPacketBearer.pair()
        let serving = Task { await strap.serve(peripheral) }
        try await pipeline.collect(
            bearer: central, link: "sim:strap", zone: .gmt,
            mapper: GatewayPipeline.mapperOptions(gatewayID: "gw", zone: .gmt)
        ) { _, _ in }
        await serving.value
        let key = try #require(
            try pipeline.archive.deviceHealth().map(\.device.key).first { $0 != "00-1B-C5-00-00-00-04-17" })
        _ = try await pipeline.engine.mapSubject(deviceKey: key, userID: nil, subject: "alice")
        try await Self.application(pages).test(.live) { client in
            let cookie = try #require(try await Self.signIn(client, Self.system))
            let html = Self.text(
                try await client.execute(uri: "/app/person/alice?days=7", method: .get, headers: [.cookie: cookie]) {
                    $0
                })
            #expect(
                html.contains("<figure id=\"resting-heart-rate\"") && html.contains("data-code=\"resting-heart-rate\""))
            #expect(html.contains("<figure id=\"rmssd\""))
        }
    }

    /// Japanese by Accept-Language, and by the switch (a cookie) over it; the large-text switch.
    @Test func languageAndTextSize() async throws {
        let (pages, pipeline, dir) = try await Self.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        #expect(PageLanguage.preferred(cookie: nil, acceptLanguage: "ja-JP,ja;q=0.9,en;q=0.8") == .ja)
        #expect(PageLanguage.preferred(cookie: "en", acceptLanguage: "ja") == .en)
        #expect(PageLanguage.preferred(cookie: nil, acceptLanguage: "fr, de;q=0.5") == .en)
        try await Self.application(pages).test(.live) { client in
            let cookie = try #require(try await Self.signIn(client, Self.system))
            let ja = Self.text(
                try await client.execute(
                    uri: "/app", method: .get, headers: [.cookie: cookie, .acceptLanguage: "ja"]
                ) { $0 })
            #expect(ja.contains("<html lang=\"ja\">") && ja.contains("確認が必要なこと") && ja.contains("時計が"))
            try await client.execute(uri: "/app/prefs?size=large&back=/app", method: .get) { response in
                #expect(response.headers[.setCookie]?.hasPrefix("gw_size=large;") == true)
                #expect(response.headers[.location] == "/app")
            }
            try await client.execute(uri: "/app/prefs?lang=en&back=https://elsewhere.example/", method: .get) {
                response in
                #expect(response.headers[.location] == "/app")  // never a redirect off the gateway
            }
            let large = Self.text(
                try await client.execute(
                    uri: "/app", method: .get,
                    headers: [.cookie: cookie + "; gw_size=large; gw_lang=en", .acceptLanguage: "ja"]
                ) { $0 })
            #expect(large.contains("<body class=\"large\">") && large.contains("Needs attention"))
        }
        // Every string has both languages.
        for text in PageText.allCases {
            #expect(
                !text.text(.en).isEmpty && !text.text(.ja).isEmpty && text.text(.en) != text.text(.ja)
                    || text == .appName)
        }
    }
}
