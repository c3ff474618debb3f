import ArgumentParser
import BLEGateway
import Foundation
import GatewayRuntime
import Logging
import Provenance
import StreamEngine
import TimeSeries

/// `gatewayd pair` (also `gatewayd --pair`): adds a Bluetooth health device to the gateway, guided for a person
/// who is not technical — scan, pick, pair, see what the device is, say whose it is, download what it holds.
struct PairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pair",
        abstract: "Pair a Bluetooth health device: scan, pick, pair, say whose it is, download its stored readings.",
        discussion: """
            Interactive:      gatewayd pair --config /etc/gatewayd/gatewayd.yaml
            For scripts:      gatewayd pair --config F --address 00:AA:01:01:00:01 --subject alice [--passkey-file F]
            A two-user cuff:  gatewayd pair --config F --address A --user 1=alice --user 2=bob
            A family scale:   gatewayd pair --config F --address A --new-user alice   (again later: --new-user bob)
            Remove a device:  gatewayd pair --config F --forget 00:AA:01:01:00:01
            The readings are downloaded before the question "whose is it?" is asked, because a device waits for each
            reading to be confirmed and gives up after 30 s; until then they are held (durably) in quarantine.
            While the daemon runs (it holds the radio and the store) this command asks the daemon to pair, through its
            API on loopback with a token of the configuration that may pair (system/Device.write) — the same pairing
            as the page /app/pair. It collects from the new device whenever it advertises.
            """)

    /// Its bluetooth.controller is the radio used.
    @OptionGroup var file: ConfigurationFile

    @Option(help: "Use this controller instead of bluetooth.controller (hci0, hci1, …).")
    var controller: String?

    @Option(help: "Pair this device without scanning (non-interactive).")
    var address: String?

    @Option(help: "Its address type: le-public or le-random.")
    var addressType = "le-public"

    @Option(help: "Whose readings the device takes (all user slots).")
    var subject: String?

    @Option(name: .customLong("user"), help: "SLOT=SUBJECT: whose a multi-user cuff's user slot is (repeatable).")
    var users: [String] = []

    @Option(
        help: """
            A multi-user scale or cuff (User Data Service): register a new user on the device for this person, under a \
            consent code the gateway keeps.
            """)
    var newUser: String?

    @Option(
        name: .customLong("consent"),
        help: "SLOT=CODE: the consent code of a user already registered on the device, e.g. by its app (repeatable).")
    var consents: [String] = []

    @Option(help: "A file holding the 6-digit passkey the device shows (for devices that ask for one).")
    var passkeyFile: String?

    @Flag(help: "Accept a numeric-comparison code without asking (non-interactive).")
    var yes = false

    @Option(help: "How long to scan for devices, in seconds.")
    var scanSeconds: Double = 10

    @Option(help: "Give up downloading after this many seconds.")
    var downloadTimeout: Double = 120

    @Option(help: "Heart-rate straps stream forever: stop after this many readings.")
    var heartRateReadings = 5

    @Option(help: "Remove this device: its keys (gateway and kernel) and its entry; its readings stay.")
    var forget: String?

    @Flag(help: "List the paired devices and exit.")
    var list = false

    func validate() throws {
        if address != nil, forget == nil, subject == nil, users.isEmpty, newUser == nil {
            throw ValidationError(
                "--address needs --subject (or --user SLOT=SUBJECT, or --new-user SUBJECT): nobody is there to answer whose the device is"
            )
        }
        _ = try consentCodes()
    }

    func run() async throws {
        let configuration = try file.load()
        let paired = PairedDevices(path: BluetoothSettings.pairedFile(data: configuration.dataDirectory))
        if list {
            for device in try paired.load() { print(device.line) }
            return
        }
        let mappings = try slotMappings(configuration)
        let consents = try consentCodes()
        let conversation = Conversation(interactive: address == nil && forget == nil)
        let passkey = try passkeyFromFile()
        if forget == nil, TimeSeriesStore.isOpenElsewhere(directory: configuration.dataDirectory + "/store") {
            conversation.say("The gateway is running: it pairs the device itself (as on its page /app/pair).")
            let client = try PairingClient.forDaemon(configuration)
            do {
                try await talk(conversation, passkey: passkey).run(
                    client, mappings: mappings, consents: consents)
                await client.shutdown()
            } catch {
                await client.shutdown()
                throw error
            }
            return
        }
        var settings = configuration.bluetooth ?? BluetoothSettings(controller: 0)
        if let controller {
            guard let index = BluetoothSettings.controllerIndex(controller) else {
                throw ValidationError("--controller '\(controller)' is not like hci0")
            }
            settings.controller = index
        } else if configuration.bluetooth == nil {
            throw ValidationError(
                "\(file.config) has no bluetooth: section naming the controller (bluetooth: { controller: hci0 }); or give --controller"
            )
        }
        var logger = Logger(label: "gatewayd.pair")
        logger.logLevel = .warning
        let radio: RadioController
        do {
            radio = try await RadioController.open(
                settings: settings, dataDirectory: configuration.dataDirectory,
                ioCapability: PairingConversation.capability(interactive: conversation.interactive, passkey: passkey),
                logger: logger)
        } catch {
            throw PairingFailure(description: "\(error)")
        }
        defer { radio.close() }
        if radio.bluetoothd.isRunning { conversation.say("Note: \(radio.bluetoothd.advice)") }
        if let forget { return try await self.forget(forget, radio: radio, paired: paired, conversation: conversation) }
        try await LocalPairing.run(
            radio: radio, configuration: configuration, settings: settings,
            downloadTimeout: .milliseconds(Int64(downloadTimeout * 1000)), caller: "gatewayd pair", logger: logger
        ) { driver in
            try await talk(conversation, passkey: passkey).run(driver, mappings: mappings, consents: consents)
        }
    }

    private func talk(_ conversation: Conversation, passkey: UInt32?) -> PairingConversation {
        PairingConversation(
            conversation: conversation, address: address, addressType: addressType, newUser: newUser,
            passkey: passkey, acceptComparison: yes, scanSeconds: scanSeconds, heartRateReadings: heartRateReadings)
    }

    private func passkeyFromFile() throws -> UInt32? {
        try passkeyFile.map { path -> UInt32 in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                let value = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)), value <= 999_999
            else {
                throw ValidationError("--passkey-file \(path): expected the 6-digit passkey the device shows")
            }
            return value
        }
    }

    private func slotMappings(_ configuration: GatewayConfiguration) throws -> [UInt8?: String] {
        var result: [UInt8?: String] = [:]
        func check(_ subject: String, _ option: String) throws {
            if let problem = configuration.unknownSubject(subject) { throw ValidationError("\(option): \(problem)") }
        }
        if let subject {
            try check(subject, "--subject")
            result[nil] = subject
        }
        for text in users {
            let sides = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard sides.count == 2, let slot = UInt8(sides[0]), slot != 0xFF, !sides[1].isEmpty else {
                throw ValidationError("--user '\(text)': expected SLOT=SUBJECT, e.g. 1=alice")
            }
            try check(sides[1], "--user")
            result[slot] = sides[1]
        }
        if let newUser { try check(newUser, "--new-user") }
        return result
    }

    private func consentCodes() throws -> [UInt8: UInt16] {
        var result: [UInt8: UInt16] = [:]
        for text in consents {
            let sides = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard sides.count == 2, let slot = UInt8(sides[0]), slot != 0xFF, let code = UInt16(sides[1]),
                UserControlPoint.consentCodes.contains(code)
            else {
                throw ValidationError("--consent '\(text)': expected SLOT=CODE with a code from 0 to 9999, e.g. 1=0042")
            }
            result[slot] = code
        }
        return result
    }

    private func forget(_ text: String, radio: RadioController, paired: PairedDevices, conversation: Conversation)
        async throws
    {
        guard let address = try? BluetoothAddress(parsing: text) else {
            throw ValidationError("--forget '\(text)' is not like 00:AA:01:01:00:01")
        }
        let forgotten = try await radio.forget(address, paired: paired)
        conversation.say(
            forgotten
                ? "Forgot \(address): keys removed, the gateway no longer connects to it; its readings stay."
                : "\(address) was not paired with this gateway.")
    }
}
