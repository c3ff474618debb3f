import FHIR
import Foundation
import StreamEngine

/// The demo gateway's setup (`gatewayd demo`): a new data directory and a configuration in the same file format as
/// /etc/gatewayd/gatewayd.yaml — its simulated devices (the device mix the tests use: a cuff with a reset clock and two
/// users and a visitor, a meter 10 minutes fast with stored records, a thermometer, a pulse oximeter, a CGM, a family
/// scale, two straps), its test people and a token.
package enum DemoGateway {
    package static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gatewayd-demo-" + UUID().uuidString.prefix(8)
        ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The demo's devices, as they would be written in a configuration file.
    package static let fleet = """
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

    package static func configurationText(dataDirectory: String, listen: String, token: String) throws -> String {
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

    /// A random token for the demo's API (printed in its guide).
    package static func token() -> String {
        "demo-" + (0..<12).map { _ in String(format: "%x", Int.random(in: 0..<16)) }.joined()
    }

    /// Waits (up to 15 s) for the demo's first readings — alice's blood pressure and heart rate, whose notifications
    /// wait up to the pipeline's linger (8 s) to share a batch — so the guide can name a real Observation; returns
    /// the blood pressure's id.
    package static func firstReadings(directory: String) async -> String? {
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
        return observationID
    }
}
