import Crypto
import Foundation
import Testing

@testable import GatewayHTTP
@testable import GatewayRuntime

/// SMART Backend Services between two real gatewayd processes on loopback: the home gateway signs a client assertion
/// with its own key, the hub's token endpoint checks it against the key registered for that client and issues a
/// token, and the upload goes through with it; a gateway holding another key gets the endpoint's reason.
@Suite(.serialized) struct SMARTSyncTests {
    @Test func aHomeGatewayUploadsWithTokensFromTheHubsTokenEndpoint() async throws {
        let setup = try SyncTests.setup()
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        let key = P384.Signing.PrivateKey()
        try key.pemRepresentation.write(toFile: setup.dir + "/home-a.pem", atomically: true, encoding: .utf8)
        try key.publicKey.pemRepresentation.write(
            toFile: setup.dir + "/home-a.pub.pem", atomically: true, encoding: .utf8)
        var hubConfig = try String(contentsOfFile: setup.hubConfig, encoding: .utf8)
        hubConfig +=
            "\n  clients:\n    - client_id: home-a\n      public_key_file: home-a.pub.pem\n      scopes: [system/*.write]\n"
        try hubConfig.write(toFile: setup.hubConfig, atomically: true, encoding: .utf8)
        let homeConfig = try String(contentsOfFile: setup.homeConfig, encoding: .utf8).replacingOccurrences(
            of: "token: { file: upload.token }",
            with:
                "auth: { token_url: \"http://127.0.0.1:\(setup.hubPort)/auth/token\", client_id: home-a, key_file: home-a.pem, key_id: k1 }"
        )
        try homeConfig.write(toFile: setup.homeConfig, atomically: true, encoding: .utf8)
        try await APIHarness.importReadings(SyncTests.day(), into: setup.dir)
        let hub = try await SyncTests.startHub(setup)
        defer {
            hub.terminate()
            hub.waitUntilExit()
        }

        let discovery = try await FHIRAPITests.get(
            "http://127.0.0.1:\(setup.hubPort)/fhir/.well-known/smart-configuration", token: nil)
        #expect(
            discovery.json["token_endpoint"] as? String == "http://127.0.0.1:\(setup.hubPort)/auth/token",
            "\(discovery.json)")

        let output = try await SyncTests.sync(setup)
        #expect(output.contains("hub: sent"), "\(output)")
        let alice = try await SyncTests.hubObservations(setup, subject: "alice")
        #expect(alice.count >= 14, "\(alice.count) Observations arrived")
        // The hub's audit log names the client, the same for every token it is given.
        let audit = try String(contentsOfFile: setup.dir + "/hub-data/audit.jsonl", encoding: .utf8)
        #expect(audit.contains("client:home-a"))

        // A gateway whose key is not the registered one: nothing leaves, and the reason is the endpoint's.
        try P384.Signing.PrivateKey().pemRepresentation.write(
            toFile: setup.dir + "/home-a.pem", atomically: true, encoding: .utf8)
        try await APIHarness.importReadings(
            [SyncTests.reading(.heartRate, "alice", atHour: 23, value: 99)], into: setup.dir)
        let refused = try await FHIRAPITests.run(["sync", "--config", setup.homeConfig, "--once"])
        #expect(
            refused.output.contains("invalid_client") && refused.output.contains("does not verify"), "\(refused.output)"
        )
        #expect(try await SyncTests.hubObservations(setup, subject: "alice").count == alice.count)
    }
}
