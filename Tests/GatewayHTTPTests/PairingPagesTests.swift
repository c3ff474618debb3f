import BLEGateway
import Foundation
import GatewayRuntime
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import GatewayHTTP

/// Pairing from the page while the daemon runs, on the demo's simulated cuff in pairing mode (real ATT after the
/// keys; the kernel's Security Manager part is the Bluetooth test bed's): look, pick, compare the six digits the
/// device shows, say whose, and the readings it held are the person's.
@Suite struct PairingPagesTests {
    static func pairing(_ pipeline: GatewayPipeline, _ pages: Pages) async -> (DevicePairing, SimulatedPairingRadio) {
        let shown = ShownCodes()
        let radio = SimulatedPairingRadio.demo { _, code in shown.add(code) }
        let pairing = DevicePairing(
            pipeline: pipeline, configuration: pages.configuration, logger: Logger(label: "test"), unavailable: "")
        await pairing.attach(radio: radio)
        return (pairing, radio)
    }

    final class ShownCodes: @unchecked Sendable {
        private let lock = NSLock()
        private var codes: [String] = []
        func add(_ code: String) { lock.withLock { codes.append(code) } }
    }

    /// Waits (without sleeping) for the pairing to reach `phase`.
    static func wait(_ pairing: DevicePairing, for phase: DevicePairing.Phase) async -> DevicePairing.Status {
        var status = await pairing.status()
        for _ in 0..<40 where status.phase != phase {
            status = await pairing.changes(after: status.version, timeout: .seconds(5))
        }
        return status
    }

    static func form(_ cookie: String) -> HTTPFields {
        [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"]
    }

    @Test func pairingFromThePageStoresTheNewCuffsReadingsForThePersonNamed() async throws {
        let (base, pipeline, dir) = try await PagesTests.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        var pages = base
        let (pairing, radio) = await Self.pairing(pipeline, pages)
        pages.pairing = pairing
        let before = try pipeline.archive.readings(subject: "alice", kind: .bloodPressure).count
        try await PagesTests.application(pages).test(.live) { client in
            let cookie = try #require(try await PagesTests.signIn(client, PagesTests.system))
            let home = PagesTests.text(
                try await client.execute(uri: "/app", method: .get, headers: [.cookie: cookie]) { $0 })
            #expect(home.contains("href=\"/app/pair\""))
            let page = try await client.execute(uri: "/app/pair", method: .get, headers: [.cookie: cookie]) { $0 }
            let html = PagesTests.text(page)
            #expect(page.status == .ok && html.contains("Look for devices") && html.contains("/app/pair.js"))
            #expect(html.contains("simulated devices"), "the demo's devices say they are simulated")
            let csrf = try #require(
                html.range(of: #"name="csrf" value=""#).map { String(html[$0.upperBound...].prefix { $0 != "\"" }) })
            // A forged form starts nothing.
            try await client.execute(
                uri: "/app/pair/scan", method: .post, headers: Self.form(cookie), body: ByteBuffer(string: "csrf=x")
            ) { #expect($0.headers[.location] == "/app?problem=form") }
            #expect(await pairing.status().phase == .idle)

            try await client.execute(
                uri: "/app/pair/scan", method: .post, headers: Self.form(cookie),
                body: ByteBuffer(string: "csrf=\(csrf)")
            ) { #expect($0.headers[.location] == "/app/pair") }
            let heard = await Self.wait(pairing, for: .choosing)
            let cuff = try #require(heard.sightings.first)
            let list = PagesTests.text(
                try await client.execute(uri: "/app/pair", method: .get, headers: [.cookie: cookie]) { $0 })
            #expect(list.contains("BP-7 new") && list.contains("blood-pressure monitor") && list.contains("This one"))

            try await client.execute(
                uri: "/app/pair/choose", method: .post, headers: Self.form(cookie),
                body: ByteBuffer(string: "csrf=\(csrf)&address=\(cuff.device.address)")
            ) { #expect($0.headers[.location] == "/app/pair") }
            let asked = await Self.wait(pairing, for: .question)
            let code = try #require(radio.shownCode(cuff.device.address))
            let question = PagesTests.text(
                try await client.execute(uri: "/app/pair", method: .get, headers: [.cookie: cookie]) { $0 })
            #expect(question.contains("Does the device show \(code)?"), "the page shows the device's six digits")
            #expect(asked.question == .confirmation(value: UInt32(code) ?? 0, justWorks: false))
            // The live panel: one server-sent event with the panel as it is now.
            let events = try await client.execute(
                uri: "/app/pair/events?after=0&limit=1", method: .get, headers: [.cookie: cookie]
            ) { $0 }
            #expect(events.headers[.contentType]?.hasPrefix("text/event-stream") == true)
            let stream = PagesTests.text(events)
            #expect(stream.hasPrefix("id: ") && stream.contains("<p class=\"code\">Does the device show \(code)?"))

            try await client.execute(
                uri: "/app/pair/answer", method: .post, headers: Self.form(cookie),
                body: ByteBuffer(string: "csrf=\(csrf)&answer=accept")
            ) { #expect($0.headers[.location] == "/app/pair") }
            let whose = await Self.wait(pairing, for: .whose)
            #expect(whose.received == 3 && whose.whose == [nil], "\(whose.log)")
            let ask = PagesTests.text(
                try await client.execute(uri: "/app/pair", method: .get, headers: [.cookie: cookie]) { $0 })
            #expect(ask.contains("Whose readings does this device take?"))

            try await client.execute(
                uri: "/app/pair/whose", method: .post, headers: Self.form(cookie),
                body: ByteBuffer(string: "csrf=\(csrf)&slot-device=alice")
            ) { #expect($0.headers[.location] == "/app/pair") }
            let done = await Self.wait(pairing, for: .done)
            #expect(done.assigned.contains { $0.subject == "alice" })
            let finished = PagesTests.text(
                try await client.execute(uri: "/app/pair", method: .get, headers: [.cookie: cookie]) { $0 })
            #expect(finished.contains("BP-7 new is paired: 3 reading(s) downloaded"), "\(finished)")
        }
        #expect(try pipeline.archive.readings(subject: "alice", kind: .bloodPressure).count == before + 3)
        let audit = try String(contentsOfFile: pages.audit.path, encoding: .utf8)
        for route in ["/app/pair/scan", "/app/pair/choose", "/app/pair/answer", "/app/pair/whose"] {
            #expect(audit.contains("\"route\":\"\(route)\""), "\(route) is audited")
        }
    }

    @Test func onlyATokenThatMaySayWhoseEveryDeviceIsMayPair() async throws {
        let (base, pipeline, dir) = try await PagesTests.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        var pages = base
        pages.pairing = await Self.pairing(pipeline, pages).0
        try await PagesTests.application(pages).test(.live) { client in
            let cookie = try #require(try await PagesTests.signIn(client, PagesTests.alice))
            try await client.execute(uri: "/app/pair", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .forbidden)
                #expect(PagesTests.text(response).contains("system/Device.write"))
            }
            // The JSON face (`gatewayd pair` as a client): a token, and one with the right scope.
            try await client.execute(uri: "/app/api/pairing", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(
                uri: "/app/api/pairing/scan", method: .post, headers: [.authorization: "Bearer \(PagesTests.alice)"]
            ) { #expect($0.status == .forbidden) }
            try await client.execute(
                uri: "/app/api/pairing/scan", method: .post, headers: [.authorization: "Bearer \(PagesTests.system)"],
                body: ByteBuffer(string: #"{"seconds":1}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(PagesTests.text(response).contains(#""phase":"scanning""#))
            }
            try await client.execute(
                uri: "/app/api/pairing/answer", method: .post, headers: [.authorization: "Bearer \(PagesTests.system)"],
                body: ByteBuffer(string: #"{"answer":"accept"}"#)
            ) { response in
                #expect(response.status == .conflict)
                #expect(PagesTests.text(response).contains("the device is not asking anything now"))
            }
            try await client.execute(
                uri: "/app/api/pairing/jump", method: .post, headers: [.authorization: "Bearer \(PagesTests.system)"]
            ) { #expect($0.status == .notFound) }
        }
    }
}

/// Needs attention lists a device whose last connection read a low battery (before it stops and loses its clock).
@Suite struct BatteryAttentionTests {
    @Test func aCuffWithALowBatteryNeedsAttention() async throws {
        let (pages, pipeline, dir) = try await PagesTests.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        var configuration = SimulatedBloodPressureMonitor.Configuration()
        configuration.batteryPercent = 9
        let cuff = SimulatedBloodPressureMonitor(configuration: configuration)
        await cuff.measure(count: 1, users: [1], seed: 3, end: nil, spacing: 600)
        let (central, peripheral) = try SeqPacketBearer.pair()
        let serving = Task { await cuff.serve(peripheral) }
        try await pipeline.collect(
            bearer: central, link: "sim:weak-cuff", zone: .gmt,
            mapper: GatewayPipeline.mapperOptions(gatewayID: "gw", zone: .gmt)
        ) { _, _ in }
        await serving.value
        let session = await PageSessions().open(caller: "t", subjects: nil, assignable: nil)
        let items = try NeedsAttention(archive: pipeline.archive, configuration: pages.configuration, now: { Date() })
            .items(for: session, language: .en)
        let low = items.filter { $0.kind == .batteryLow }
        #expect(low.count == 1 && low.first?.urgent == true, "\(items.map(\.kind))")
        #expect(low.first?.detail.contains("9 % at its last connection") == true, "\(low.first?.detail ?? "")")
        // The fixture's cuff (80 %) is not listed.
        #expect(!items.contains { $0.kind == .batteryLow && $0.detail.contains("80 %") })
    }
}

/// Wrong tokens from one address: after ten in five minutes that address waits, even with the right token.
@Suite struct SignInThrottleTests {
    @Test func tenWrongTokensMakeThatAddressWait() async throws {
        let (pages, pipeline, dir) = try await PagesTests.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        try await PagesTests.application(pages).test(.live) { client in
            for attempt in 0..<PageSessions.maximumFailures {
                try await client.execute(
                    uri: "/app/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(string: "token=guess-\(attempt)")
                ) { #expect($0.status == .unauthorized) }
            }
            try await client.execute(
                uri: "/app/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=\(PagesTests.system)")
            ) { response in
                #expect(response.status == .tooManyRequests)
                #expect(PagesTests.text(response).contains("Wait five minutes"))
            }
        }
        let audit = try String(contentsOfFile: pages.audit.path, encoding: .utf8)
        #expect(audit.contains("\"status\":429"))
    }
}
