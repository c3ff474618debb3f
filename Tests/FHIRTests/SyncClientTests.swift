import Crypto
import FHIR
import Foundation
import Provenance
import StreamEngine
import Synchronization
import Testing
import TimeSeries
import _CryptoExtras

/// The sync client against an in-process upstream that answers like a FHIR server (transaction-response Bundles),
/// over a real engine, archive and outbox on disk — the HTTP side is covered by the two-process tests.
@Suite struct SyncClientTests {
    /// A FHIR upstream in memory: conditional creates and updates by identifier, or an outage. With `clients` set it
    /// also is a SMART Backend Services token endpoint (at `tokenURL`): it checks each client assertion against the
    /// registered key, issues tokens that live `tokenLifetime` seconds, and answers 401 to a Bundle without a live one.
    final class Upstream: FHIRTransport, Sendable {
        static let tokenURL = "http://phr.invalid/auth/token"

        struct State {
            var down = false
            var stored: [String: (version: Int, json: ExactJSON)] = [:]
            var posts = 0
            var status: Int?
            var fullUrls: [String: String] = [:]
            /// References a Bundle held that resolved to none of its own entries (R4 transaction rules).
            var dangling: [String] = []
            var clients: [String: ClientPublicKey]?
            var tokenLifetime: Int64 = 300
            var issued: [String: Int64] = [:]
            var tokenRequests = 0
            var seenJTIs: Set<String> = []
            /// The upstream's clock for token expiry, seconds (tests move it).
            var nowSeconds: Int64 = Fixture.at0830 / 1_000_000
        }
        let state = Mutex(State())

        func postForm(_ form: [(String, String)], to url: String) async throws -> (status: Int, body: [UInt8]) {
            state.withLock { state in
                state.tokenRequests += 1
                func refuse(_ error: String, _ why: String) -> (status: Int, body: [UInt8]) {
                    (400, Array(ExactJSON.obj(["error": .string(error), "error_description": .string(why)]).text.utf8))
                }
                let fields = Dictionary(form, uniquingKeysWith: { a, _ in a })
                guard url == Self.tokenURL, let clients = state.clients else {
                    return refuse("invalid_request", "no token endpoint here")
                }
                guard fields["grant_type"] == "client_credentials",
                    fields["client_assertion_type"] == ClientAssertion.type
                else {
                    return refuse("unsupported_grant_type", "client_credentials with a jwt-bearer assertion")
                }
                let claims: ClientAssertion.Claims
                do {
                    claims = try ClientAssertion.verify(
                        fields["client_assertion"] ?? "", audience: { $0 == Self.tokenURL },
                        nowSeconds: state.nowSeconds, key: { clients[$0] })
                } catch {
                    return refuse("invalid_client", "\(error)")
                }
                guard state.seenJTIs.insert(claims.jti).inserted else {
                    return refuse("invalid_client", "jti replayed")
                }
                let token = "tok-\(state.tokenRequests)"
                state.issued[token] = state.nowSeconds + state.tokenLifetime
                return (
                    200,
                    Array(
                        ExactJSON.obj([
                            "access_token": .string(token), "token_type": "bearer",
                            "expires_in": .integer(state.tokenLifetime),
                            "scope": .string(fields["scope"] ?? ""),
                        ]).text.utf8)
                )
            }
        }

        func post(_ body: [UInt8], to url: String, bearerToken: String?) async throws -> (status: Int, body: [UInt8]) {
            try state.withLock { state in
                state.posts += 1
                if state.down { throw URLError(.cannotConnectToHost) }
                if state.clients != nil {
                    guard let token = bearerToken, let expiry = state.issued[token], expiry > state.nowSeconds else {
                        return (
                            401,
                            Array(
                                #"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","diagnostics":"token"}]}"#
                                    .utf8)
                        )
                    }
                }
                if let status = state.status {
                    return (
                        status,
                        Array(
                            #"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"no"}]}"#
                                .utf8)
                    )
                }
                let bundle = try ExactJSON.parse(body)
                let given = Set((bundle["entry"]?.arrayValue ?? []).compactMap { $0["fullUrl"]?.stringValue })
                for entry in bundle["entry"]?.arrayValue ?? [] {
                    state.dangling += FHIRReferences.all(in: entry["resource"] ?? .null).filter { !given.contains($0) }
                }
                var responses: [ExactJSON] = []
                for entry in bundle["entry"]?.arrayValue ?? [] {
                    let resource = entry["resource"] ?? .null
                    let key = (resource["resourceType"]?.stringValue ?? "") + "|" + (resource["id"]?.stringValue ?? "")
                    let method = entry["request"]?["method"]?.stringValue
                    if let fullUrl = entry["fullUrl"]?.stringValue { state.fullUrls[fullUrl] = key }
                    if let old = state.stored[key] {
                        if method == "PUT" { state.stored[key] = (old.version + 1, resource) }
                        responses.append(.obj(["response": .obj(["status": "200 OK"])]))
                    } else {
                        state.stored[key] = (1, resource)
                        responses.append(.obj(["response": .obj(["status": "201 Created"])]))
                    }
                }
                return (
                    200,
                    Array(
                        ExactJSON.obj([
                            "resourceType": "Bundle", "type": "transaction-response", "entry": .array(responses),
                        ]).text.utf8)
                )
            }
        }
    }

    struct World {
        let dir: String
        let engine: StreamEngine
        let store: TimeSeriesStore
        let client: SyncClient
        let outbox: Outbox
        let archive: ReadingArchive
    }

    static func world(
        rules: [SharingRule], batchSize: Int = 100, persons: [PatientRecord] = [], account: PatientIdentifier? = nil,
        smart: SMARTBackendSettings? = nil, testData: Bool = false
    ) throws -> World {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sync-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try TimeSeriesStore(directory: dir + "/store")
        let archive = try ReadingArchive(path: dir + "/engine.sqlite")
        let engine = try StreamEngine(
            store: store, archive: archive,
            windows: WindowTracker(
                zones: ["alice": TimeZone(identifier: "Asia/Tokyo")!],
                testSubjects: Set(persons.filter(\.test).map(\.subject))))
        let outbox = try Outbox(path: dir + "/outbox.sqlite")
        var destination = SyncDestination(name: "phr", baseURL: "http://phr.invalid/fhir", rules: rules)
        destination.retryInitialSeconds = 1
        destination.retryMaximumSeconds = 8
        destination.batchSize = batchSize
        if let account { destination.patientIdentifiers["alice"] = account }
        destination.smart = smart
        destination.testData = testData
        let client = SyncClient(
            destination: destination, outbox: outbox, archive: archive, gateway: Fixture.gateway, persons: persons,
            zones: { _ in TimeZone(identifier: "Asia/Tokyo")! })
        return World(dir: dir, engine: engine, store: store, client: client, outbox: outbox, archive: archive)
    }

    static func ingest(_ readings: [Reading], into engine: StreamEngine) async throws {
        for reading in readings {
            _ = try await engine.ingest(PendingReading(reading: reading, acknowledge: {}))
        }
    }

    static func heartRate(_ bpm: Int64, minute: Int64, subject: String = "alice") -> Reading {
        var reading = Fixture.heartRate(rr: [])
        reading.subject = subject
        reading.components = [
            ReadingComponent(
                metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: bpm, exponent: 0)), unit: "/min")
        ]
        reading.time.effectiveMicros = Fixture.at0830 + minute * 60_000_000
        reading.rawPayloads = [[UInt8(truncatingIfNeeded: bpm), UInt8(truncatingIfNeeded: minute)]]
        return reading
    }

    @Test func consentDecidesWhatIsQueuedAndRevisedSummariesUpdateTheSameResource() async throws {
        let world = try Self.world(rules: [SharingRule(subjects: ["alice"], kinds: [.heartRate], raw: false)])
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        try await Self.ingest(
            [
                Self.heartRate(60, minute: 0), Self.heartRate(70, minute: 1),
                Self.heartRate(80, minute: 2, subject: "bob"),
            ], into: world.engine)
        try world.client.feed(nowMicros: Fixture.at0830)
        let upstream = Upstream()
        let first = try await world.client.deliver(transport: upstream, nowMicros: Fixture.at0830)
        // Summaries only (raw is not consented), of alice only: hour and day of heart rate, plus the two devices.
        let (stored, fullUrls) = upstream.state.withLock { ($0.stored, $0.fullUrls) }
        let observations = stored.filter { $0.key.hasPrefix("Observation|") }
        #expect(first == .delivered(sent: observations.count, refused: 0))
        #expect(observations.count == 2)
        // The Patient and the strap's PhdDevice travel with the summaries (which reference nothing else); references
        // point at their entries' fullUrls.
        #expect(stored["Patient|alice"] != nil && stored.keys.filter { $0.hasPrefix("Device|") }.count == 1)
        #expect(
            observations.values.allSatisfy {
                $0.json["subject"]?["reference"]?.stringValue.flatMap { fullUrls[$0] } == "Patient|alice"
            })
        #expect(
            observations.values.allSatisfy {
                $0.json["device"]?["reference"]?.stringValue.flatMap { fullUrls[$0] }?.hasPrefix("Device|") == true
            })
        #expect(
            observations.values.allSatisfy {
                $0.json["identifier"]?[0]?["system"]?.stringValue == SummaryMapper.summaryIdentifierSystem
            })

        // A late reading revises both windows: queued again, sent as an update of the same resources.
        try await Self.ingest([Self.heartRate(90, minute: 3)], into: world.engine)
        try world.client.feed(nowMicros: Fixture.at0830)
        #expect(
            try await world.client.deliver(transport: upstream, nowMicros: Fixture.at0830)
                == .delivered(sent: 2, refused: 0))
        let after = upstream.state.withLock { $0.stored }.filter { $0.key.hasPrefix("Observation|") }
        #expect(after.count == 2)
        #expect(after.values.allSatisfy { $0.version == 2 })
        #expect(try await world.client.deliver(transport: upstream, nowMicros: Fixture.at0830) == .idle)
        world.store.close()
    }

    /// A cuff whose clock runs fast (a coincident timestamp), a meter with a clock, a strap, and a person who is not
    /// shared, sent one entry per Bundle: each Bundle carries the Patient, the Devices and the coincident timestamp its
    /// entry references, and no reference points outside it.
    @Test func everyReferenceResolvesInsideItsBundle() async throws {
        let alice = PatientRecord(
            subject: "alice", name: "Alice",
            identifiers: [PatientIdentifier(system: "urn:oid:1.2.392.100495.20.3.51.1", value: "12345678")])
        let world = try Self.world(
            rules: [SharingRule(subjects: ["alice"], kinds: [.bloodPressure, .glucose, .heartRate], raw: true)],
            batchSize: 1,
            persons: [alice], account: PatientIdentifier(system: "https://phr.example/account", value: "A-1"))
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        var bob = Self.heartRate(75, minute: 5, subject: "bob")
        bob.rawPayloads = [[75, 5, 1]]
        try await Self.ingest(
            [Fixture.bloodPressure(time: Fixture.mappedTime()), Fixture.glucose(), Self.heartRate(61, minute: 2), bob],
            into: world.engine)
        try world.client.feed(nowMicros: Fixture.at0830)
        let upstream = Upstream()
        while case .delivered = try await world.client.deliver(transport: upstream, nowMicros: Fixture.at0830) {}
        let (stored, fullUrls, dangling, posts) = upstream.state.withLock {
            ($0.stored, $0.fullUrls, $0.dangling, $0.posts)
        }
        #expect(dangling.isEmpty, "references to nothing in their Bundle: \(dangling)")
        #expect(posts > 3)
        // The Patient is matched on the destination's account, and carries the configured identifiers and gatewayd's.
        let patient = stored["Patient|alice"]?.json
        let identifiers = (patient?["identifier"]?.arrayValue ?? []).compactMap { $0["system"]?.stringValue }
        #expect(
            identifiers == [
                "https://phr.example/account", "urn:oid:1.2.392.100495.20.3.51.1", PatientMapper.subjectSystem,
            ])
        #expect(stored.keys.contains { $0.hasPrefix("Observation|coin-") }, "the coincident timestamp was not sent")
        #expect(stored["Patient|bob"] == nil)
        // Each stored batch's part for alice has its Provenance, naming her Observations (bob's are not hers to send).
        let provenances = stored.filter { $0.key.hasPrefix("Provenance|") }
        #expect(!provenances.isEmpty)
        for (key, value) in provenances {
            let targets = (value.json["target"]?.arrayValue ?? []).compactMap {
                $0["reference"]?.stringValue.flatMap { fullUrls[$0] }
            }
            #expect(!targets.isEmpty && targets.allSatisfy { $0.hasPrefix("Observation|") }, "\(key): \(targets)")
            #expect(!"\(value.json)".contains("bob"), "\(key) names bob")
        }
        for (key, value) in stored where key.hasPrefix("Observation|") {
            let subject = value.json["subject"]?["reference"]?.stringValue.flatMap { fullUrls[$0] } ?? ""
            #expect(subject == "Patient|alice" || subject.hasPrefix("Device|"), "\(key): subject \(subject)")
        }
    }

    /// SMART Backend Services with each key kind: a token asked for with a signed assertion, kept while it lives,
    /// renewed before it expires, renewed once when the server revokes it (401), and a refused assertion backs off
    /// with the endpoint's reason.
    @Test(arguments: ["ES384", "RS384"])
    func smartBackendTokensAreAskedForKeptRenewedAndRefusedClearly(algorithm: String) async throws {
        let key: ClientKey =
            algorithm == "ES384"
            ? .es384(P384.Signing.PrivateKey()) : .rs384(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let settings = SMARTBackendSettings(tokenURL: Upstream.tokenURL, clientID: "home-pi", keyID: "k1", key: key)
        let world = try Self.world(
            rules: [SharingRule(subjects: ["alice"], kinds: [.heartRate], raw: true)], batchSize: 1, smart: settings)
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        let upstream = Upstream()
        upstream.state.withLock {
            $0.clients = ["home-pi": key.publicKey]
            $0.tokenLifetime = 120
        }
        try await Self.ingest((0..<4).map { Self.heartRate(60 + $0, minute: $0) }, into: world.engine)
        try world.client.feed(nowMicros: Fixture.at0830)
        let now = Fixture.at0830
        #expect(try await world.client.deliver(transport: upstream, nowMicros: now) == .delivered(sent: 1, refused: 0))
        #expect(
            try await world.client.deliver(transport: upstream, nowMicros: now + 30_000_000)
                == .delivered(sent: 1, refused: 0))
        #expect(upstream.state.withLock { $0.tokenRequests } == 1, "a live token is kept")
        // 100 s into a 120 s token: renewed before it expires (the margin is a fifth of its life).
        upstream.state.withLock { $0.nowSeconds += 100 }
        #expect(
            try await world.client.deliver(transport: upstream, nowMicros: now + 100_000_000)
                == .delivered(sent: 1, refused: 0))
        #expect(upstream.state.withLock { $0.tokenRequests } == 2)
        // The server revokes every token: one renewal, and the Bundle goes through.
        upstream.state.withLock { $0.issued.removeAll() }
        #expect(
            try await world.client.deliver(transport: upstream, nowMicros: now + 101_000_000)
                == .delivered(sent: 1, refused: 0))
        #expect(upstream.state.withLock { $0.tokenRequests } == 3)

        // Another key than the registered one: the endpoint's reason, and a back-off.
        try await Self.ingest([Self.heartRate(90, minute: 9)], into: world.engine)
        try world.client.feed(nowMicros: now)
        world.client.tokens?.invalidate()
        upstream.state.withLock { $0.clients = ["home-pi": ClientKey.es384(P384.Signing.PrivateKey()).publicKey] }
        let waiting = try world.outbox.report(destination: "phr").pending
        #expect(waiting > 0)
        let refused = try await world.client.deliver(transport: upstream, nowMicros: now + 102_000_000)
        guard case .failed(let reason) = refused else {
            Issue.record("expected a failure, got \(refused)")
            return
        }
        #expect(reason.contains("invalid_client") && reason.contains("does not verify"), "\(reason)")
        #expect(
            try world.outbox.report(destination: "phr").pending == waiting, "nothing is lost while no token can be had")
    }

    static func pressure(_ systolic: Int64, _ diastolic: Int64, day: Int64, minute: Int64 = 0) -> Reading {
        Fixture.bloodPressure(
            systolic: Fixture.q(systolic), diastolic: Fixture.q(diastolic), mean: Fixture.q(100),
            time: Fixture.receiveTime(Fixture.at0830 + day * 86_400_000_000 + minute * 60_000_000),
            payload: [0x1E, UInt8(systolic), 0, UInt8(diastolic), 0, UInt8(day), UInt8(minute)])
    }

    /// Blood pressure on three days: the week's average self-measured blood pressure ending each day goes as one
    /// Observation (LOINC 96607-7, exact means, the number of readings); a late reading revises it as a new version of
    /// the same resource. Summaries only: no reading is named.
    @Test func theWeeksAverageSelfMeasuredBloodPressureIsSentAndRevised() async throws {
        let world = try Self.world(rules: [SharingRule(subjects: ["alice"], kinds: [.bloodPressure], raw: false)])
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        try await Self.ingest(
            [Self.pressure(120, 80, day: 0), Self.pressure(130, 84, day: 1), Self.pressure(126, 82, day: 2)],
            into: world.engine)
        try world.client.feed(nowMicros: Fixture.at0830)
        let upstream = Upstream()
        while case .delivered = try await world.client.deliver(transport: upstream, nowMicros: Fixture.at0830) {}
        func averages() -> [(version: Int, json: ExactJSON)] {
            upstream.state.withLock { $0.stored }.values.filter {
                $0.json["code"]?["coding"]?[0]?["code"]?.stringValue == "96607-7"
            }
            .sorted {
                ($0.json["effectivePeriod"]?["end"]?.stringValue ?? "")
                    < ($1.json["effectivePeriod"]?["end"]?.stringValue ?? "")
            }
        }
        func means(_ json: ExactJSON) -> [String] {
            (json["component"]?.arrayValue ?? []).compactMap { $0["valueQuantity"]?["value"]?.numberText }
        }
        #expect(averages().count == 3)
        let week = try #require(averages().last)
        #expect(means(week.json) == ["125.3", "82.0"], "\(week.json)")
        #expect(week.json["extension"]?[0]?["valueQuantity"]?["value"]?.numberText == "3")
        #expect(week.json["derivedFrom"] == nil)

        try await Self.ingest([Self.pressure(140, 90, day: 2, minute: 10)], into: world.engine)
        try world.client.feed(nowMicros: Fixture.at0830 + 60_000_000)
        while case .delivered = try await world.client.deliver(
            transport: upstream, nowMicros: Fixture.at0830 + 60_000_000)
        {}
        let revised = try #require(averages().last)
        #expect(averages().count == 3)
        #expect(revised.version == 2 && means(revised.json) == ["129.0", "84.0"], "\(revised)")
    }

    @Test func anOutageBacksOffExponentiallyWithJitterAndLosesNothing() async throws {
        let world = try Self.world(rules: [SharingRule(subjects: ["*"], kinds: [.heartRate], raw: true)])
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        try await Self.ingest((0..<5).map { Self.heartRate(60 + $0, minute: $0) }, into: world.engine)
        try world.client.feed(nowMicros: Fixture.at0830)
        let pendingBefore = try world.outbox.report(destination: "phr").pending
        let upstream = Upstream()
        upstream.state.withLock { $0.down = true }
        var now = Fixture.at0830
        var waits: [Int64] = []
        for _ in 0..<5 {
            guard case .failed = try await world.client.deliver(transport: upstream, nowMicros: now, random: { 0.5 })
            else {
                Issue.record("expected a failure while the upstream is down")
                return
            }
            let next = try world.outbox.state(destination: "phr").nextAttemptMicros
            waits.append(next - now)
            // Before the backoff ends, nothing is tried.
            #expect(
                try await world.client.deliver(transport: upstream, nowMicros: next - 1) == .waiting(untilMicros: next))
            now = next
        }
        // 1 s, 2 s, 4 s, 8 s, 8 s (capped), each three quarters of the step with jitter 0.5.
        #expect(waits == [750_000, 1_500_000, 3_000_000, 6_000_000, 6_000_000])
        #expect(try world.outbox.report(destination: "phr").pending == pendingBefore)
        upstream.state.withLock { $0.down = false }
        guard case .delivered(let sent, 0) = try await world.client.deliver(transport: upstream, nowMicros: now) else {
            Issue.record("expected delivery once the upstream is back")
            return
        }
        #expect(sent == pendingBefore)
        let report = try world.outbox.report(destination: "phr")
        #expect(report.pending == 0 && report.sent == pendingBefore && report.state.failures == 0)
        world.store.close()
    }

    /// Bob withdraws his consent while the destination is down: what his rule let into the queue (raw readings and
    /// summaries) is removed before it could leave, the removal is reported per subject, and Alice's entries are sent
    /// once the destination is back. The queue is walked again only when the rules change.
    @Test func withdrawnConsentRemovesWhatItLetInEvenWhileTheDestinationIsDown() async throws {
        let world = try Self.world(rules: [SharingRule(subjects: ["alice", "bob"], kinds: [.heartRate], raw: true)])
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        try await Self.ingest(
            (0..<3).map { Self.heartRate(60 + $0, minute: $0) }
                + (0..<2).map { Self.heartRate(70 + $0, minute: $0, subject: "bob") },
            into: world.engine)
        try world.client.feed(nowMicros: Fixture.at0830)
        let upstream = Upstream()
        upstream.state.withLock { $0.down = true }
        guard case .failed = try await world.client.deliver(transport: upstream, nowMicros: Fixture.at0830) else {
            Issue.record("expected a failure while the destination is down")
            return
        }
        let queued = try world.outbox.report(destination: "phr").pending

        var destination = world.client.destination
        destination.rules = [SharingRule(subjects: ["alice"], kinds: [.heartRate], raw: true)]
        let client = SyncClient(
            destination: destination, outbox: world.outbox, archive: world.archive, gateway: Fixture.gateway,
            zones: { _ in TimeZone(identifier: "Asia/Tokyo")! })
        let withdrawals = Mutex<[SyncClient.Withdrawal]>([])
        // Still down, still backing off: the withdrawal happens anyway.
        let waiting = try await client.deliver(
            transport: upstream, nowMicros: Fixture.at0830 + 1,
            onWithdraw: { withdrawal in withdrawals.withLock { $0.append(withdrawal) } })
        guard case .waiting = waiting else {
            Issue.record("expected the backoff to go on: \(waiting)")
            return
        }
        let removed = withdrawals.withLock { $0 }.first?.removed ?? [:]
        // Bob's two readings' Observations, their batches' Provenances, and his hour and day heart-rate summaries.
        #expect(removed == ["bob": 6], "\(removed)")
        #expect(try world.outbox.report(destination: "phr").pending == queued - 6)
        #expect(try client.applyConsent() == nil)  // unchanged rules: the queue is not walked again

        upstream.state.withLock { $0.down = false }
        var now = Fixture.at0830 + 60_000_000
        while case .delivered = try await client.deliver(transport: upstream, nowMicros: now) { now += 1 }
        let (stored, fullUrls) = upstream.state.withLock { ($0.stored, $0.fullUrls) }
        #expect(!stored.isEmpty)
        #expect(stored["Patient|bob"] == nil)
        #expect(
            stored.values.allSatisfy {
                $0.json["subject"]?["reference"]?.stringValue.flatMap { fullUrls[$0] } != "Patient|bob"
            })
        #expect(try world.outbox.report(destination: "phr").pending == 0)
        world.store.close()
    }

    @Test func anEntryTheDestinationRefusesIsKeptAsFailedWithTheReason() async throws {
        let world = try Self.world(rules: [SharingRule(subjects: ["alice"], kinds: [.heartRate], raw: true)])
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        try await Self.ingest([Self.heartRate(60, minute: 0)], into: world.engine)
        try world.client.feed(nowMicros: Fixture.at0830)
        let upstream = Upstream()
        upstream.state.withLock { $0.status = 422 }
        _ = try await world.client.deliver(transport: upstream, nowMicros: Fixture.at0830)
        let report = try world.outbox.report(destination: "phr")
        #expect(report.pending == 0)
        #expect(report.failed > 0)
        #expect(report.failures.allSatisfy { $0.reason.contains("422") && $0.reason.contains("no") })
        #expect(try world.outbox.retryFailed(destination: "phr") == report.failed)
        world.store.close()
    }

    @Test func testDataLeavesOnlyForADestinationThatTakesIt() {
        var destination = SyncDestination(
            name: "phr", baseURL: "https://phr.invalid/fhir",
            rules: [SharingRule(subjects: ["alice"], kinds: [.heartRate], raw: true)])
        let person = Self.heartRate(72, minute: 1)
        var check = person
        check.flags.insert(.testData)  // a control-solution check, a simulated device
        #expect(destination.allowsRaw(person))
        #expect(!destination.allowsRaw(check))
        destination.testData = true
        #expect(destination.allowsRaw(check))
    }

    /// alice is a real person with one simulated (test) reading among hers; bob is a test person (the demo's kind).
    /// A destination that does not take test data gets alice's real readings and summaries of them only, and nothing
    /// of bob's; one that does gets bob's readings and his summaries, which are made of test data and say so.
    @Test func aTestPersonsSummariesAreMadeOfTestDataAndLeaveOnlyForADestinationThatTakesIt() async throws {
        for takesTestData in [false, true] {
            let world = try Self.world(
                rules: [SharingRule(subjects: ["alice", "bob"], kinds: [.heartRate], raw: true)],
                persons: [PatientRecord(subject: "alice"), PatientRecord(subject: "bob", test: true)],
                testData: takesTestData)
            defer { try? FileManager.default.removeItem(atPath: world.dir) }
            var simulated = Self.heartRate(150, minute: 2)
            simulated.flags.insert(.testData)
            var bobs = [Self.heartRate(80, minute: 0, subject: "bob"), Self.heartRate(90, minute: 1, subject: "bob")]
            for index in bobs.indices { bobs[index].flags.insert(.testData) }
            try await Self.ingest(
                [Self.heartRate(60, minute: 0), Self.heartRate(70, minute: 1), simulated] + bobs, into: world.engine)
            try world.client.feed(nowMicros: Fixture.at0830)
            let upstream = Upstream()
            while case .delivered = try await world.client.deliver(transport: upstream, nowMicros: Fixture.at0830) {}
            let (stored, fullUrls) = upstream.state.withLock { ($0.stored, $0.fullUrls) }
            let observations = stored.values.map(\.json).filter { $0["resourceType"]?.stringValue == "Observation" }
            func of(_ subject: String) -> [ExactJSON] {
                observations.filter {
                    $0["subject"]?["reference"]?.stringValue.flatMap { fullUrls[$0] } == "Patient|" + subject
                }
            }
            func isSummary(_ json: ExactJSON) -> Bool {
                json["identifier"]?[0]?["system"]?.stringValue == SummaryMapper.summaryIdentifierSystem
            }
            func isTest(_ json: ExactJSON) -> Bool {
                (json["meta"]?["security"]?.arrayValue ?? []).contains { $0["code"]?.stringValue == "HTEST" }
            }
            func count(_ json: ExactJSON) -> Int? {
                (json["component"]?.arrayValue ?? []).first {
                    $0["code"]?["coding"]?[0]?["code"]?.stringValue == "count"
                }?["valueInteger"]?.numberText.flatMap { Int($0) }
            }
            // alice: her two readings (the simulated one only to a destination taking test data); summaries of the two.
            #expect(of("alice").filter { !isSummary($0) }.count == (takesTestData ? 3 : 2))
            let aliceSummaries = of("alice").filter {
                isSummary($0) && $0["code"]?["text"]?.stringValue?.contains("statistics") == true
            }
            #expect(
                !aliceSummaries.isEmpty && aliceSummaries.allSatisfy { count($0) == 2 && !isTest($0) },
                "\(aliceSummaries)")
            // bob: nothing, or his test readings and summaries of them, labelled test data.
            let bobSummaries = of("bob").filter {
                isSummary($0) && $0["code"]?["text"]?.stringValue?.contains("statistics") == true
            }
            if takesTestData {
                #expect(of("bob").filter { !isSummary($0) }.count == 2)
                #expect(
                    !bobSummaries.isEmpty && bobSummaries.allSatisfy { count($0) == 2 && isTest($0) }, "\(bobSummaries)"
                )
                #expect(upstream.state.withLock { $0.stored["Patient|bob"] }.map { isTest($0.json) } == true)
            } else {
                #expect(of("bob").isEmpty, "\(of("bob"))")
            }
            world.store.close()
        }
    }

    @Test func backoffDelaysDoubleUpToTheCapWithEqualJitter() {
        let backoff = Backoff(initialSeconds: 2, maximumSeconds: 60)
        #expect(backoff.delay(failures: 1, unit: 0) == 1)
        #expect(backoff.delay(failures: 1, unit: 0.999_999) < 2)
        #expect(backoff.delay(failures: 3, unit: 1) == 8)
        #expect(backoff.delay(failures: 10, unit: 0) == 30)
        #expect(backoff.delay(failures: 10_000, unit: 1) == 60)
    }

    @Test func theJSONParserKeepsNumberTextAndOrderAndNamesTheOffsetOfAnError() throws {
        let json = try ExactJSON.parse(#"{"b":120.50,"a":[1e3,-0.0,"\u00e9\ud83d\ude00"],"c":null}"#)
        #expect(json.keys == ["b", "a", "c"])
        #expect(json["b"]?.numberText == "120.50")
        #expect(json["a"]?[0]?.numberText == "1e3")
        #expect(json["a"]?[2]?.stringValue == "é😀")
        #expect(throws: ExactJSONParseError.self) { try ExactJSON.parse(#"{"a":1,"a":2}"#) }
        do {
            _ = try ExactJSON.parse(#"{"a": 01}"#)
            Issue.record("a leading zero was accepted")
        } catch {
            #expect(error.offset == 8)
        }
    }
}
