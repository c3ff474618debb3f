import ArgumentParser
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine
import TimeSeries

/// `gatewayd devices`: the devices a data directory knows, and whose readings each (user slot) takes.
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List devices and their subject mappings; map a device (user slot) to a person; forget a mapping.",
        discussion: """
            gatewayd devices --dir DATA                                  # list
            gatewayd devices --dir DATA --map 00-1B-C5-00-00-00-04-17#2=bob  # releases bob's quarantined readings
            gatewayd devices --dir DATA --forget 00-1B-C5-00-00-00-04-17#2   # new readings of that slot are held again
            Mappings in the configuration file are applied again by `gatewayd run` at every start.
            """)

    @Option(help: "Data directory.")
    var dir: String

    @Option(help: "DEVICE[#USER]=SUBJECT: map a device (or a cuff's user slot) to a person.")
    var map: [String] = []

    @Option(help: "DEVICE[#USER]: forget that mapping (stored readings stay with their person).")
    var forget: [String] = []

    func run() async throws {
        try NoGatewayData.check(dir)
        let archive = try ReadingArchive(path: dir + "/engine.sqlite")
        if !map.isEmpty {
            // Through the engine, so quarantined readings are released into the store and ledger.
            let pipeline = try GatewayPipeline.open(directory: dir, zone: .gmt)
            defer { pipeline.close() }
            for text in map {
                let mapping = try SubjectMappingArgument.parse(text)
                let released = try await pipeline.engine.mapSubject(
                    deviceKey: mapping.device, userID: mapping.user, subject: mapping.subject)
                print("mapped \(text)" + (released > 0 ? "; released \(released) quarantined reading(s)" : ""))
            }
        }
        for text in forget {
            let parts = text.split(separator: "#", maxSplits: 1).map(String.init)
            guard let device = parts.first, !device.isEmpty else {
                throw ValidationError("--forget '\(text)': expected DEVICE[#USER]")
            }
            var user: UInt8?
            if parts.count == 2 {
                guard let parsed = UInt8(parts[1]), parsed != 0xFF else {
                    throw ValidationError("--forget '\(text)': USER is 0…254")
                }
                user = parsed
            }
            try archive.forgetSubjectMapping(deviceKey: device, userID: user)
            print("forgot \(text)")
        }
        let mappings = try archive.subjectMappings()
        let health = try archive.deviceHealth()
        var rows: [[String]] = [["device", "model", "user", "subject", "last contact", "quarantined"]]
        var listed: Set<String> = []
        for device in health {
            let model = [device.device.manufacturer, device.device.model].compactMap { $0 }.joined(separator: " ")
            let mine = mappings.filter { $0.deviceKey == device.device.key }
            listed.insert(device.device.key)
            let last = TimeFormat.iso8601(device.lastContactMicros, timeZone: .gmt)
            if mine.isEmpty {
                rows.append([device.device.key, model, "-", "(unmapped)", last, String(device.quarantined)])
            }
            for mapping in mine {
                rows.append([
                    device.device.key, model, mapping.userID.map(String.init) ?? "-", mapping.subject, last,
                    String(device.quarantined),
                ])
            }
        }
        for mapping in mappings where !listed.contains(mapping.deviceKey) {
            rows.append([
                mapping.deviceKey, "(not seen yet)", mapping.userID.map(String.init) ?? "-", mapping.subject, "-", "-",
            ])
        }
        print(rows.count > 1 ? TextTable.aligned(rows) : "no devices and no mappings yet")
    }
}
