import ArgumentParser
import Foundation
import GatewayRuntime

/// `--config FILE` or `--dir DATA`: where a command finds the gateway's data — and, with a configuration, the people's
/// zones and windows, the signing key and the sync destinations. Shared by every command that reads a data directory
/// either way.
struct DataLocationOptions: ParsableArguments {
    @Option(
        help:
            "The configuration file: its data directory, signing key, people's time zones and windows, sync destinations."
    )
    var config: String?

    @Option(help: "Data directory (without --config).")
    var dir: String?

    func validate() throws {
        if config == nil && dir == nil { throw ValidationError("give --config FILE or --dir DATA") }
    }

    /// The configuration of `--config` (nil without it), its errors as the command's.
    func configuration() throws -> GatewayConfiguration? {
        try config.map(ConfigurationFile.load)
    }

    /// The data directory (the configuration's, or `--dir`) and the configuration when there is one.
    func resolve() throws -> (dir: String, configuration: GatewayConfiguration?) {
        let configuration = try configuration()
        guard let dir = configuration?.dataDirectory ?? dir else {
            throw ValidationError("give --config FILE or --dir DATA")
        }
        return (dir, configuration)
    }
}

/// `--config FILE` for the commands that need a configuration (run, sync, pair): loaded once, its errors as the
/// command's.
struct ConfigurationFile: ParsableArguments {
    @Option(help: "The configuration file.")
    var config: String

    func load() throws -> GatewayConfiguration { try Self.load(config) }

    static func load(_ path: String) throws -> GatewayConfiguration {
        do { return try GatewayConfiguration.load(path: path) } catch { throw ValidationError("\(error)") }
    }
}

/// `--tz NAME`: an IANA time zone, checked when the command line is read (`@Option(transform: ZoneArgument.parse)`),
/// so an unknown name is refused there, named, with the option's help.
struct ZoneArgument: CustomStringConvertible {
    var zone: TimeZone

    init(_ zone: TimeZone) { self.zone = zone }

    static func parse(_ text: String) throws -> ZoneArgument {
        guard let zone = TimeZone(identifier: text) else {
            throw ValidationError("'\(text)' is not an IANA time zone name (e.g. Asia/Tokyo, Europe/Berlin)")
        }
        return ZoneArgument(zone)
    }

    static let utc = ZoneArgument(TimeZone(identifier: "UTC") ?? .gmt)
    var description: String { zone.identifier }
    var identifier: String { zone.identifier }
}
