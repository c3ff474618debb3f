import FHIR
import Foundation
import Provenance
import Testing

@testable import GatewayHTTP
@testable import GatewayRuntime

/// The configuration file: every key read, unknown keys and wrong types named with their line, secrets from the
/// environment or a file.
@Suite struct ConfigurationTests {
    static let example = """
        data_directory: /var/lib/gatewayd
        gateway:
          id: home-pi
          time_zone: Asia/Tokyo
          notification_linger: 2s
        subjects:
          alice: { time_zone: Asia/Tokyo }
          bob: { time_zone: Europe/Berlin }
        devices:
          - { device: "cuff-1", user: 1, subject: alice }
          - { device: "strap-1", subject: bob }
        api:
          listen: 0.0.0.0:8443
          japanese_coding: true
          tokens:
            - name: alice-phone
              secret: { env: ALICE_TOKEN }
              scopes: [patient/*.read@alice]
        sync:
          - name: phr
            url: https://phr.example/fhir/
            token: { env: PHR_TOKEN }
            interval: 30s
            retry: { initial: 2s, maximum: 1h }
            share:
              - subjects: [alice]
                metrics: [blood_pressure, glucose]
              - subjects: "*"
                metrics: heart_rate
                raw: true
        """

    static func parse(
        _ text: String, environment: [String: String] = ["ALICE_TOKEN": "a-secret", "PHR_TOKEN": "p-secret"]
    ) throws(ConfigError) -> GatewayConfiguration {
        try GatewayConfiguration.parse(text, file: "/etc/gatewayd/gatewayd.yaml", environment: environment)
    }

    @Test func theExampleReadsCompletely() throws {
        let configuration = try Self.parse(Self.example)
        #expect(configuration.dataDirectory == "/var/lib/gatewayd")
        #expect(configuration.gatewayID == "home-pi")
        #expect(configuration.notificationLingerSeconds == 2)
        #expect(configuration.zone(for: "bob").identifier == "Europe/Berlin")
        #expect(configuration.zone(for: "carol").identifier == "Asia/Tokyo")
        #expect(configuration.devices.map(\.subject) == ["alice", "bob"])
        #expect(configuration.devices[0].user == 1 && configuration.devices[1].user == nil)
        #expect(configuration.api.listen == "0.0.0.0:8443" && configuration.api.japaneseCoding)
        #expect(configuration.api.tokens.first?.secret == "a-secret")
        #expect(configuration.api.tokens.first?.scopes == [APIToken.Scope(resourceType: "*", subject: "alice")])
        let phr = try #require(configuration.destinations.first)
        #expect(phr.baseURL == "https://phr.example/fhir" && phr.bearerToken == "p-secret")
        #expect(phr.intervalSeconds == 30 && phr.retryInitialSeconds == 2 && phr.retryMaximumSeconds == 3600)
        #expect(phr.allowsSummary(subject: "alice", metric: "bp_systolic"))
        #expect(!phr.allowsSummary(subject: "bob", metric: "bp_systolic"))
        #expect(phr.allowsSummary(subject: "bob", metric: "heart_rate"))
    }

    @Test func anUnknownKeyIsNamedWithItsLine() throws {
        let text = Self.example.replacingOccurrences(of: "  japanese_coding: true", with: "  japanese_codng: true")
        do {
            _ = try Self.parse(text)
            Issue.record("an unknown key was accepted")
        } catch {
            #expect(error.line == 14)
            #expect(error.key == "api.japanese_codng")
            #expect(error.description.contains("gatewayd.yaml:14") && error.description.contains("unknown key"))
        }
    }

    @Test func wrongTypesAndValuesAreNamed() throws {
        let cases: [(String, String, String, Int)] = [
            ("  listen: 0.0.0.0:8443", "  listen: [1, 2]", "api.listen", 13),
            (
                "  - { device: \"cuff-1\", user: 1, subject: alice }",
                "  - { device: \"cuff-1\", user: one, subject: alice }", "devices[0].user", 10
            ),
            (
                "  - { device: \"strap-1\", subject: bob }", "  - { device: \"strap-1\", subject: carol }",
                "devices[1].subject", 11
            ),
            ("  bob: { time_zone: Europe/Berlin }", "  bob: { time_zone: Europe/Berln }", "subjects.bob.time_zone", 8),
            ("        metrics: heart_rate", "        metrics: heart_rat", "sync[0].share[1].metrics", 29),
            ("    interval: 30s", "    interval: soon", "sync[0].interval", 23),
            ("  notification_linger: 2s", "  notification_linger: 2m", "gateway.notification_linger", 5),
        ]
        for (old, new, key, line) in cases {
            let text = Self.example.replacingOccurrences(of: old, with: new)
            #expect(text != Self.example, "case \(key) did not change the text")
            do {
                _ = try Self.parse(text)
                Issue.record("\(key): accepted")
            } catch {
                #expect(error.key == key, "\(error)")
                #expect(error.line == line, "\(error)")
            }
        }
    }

    @Test func secretsComeFromTheEnvironmentOrAFileAndTheirAbsenceIsNamed() throws {
        do {
            _ = try Self.parse(Self.example, environment: ["PHR_TOKEN": "x"])
            Issue.record("a missing environment variable was accepted")
        } catch {
            #expect(error.description.contains("ALICE_TOKEN is not set"))
            #expect(error.key == "api.tokens[0].secret.env")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "from-a-file\n".write(toFile: dir + "/phr.token", atomically: true, encoding: .utf8)
        let text = Self.example.replacingOccurrences(
            of: "token: { env: PHR_TOKEN }", with: "token: { file: phr.token }")
        try text.write(toFile: dir + "/gatewayd.yaml", atomically: true, encoding: .utf8)
        let configuration = try GatewayConfiguration.load(
            path: dir + "/gatewayd.yaml", environment: ["ALICE_TOKEN": "a"])
        #expect(configuration.destinations.first?.bearerToken == "from-a-file")
    }

    @Test func invalidYAMLAndAMissingConsentAreRefused() throws {
        do {
            _ = try Self.parse("data_directory: [unclosed\n")
            Issue.record("invalid YAML was accepted")
        } catch {
            #expect(error.description.contains("not valid YAML"))
        }
        let noShare = Self.example.components(separatedBy: "    share:")[0]
        do {
            _ = try Self.parse(noShare)
            Issue.record("a destination without sharing rules was accepted")
        } catch {
            #expect(error.description.contains("'share' is required"))
        }
    }
}

extension ConfigurationTests {
    /// hw/gatewayd.yaml, the documented example, reads without an error once its credential files exist.
    @Test func theRaspberryPiExampleParses() throws {
        let path = FHIRValidator.packageRoot.appendingPathComponent("hw/gatewayd.yaml").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hwconfig-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["api-alice-phone", "api-family-dashboard", "phr-token"] {
            try "secret-\(name)\n".write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(
            of: "/run/credentials/gatewayd.service", with: dir)
        let configuration = try GatewayConfiguration.parse(text, file: path, environment: [:])
        #expect(configuration.dataDirectory == "/var/lib/gatewayd")
        #expect(configuration.api.tokens.map(\.secret) == ["secret-api-alice-phone", "secret-api-family-dashboard"])
        #expect(configuration.destinations.first?.bearerToken == "secret-phr-token")
        #expect(configuration.devices.count == 3)
        // People as Patients: configured identifiers, and the PHR's own account id of alice.
        let alice = configuration.subjects.first { $0.id == "alice" }?.patient
        #expect(
            alice?.identifiers == [PatientIdentifier(system: "urn:oid:1.2.392.100495.20.3.51.1", value: "12345678")])
        #expect(alice?.name == "Alice Example")
        #expect(
            configuration.destinations.first?.patientIdentifiers["alice"]
                == PatientIdentifier(system: "https://phr.example/account", value: "A-1001"))
    }

    /// An identifier is `system|value` with a URI system; one that is not is named with its key, and an account for
    /// someone who is not a subject too.
    @Test func patientIdentifiersAreCheckedWhereTheyAreWritten() throws {
        let bad = Self.example.replacingOccurrences(
            of: "  bob: { time_zone: Europe/Berlin }",
            with: "  bob: { time_zone: Europe/Berlin, identifiers: [\"12345\"] }")
        let stranger = Self.example.replacingOccurrences(
            of: "    interval: 30s", with: "    interval: 30s\n    patients: { carol: \"urn:example:phr|C-1\" }")
        for (text, key, named) in [
            (bad, "subjects.bob.identifiers[0]", "system|value"), (stranger, "sync[0].patients.carol", "carol"),
        ] {
            #expect(text != Self.example)
            do {
                _ = try Self.parse(text)
                Issue.record("\(key): accepted")
            } catch {
                #expect(error.key == key && "\(error)".contains(named), "\(error)")
            }
        }
    }
}

/// One duration syntax for the configuration and the command line.
@Suite struct DurationTextTests {
    @Test func durationsReadTheSameEverywhere() {
        let cases: [(String, Double?)] = [
            ("500ms", 0.5), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("90", 90), ("1.5s", 1.5),
            ("PT1H", 3600), ("PT15M", 900), ("pt30s", 30), ("P1D", 86400), ("P7D", 604_800),
            ("P1M", nil), ("-5s", nil), ("5 parsecs", nil), ("", nil), ("m", nil),
        ]
        for (text, seconds) in cases { #expect(DurationText.seconds(text) == seconds, "\(text)") }
    }
}
