import AsyncHTTPClient
import Foundation
import NIOSSL
import Testing

@testable import GatewayRuntime

/// Off loopback nothing is served or sent without TLS: the API and a hub make their own certificate, a home gateway
/// pins it as its destination's `ca_file`, and plain HTTP to another machine is refused unless the operator wrote so.
@Suite struct TLSTests {
    @Test func theGatewaysOwnCertificateNamesItsAddressesAndHasAStableFingerprint() throws {
        let made = try GatewayCertificate.make(
            names: ["localhost", "hub-1", "hub-1.local"], addresses: ["127.0.0.1", "::1", "192.0.2.7"])
        let certificate = try NIOSSLCertificate(bytes: Array(made.certificatePEM.utf8), format: .pem)
        _ = try NIOSSLPrivateKey(bytes: Array(made.privateKeyPEM.utf8), format: .pem)
        let fingerprint = try GatewayCertificate.fingerprint(pem: made.certificatePEM)
        #expect(fingerprint.split(separator: ":").count == 32 && fingerprint == fingerprint.uppercased())
        #expect(try GatewayCertificate.fingerprint(pem: made.certificatePEM) == fingerprint)
        let names = try #require(certificate._subjectAlternativeNames())
        let text = names.map { "\($0.nameType):\(Array($0.contents))" }
        #expect(text.contains { $0.contains("192, 0, 2, 7") }, "\(text)")
        #expect(names.contains { $0.nameType == .dnsName && Array($0.contents) == Array("hub-1.local".utf8) })
    }

    @Test func plainHTTPOffLoopbackIsRefusedUnlessTheOperatorWritesIt() throws {
        // The API: tls: false on a network address.
        let offLoopback = ConfigurationTests.example.replacingOccurrences(
            of: "  japanese_coding: true", with: "  japanese_coding: true\n  tls: false")
        let configuration = try ConfigurationTests.parse(offLoopback)
        #expect(throws: ListenerSecurityError.self) { try configuration.apiListener() }
        do {
            _ = try configuration.apiListener()
        } catch {
            #expect("\(error)".contains("plain_http: true") && "\(error)".contains("0.0.0.0:8443"), "\(error)")
        }
        // Written: plain HTTP it is.
        let written = try ConfigurationTests.parse(
            offLoopback.replacingOccurrences(of: "  tls: false", with: "  tls: false\n  plain_http: true"))
        #expect(
            try ListenerSecurity.resolve(
                choice: written.api.tls, plainHTTP: written.api.plainHTTP, listen: written.api.listen, host: "0.0.0.0",
                dataDirectory: "/nonexistent") == .plain)
        // No tls: key off loopback: TLS with the gateway's own certificate; on loopback: plain.
        #expect(
            try ListenerSecurity.resolve(
                choice: .automatic, plainHTTP: false, listen: "0.0.0.0:8443", host: "0.0.0.0", dataDirectory: "/d")
                == .tls(certificateFile: "/d/tls/certificate.pem", keyFile: "/d/tls/key.pem", generated: true))
        #expect(
            try ListenerSecurity.resolve(
                choice: .automatic, plainHTTP: false, listen: "127.0.0.1:8080", host: "127.0.0.1", dataDirectory: "/d")
                == .plain)
        // A sync destination: http:// to another machine.
        let plainDestination = ConfigurationTests.example.replacingOccurrences(
            of: "url: https://phr.example/fhir/", with: "url: http://phr.example/fhir/")
        do {
            _ = try ConfigurationTests.parse(plainDestination)
            Issue.record("plain HTTP to another machine was accepted")
        } catch {
            #expect(error.key == "sync[0].url" && error.description.contains("clear text"), "\(error)")
        }
        let allowed = try ConfigurationTests.parse(
            plainDestination.replacingOccurrences(
                of: "    interval: 30s", with: "    interval: 30s\n    plain_http: true"))
        #expect(allowed.destinations.first?.baseURL == "http://phr.example/fhir")
        // A CA file that is not there is named.
        do {
            _ = try ConfigurationTests.parse(
                ConfigurationTests.example.replacingOccurrences(
                    of: "    interval: 30s", with: "    interval: 30s\n    ca_file: /nonexistent/hub.pem"))
            Issue.record("a missing ca_file was accepted")
        } catch {
            #expect(error.key == "sync[0].ca_file" && error.description.contains("/nonexistent/hub.pem"), "\(error)")
        }
    }

    @Test func aHubOffLoopbackSpeaksTLSAndAHomeGatewayThatPinsItsCertificateSyncsToIt() async throws {
        let setup = try SyncTests.setup()
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        // The hub listens on every address: with no tls: key, it makes its own certificate.
        let hubText = try String(contentsOfFile: setup.hubConfig, encoding: .utf8)
            .replacingOccurrences(of: "listen: 127.0.0.1:\(setup.hubPort)", with: "listen: 0.0.0.0:\(setup.hubPort)")
        try hubText.write(toFile: setup.hubConfig, atomically: true, encoding: .utf8)
        try await APIHarness.importReadings(SyncTests.day(), into: setup.dir)
        let hub = try await Self.startHub(setup)
        defer {
            hub.terminate()
            hub.waitUntilExit()
        }
        let certificate = setup.dir + "/hub-data/tls/certificate.pem"
        #expect(FileManager.default.fileExists(atPath: certificate))
        let keyAttributes = try FileManager.default.attributesOfItem(atPath: setup.dir + "/hub-data/tls/key.pem")
        #expect((keyAttributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        // Plain HTTP to it gets no FHIR answer.
        #expect(
            (try? await FHIRAPITests.get("http://127.0.0.1:\(setup.hubPort)/fhir/metadata", token: SyncTests.readToken))
                == nil)
        // status shows the fingerprint a home gateway or a phone pins.
        let fingerprint = try GatewayCertificate.fingerprint(
            pem: try String(contentsOfFile: certificate, encoding: .utf8))
        setenv("GATEWAYD_TEST_READER", SyncTests.readToken, 1)  // the hub's configuration reads a token from it
        let status = try await FHIRAPITests.run(["status", "--config", setup.hubConfig])
        #expect(
            status.output.contains("https://0.0.0.0:\(setup.hubPort)/fhir, TLS certificate SHA-256 \(fingerprint)"),
            "\(status.output)")

        // A home gateway that trusts only the system's roots refuses the hub's certificate: nothing is sent.
        let homeText = try String(contentsOfFile: setup.homeConfig, encoding: .utf8)
            .replacingOccurrences(
                of: "url: http://127.0.0.1:\(setup.hubPort)/fhir", with: "url: https://localhost:\(setup.hubPort)/fhir")
        try homeText.write(toFile: setup.homeConfig, atomically: true, encoding: .utf8)
        let untrusted = try await SyncTests.sync(setup)
        #expect(untrusted.contains("hub: failed"), "\(untrusted)")
        // Pinned with ca_file (the hub's own certificate): sent, and the hub verified by name (localhost).
        try homeText.replacingOccurrences(
            of: "    token: { file: upload.token }",
            with: "    token: { file: upload.token }\n    ca_file: hub-data/tls/certificate.pem"
        )
        .write(toFile: setup.homeConfig, atomically: true, encoding: .utf8)
        try await Task.sleep(nanoseconds: 350_000_000)  // the destination's retry back-off
        let pinned = try await SyncTests.sync(setup)
        #expect(pinned.contains("hub: sent"), "\(pinned)")
        // Read back over TLS, trusting that certificate: the readings are there, and the links the hub writes are https.
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(tlsConfiguration: tls))
        defer { _ = client.shutdown() }
        var request = HTTPClientRequest(
            url: "https://localhost:\(setup.hubPort)/fhir/Observation?subject=alice&_count=500")
        request.headers.add(name: "Authorization", value: "Bearer \(SyncTests.readToken)")
        let response = try await client.execute(request, timeout: .seconds(30))
        #expect(response.status.code == 200)
        let body = try await response.body.collect(upTo: 16 << 20)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
        #expect(!FHIRAPITests.entries(json).isEmpty)
        let links = (json["link"] as? [[String: Any]] ?? []).compactMap { $0["url"] as? String }
        #expect(
            !links.isEmpty && links.allSatisfy { $0.hasPrefix("https://localhost:\(setup.hubPort)/fhir") }, "\(links)")
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port` (FHIRAPITests.freePort's socket calls).
    static func isListening(port: Int) -> Bool { FHIRAPITests.accepts(port: port) }

    /// The hub of `SyncTests.setup`, up once it accepts TLS connections on its port.
    static func startHub(_ setup: SyncTests.Setup) async throws -> Process {
        let process = Process()
        process.executableURL = CrashRecoveryTests.gatewaydBinary
        process.arguments = ["serve", "--config", setup.hubConfig]
        process.environment = ProcessInfo.processInfo.environment.merging(["GATEWAYD_TEST_READER": SyncTests.readToken])
        { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if FileManager.default.fileExists(atPath: setup.dir + "/hub-data/tls/certificate.pem"),
                isListening(port: setup.hubPort)
            {
                return process
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        process.terminate()
        throw APIHarness.HarnessError(description: "the hub did not come up")
    }
}
