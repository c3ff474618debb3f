import ArgumentParser

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatewayd",
        abstract: "A Bluetooth LE health-device gateway with a columnar time-series store.",
        subcommands: [DemoCommand.self, RunCommand.self, StoreCommand.self, DecodeCommand.self, SimulateCommand.self, ConnectCommand.self, CollectCommand.self, VerifyCommand.self, SummaryCommand.self, StatusCommand.self, DevicesCommand.self, ExportCommand.self, QueryCommand.self, ServeCommand.self, SyncCommand.self, AuditCommand.self])
}
