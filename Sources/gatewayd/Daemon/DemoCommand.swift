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
        let directory = try dir ?? DemoGateway.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let token = DemoGateway.token()
        let configPath = directory + "/gatewayd.yaml"
        try DemoGateway.configurationText(dataDirectory: directory, listen: listen, token: token).write(
            toFile: configPath, atomically: true, encoding: .utf8)
        let configuration = try ConfigurationFile.load(configPath)
        // The guide is the demo's output; modules only speak up about problems.
        let logger = GatewayLogging.bootstrap(level: .warning)
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

    /// Waits for the first readings — a blood pressure and a heart rate, whose notifications wait up to the pipeline's
    /// linger (8 s) to share a batch — then prints commands that show them, with real ids.
    static func printGuide(base: String, token: String, directory: String, configPath: String) async {
        let observationID = await DemoGateway.firstReadings(directory: directory)
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
