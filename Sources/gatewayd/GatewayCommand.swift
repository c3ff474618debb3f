import ArgumentParser
import GatewayRuntime
import StreamEngine

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatewayd",
        abstract: "A Bluetooth LE health-device gateway with a columnar time-series store.",
        subcommands: [
            DemoCommand.self, RunCommand.self, StoreCommand.self, DecodeCommand.self, SimulateCommand.self,
            ConnectCommand.self, CollectCommand.self, VerifyCommand.self, SummaryCommand.self, StatusCommand.self,
            DevicesCommand.self, ExportCommand.self, QueryCommand.self, ServeCommand.self, SyncCommand.self,
            AuditCommand.self, PairCommand.self, BackupCommand.self, RestoreCommand.self,
        ])

    /// `gatewayd --pair …` is `gatewayd pair …`: the spelling a person is told in the guide.
    static func main() async {
        ProcessMemory.applyPolicy()
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--pair" { arguments[0] = "pair" }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
