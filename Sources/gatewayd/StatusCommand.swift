import ArgumentParser
import Foundation
import GatewayRuntime

/// `gatewayd status`: the health of the flow per device and of the data directory, from what is on disk.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "Devices (last contact, readings received vs expected, clock offset), quarantine, store size and bytes/sample."
    )

    @OptionGroup var location: DataLocationOptions

    @Option(help: "IANA time zone for the times shown.", transform: ZoneArgument.parse)
    var tz = ZoneArgument.utc

    func run() throws {
        let zone = tz.zone
        let (dir, configuration) = try location.resolve()
        try NoGatewayData.check(dir)
        for line in try GatewayStatusReport(dir: dir, configuration: configuration, zone: zone).lines() {
            print(line)
        }
    }
}
