import ArgumentParser
import BLEGateway
import FHIR
import Foundation
import GatewayRuntime
import Logging
import Provenance
import StreamEngine

/// `gatewayd demo`: the whole gateway on a fresh machine with no radio and no configuration — simulated devices
/// speaking real ATT, the durable pipeline, the FHIR API on loopback — and a short guide of what to try.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            "Run a demo gateway: simulated devices of every profile, the full pipeline, the FHIR API on loopback.",
        discussion: """
            Everything lives in a new temporary data directory (printed; kept afterwards so you can look). The devices: a \
            blood-pressure cuff with users alice and bob (and a visitor's readings, whose nobody has said yet) whose clock \
            was reset by a battery change, a glucose meter with \
            stored records and a clock 10 minutes fast, bob's thermometer, alice's pulse oximeter and CGM, a scale with body \
            composition for both, and two heart-rate straps sending RR intervals. \
            Stop with Ctrl-C.
            """)

    @Option(help: "HOST:PORT for the FHIR API.")
    var listen = "127.0.0.1:8080"

    @Option(help: "Stop by itself after this many seconds (default: run until Ctrl-C).")
    var seconds: Double?

    @Option(help: "Data directory (default: a new temporary one).")
    var dir: String?

    func run() async throws {
        let directory = try dir ?? Self.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let token = "demo-" + (0..<12).map { _ in String(format: "%x", Int.random(in: 0..<16)) }.joined()
        let configPath = directory + "/gatewayd.yaml"
        try Self.configurationText(dataDirectory: directory, listen: listen, token: token).write(
            toFile: configPath, atomically: true, encoding: .utf8)
        let configuration: GatewayConfiguration
        do { configuration = try GatewayConfiguration.load(path: configPath) } catch {
            throw ValidationError("\(error)")
        }
        // The guide is the demo's output; modules only speak up about problems.
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        var logger = Logger(label: "gatewayd")
        logger.logLevel = .warning
        FileHandleOutput.standardOutput(
            """
            gatewayd demo — data directory \(directory) (its configuration: \(configPath))
            Starting: a BP cuff (users 1 = alice, 2 = bob, 3 = a visitor nobody has named; its clock was reset to 2000 by a
            battery change), a glucose meter
            (8 stored records, clock 10 min fast), a thermometer (bob), a pulse oximeter and a CGM (alice), a scale
            (users 1 = alice, 2 = bob), two HR straps (alice, bob). All speak real ATT to the gateway's GATT client.
            """)
        let base = "http://\(listen)/fhir"
        var daemon = GatewayDaemon(configuration: configuration, logger: logger) {
            await Self.printGuide(base: base, token: token, directory: directory, configPath: configPath)
        }.withHTTP()
        daemon.stopAfter = seconds.map { .seconds($0) }
        // A second cuff in pairing mode, to pair from the page; this terminal is its display.
        daemon.simulatedPairing = SimulatedPairingRadio.demo { name, code in
            FileHandleOutput.standardOutput("(simulated) \(name) shows \(code) while it pairs")
        }
        try await daemon.run()
        FileHandleOutput.standardOutput("gatewayd demo stopped; the data stays in \(directory)")
    }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gatewayd-demo-" + UUID().uuidString.prefix(8)
        ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The demo's devices, as they would be written in a configuration file.
    static let fleet = """
        simulated_devices:
          - { kind: blood_pressure, name: cuff, users: [1, 2, 3], stored_readings: 6, battery_changed: true, measure_every: 20s, seed: 7 }
          - { kind: glucose, name: meter, stored_readings: 8, clock_offset: 600s, measure_every: 45s, seed: 11 }
          - { kind: health_thermometer, name: thermometer, stored_readings: 4, measure_every: 30s, seed: 13 }
          - { kind: pulse_oximeter, name: oximeter, stored_readings: 5, measure_every: 40s, seed: 17 }
          - { kind: weight_scale, name: scale, users: [1, 2], stored_readings: 4, measure_every: 50s, seed: 19, user_data: true }
          - { kind: cgm, name: sensor, stored_readings: 36, measure_every: 30s, seed: 23 }
          - { kind: heart_rate, name: strap-alice, notify_every: 1s, seed: 3 }
          - { kind: heart_rate, name: strap-bob, notify_every: 1s, seed: 5 }
        """

    static func configurationText(dataDirectory: String, listen: String, token: String) throws -> String {
        let specs = try GatewayConfiguration.parse("data_directory: .\n" + fleet, file: "(demo)", environment: [:])
            .simulatedDevices
        func key(_ name: String) -> String { specs.first { $0.name == name }.map(SimulatedFleet.deviceKey) ?? name }
        return """
            # Written by `gatewayd demo`: the same file format as /etc/gatewayd/gatewayd.yaml (README, "Configuration").
            data_directory: \(dataDirectory)
            gateway: { id: demo-gateway, signing_key_file: gateway.key, time_zone: Asia/Tokyo }
            # The demo's people are test people: their readings come from simulated devices (test data, HTEST), and
            # their summaries are made of that test data and say so.
            subjects:
              alice: { time_zone: Asia/Tokyo, test: true }
              bob: { time_zone: Asia/Tokyo, test: true }
            devices:
              - { device: "\(key("cuff"))", user: 1, subject: alice }
              - { device: "\(key("cuff"))", user: 2, subject: bob }
              - { device: "\(key("meter"))", subject: alice }
              - { device: "\(key("thermometer"))", subject: bob }
              - { device: "\(key("oximeter"))", subject: alice }
              - { device: "\(key("sensor"))", subject: alice }
              - { device: "\(key("scale"))", user: 1, subject: alice }
              - { device: "\(key("scale"))", user: 2, subject: bob }
              - { device: "\(key("strap-alice"))", subject: alice }
              - { device: "\(key("strap-bob"))", subject: bob }
            api:
              listen: \(listen)
              tokens:
                - { name: demo, secret: \(token), scopes: [system/*.read, system/Device.write] }
            \(fleet)
            """
    }

    /// Waits for the first readings — a blood pressure and a heart rate, whose notifications wait up to the pipeline's
    /// linger (8 s) to share a batch — then prints commands that show them, with real ids.
    static func printGuide(base: String, token: String, directory: String, configPath: String) async {
        let archive = try? ReadingArchive(path: directory + "/engine.sqlite")
        var observationID: String?
        for _ in 0..<150 {
            if observationID == nil,
                let reading = try? archive?.newestReadings(subject: "alice", kind: .bloodPressure, limit: 1).first,
                let identity = reading.identity
            {
                observationID = ResourceIDs.observation(identity, of: reading)
            }
            let heartRate =
                (try? archive?.newestReadings(subject: "alice", kind: .heartRate, limit: 1).isEmpty == false) ?? false
            if observationID != nil, heartRate { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        let auth = "-H 'Authorization: Bearer \(token)'"
        let today = DateText.localDay(Date(), zone: TimeZone(identifier: "Asia/Tokyo") ?? .gmt)
        FileHandleOutput.standardOutput(
            """

            The pages are at http://\(base.dropFirst(7).split(separator: "/").first ?? "")/app — sign in with the token \(token)
            (what needs attention: the cuff's reset clock, the visitor's readings waiting for a person). Pair a new cuff
            (simulated, in pairing mode) at /app/pair: the six digits it shows are printed here.

            The FHIR API is up at \(base) (every request needs the token; every read is audited). Try:

              # alice's newest readings (blood pressure, glucose with meal context, heart rate with RR intervals)
              curl -s \(auth) '\(base)/Observation?subject=alice&_sort=-date&_count=5'
              # her heart rate today, hour by hour in Tokyo time, exact averages (doubtful readings excluded and counted)
              curl -s \(auth) '\(base)/Observation/$stats?subject=alice&code=http://loinc.org|8867-4&period=\(today)/\(today)&statistic=average,minimum,maximum,count&interval=PT1H'
              # the newest reading of each kind
              curl -s \(auth) '\(base)/Observation/$lastn?subject=alice&max=1'
            """)
        if let observationID {
            FileHandleOutput.standardOutput(
                """
                  # where a blood pressure came from: devices, the clock correction (the cuff's clock said 2000), the signed ledger entry
                  curl -s \(auth) '\(base)/Provenance?target=Observation/\(observationID)'
                """)
        }
        FileHandleOutput.standardOutput(
            """
              # the devices (PhdDevice per sensor, PhgDevice for this gateway)
              curl -s \(auth) '\(base)/Device'
              # metrics for Prometheus
              curl -s \(auth) 'http://\(base.dropFirst(7).split(separator: "/").first ?? "")/metrics' | grep gatewayd_
              # who read what (run in another terminal), the gateway's health, the ledger's integrity
              gatewayd audit --dir \(directory)
              gatewayd status --config \(configPath) --tz Asia/Tokyo
              gatewayd verify --dir \(directory) --public-key \(directory)/gateway.key.pub

            Stop with Ctrl-C.
            """)
    }
}
