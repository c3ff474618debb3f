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
            let slot = try DeviceSlotArgument.parse(text, option: "--forget")
            try archive.forgetSubjectMapping(deviceKey: slot.device, userID: slot.user)
            print("forgot \(text)")
        }
        print(try DeviceListReport.text(archive))
    }
}
