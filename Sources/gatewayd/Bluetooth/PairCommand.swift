import ArgumentParser
import BLEGateway
import Foundation
import GatewayRuntime
import Logging
import Provenance
import StreamEngine

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
            Stop the daemon while pairing (it holds the store). It reconnects paired devices when they advertise.
            """)

    @Option(help: "The configuration file (its bluetooth.controller is the radio used).")
    var config: String

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

    func run() async throws {
        let configuration: GatewayConfiguration
        do { configuration = try GatewayConfiguration.load(path: config) } catch { throw ValidationError("\(error)") }
        let paired = PairedDevices(path: BluetoothSettings.pairedFile(data: configuration.dataDirectory))
        if list {
            for device in try paired.load() {
                let slots = device.userConsents.keys.sorted().map { "\($0)" }.joined(separator: ",")
                print(
                    "\(device.address) (\(device.addressType)) \(device.kind) \(device.name ?? "-") device \(device.deviceKey ?? "-") paired \(device.pairedAt)"
                        + (slots.isEmpty ? "" : " user slots \(slots)"))
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
                "\(config) has no bluetooth: section naming the controller (bluetooth: { controller: hci0 }); or give --controller"
            )
        }
        var mappings = try slotMappings(configuration)
        let givenConsents = try consentCodes()
        let conversation = Conversation(interactive: address == nil && forget == nil)
        var logger = Logger(label: "gatewayd.pair")
        logger.logLevel = .warning
        let capability: IOCapability =
            conversation.interactive ? .keyboardDisplay : (passkeyFile != nil ? .keyboardOnly : .noInputNoOutput)
        let radio: RadioController
        do {
            radio = try await RadioController.open(
                settings: settings, dataDirectory: configuration.dataDirectory, ioCapability: capability, logger: logger
            )
        } catch {
            throw PairingFailure(description: "\(error)")
        }
        defer { radio.close() }
        if radio.bluetoothd.isRunning { conversation.say("Note: \(radio.bluetoothd.advice)") }
        if let forget { return try await self.forget(forget, radio: radio, paired: paired, conversation: conversation) }

        let target = try await chooseDevice(radio: radio, conversation: conversation)
        try await pair(target, radio: radio, ioCapability: capability, conversation: conversation, logger: logger)
        let pipeline = try GatewayPipeline.open(
            directory: configuration.dataDirectory, zone: configuration.defaultZone, zones: configuration.zones,
            testSubjects: configuration.testSubjects,
            key: try configuration.signingKeyFile.map { try GatewayKey.loadOrCreate(at: $0) })
        defer { pipeline.close() }
        // Codes held from an earlier pairing stay (a second person registers on the family scale with a second run).
        let earlier = try paired.load().first { $0.address.uppercased() == "\(target.device.address)".uppercased() }
        let held = (earlier?.userConsents ?? [:]).merging(givenConsents) { $1 }
        let download = try await self.download(
            target, radio: radio, settings: settings, pipeline: pipeline, configuration: configuration,
            userConsents: held, conversation: conversation)
        if let registered = download.registered, let newUser { mappings[registered.slot] = newUser }
        let assigned = try await assign(
            download, mappings: mappings, configuration: configuration, pipeline: pipeline, conversation: conversation)
        try paired.save(
            PairedDevice(
                address: "\(target.device.address)", addressType: target.device.type.identifier,
                kind: target.profile?.id ?? download.kind ?? "unknown",
                name: target.name, deviceKey: download.device.key, pairedAt: Date(), encrypted: true,
                userConsents: held.merging(download.registered.map { [$0.slot: $0.code] } ?? [:]) { $1 }))
        conversation.say(
            "Done: \(target.name ?? "\(target.device.address)") is paired; \(download.readings) reading(s) downloaded"
                + (assigned.isEmpty
                    ? ", held until you say whose they are (gatewayd devices --map)."
                    : " for \(assigned.joined(separator: ", ")).")
                + " `gatewayd run` collects its new readings whenever it advertises.")
    }

    // MARK: Steps

    struct Target: Sendable {
        var device: DeviceAddress
        var name: String?
        var profile: HealthProfile?
    }

    private func chooseDevice(radio: RadioController, conversation: Conversation) async throws -> Target {
        if let address {
            guard let parsed = try? BluetoothAddress(parsing: address) else {
                throw ValidationError("--address '\(address)' is not like 00:AA:01:01:00:01")
            }
            guard let type = BluetoothAddressType(identifier: addressType), type != .brEdr else {
                throw ValidationError("--address-type '\(addressType)' is not le-public or le-random")
            }
            // A quick look for its advertisement, to name it; pairing goes ahead without.
            let heard =
                (try? await HealthDeviceScan.run(
                    radio.management, index: radio.index, seconds: min(scanSeconds, 5),
                    until: { $0.device.address == parsed }, heard: { _, _ in })) ?? []
            let sighting = heard.first { $0.device.address == parsed }
            return Target(
                device: DeviceAddress(parsed, type: sighting?.device.type ?? type), name: sighting?.name,
                profile: sighting?.profile)
        }
        while true {
            conversation.say(
                "Looking for health devices for \(Int(scanSeconds)) s. Put the device in pairing mode (see its manual; often: hold the Bluetooth button until the symbol blinks)."
            )
            let heard = try await HealthDeviceScan.run(radio.management, index: radio.index, seconds: scanSeconds) {
                sighting, isNew in
                conversation.say((isNew ? "  found: " : "  now:   ") + sighting.line)
            }
            if heard.isEmpty {
                conversation.say("No health device found. Is it in pairing mode and within a few metres?")
                guard await conversation.confirm("Look again?") else { throw ExitCode(1) }
                continue
            }
            for (number, sighting) in heard.enumerated() { conversation.say("  \(number + 1). \(sighting.line)") }
            let choice = await conversation.ask(
                "Which one is yours? Type its number (or r to look again):",
                parse: { answer -> Int? in
                    if answer.lowercased() == "r" { return 0 }
                    guard let number = Int(answer), (1...heard.count).contains(number) else { return nil }
                    return number
                }, otherwise: "Please type a number from 1 to \(heard.count), or r.")
            guard let choice else { throw ExitCode(1) }
            if choice == 0 { continue }
            let sighting = heard[choice - 1]
            return Target(device: sighting.device, name: sighting.name, profile: sighting.profile)
        }
    }

    /// `ioCapability` is what the gateway can do here: with a person at the terminal a display and a keyboard (so a
    /// device with a display gets numeric comparison, one with a keypad a passkey); for scripts only what was given.
    private func pair(
        _ target: Target, radio: RadioController, ioCapability: IOCapability, conversation: Conversation, logger: Logger
    ) async throws {
        let passkey = try passkeyFile.map { path -> UInt32 in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                let value = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)), value <= 999_999
            else {
                throw ValidationError("--passkey-file \(path): expected the 6-digit passkey the device shows")
            }
            return value
        }
        let interactive = conversation.interactive
        let acceptComparison = yes
        // Only this controller's prompts, and only about this device: anything else nearby is refused.
        let agent = PairingAgent(management: radio.management, index: radio.index, logger: logger) { prompt in
            guard prompt.device.address == target.device.address else { return .reject }
            switch prompt.request {
            case .confirmation(_, true):
                return .accept
            case .confirmation(let value, false):
                let code = PairingPrompt.sixDigits(value)
                if interactive {
                    return await conversation.confirm("Does the device show \(code)?") ? .accept : .reject
                }
                conversation.say(
                    "The device should show \(code)"
                        + (acceptComparison
                            ? "; accepted (--yes)." : "; refused: run with --yes to accept codes unseen."))
                return acceptComparison ? .accept : .reject
            case .passkeyEntry:
                if let passkey { return .passkey(passkey) }
                if interactive {
                    let typed = await conversation.ask(
                        "Type the 6-digit code the device shows:",
                        parse: { UInt32($0).flatMap { $0 <= 999_999 ? $0 : nil } }, otherwise: "Six digits, please.")
                    return typed.map { .passkey($0) } ?? .reject
                }
                conversation.say("The device asks for a passkey: give it with --passkey-file.")
                return .reject
            case .passkeyDisplay(let passkey, _):
                conversation.say("Type \(PairingPrompt.sixDigits(passkey)) on the device.")
                return .accept
            }
        }
        await agent.start()
        defer { Task { await agent.stop() } }
        conversation.say("Pairing with \(target.name ?? "\(target.device.address)")…")
        do {
            switch try await radio.management.pair(
                address: target.device.address, type: target.device.type, ioCapability: ioCapability, index: radio.index
            ) {
            case .paired: conversation.say("Paired.")
            case .alreadyPaired: conversation.say("Already paired with this gateway.")
            }
        } catch {
            if case .commandFailed(_, _, let status) = error, status == .authenticationFailed || status == .rejected {
                throw PairingFailure(
                    description:
                        "pairing with \(target.device.address) was refused (\(status)): a wrong code, or the device left pairing mode; put it in pairing mode and try again"
                )
            }
            throw PairingFailure(description: "pairing with \(target.device.address) failed: \(error)")
        }
    }

    struct Download: Sendable {
        var device: DeviceRecord
        var readings: Int
        var kind: String?
        /// User slots the readings came from (nil: the device has none).
        var users: [UInt8?]
        /// The user the device registered for this gateway (User Data Service), and its consent code.
        var registered: (slot: UInt8, code: UInt16)?
    }

    private func download(
        _ target: Target, radio: RadioController, settings: BluetoothSettings, pipeline: GatewayPipeline,
        configuration: GatewayConfiguration, userConsents: [UInt8: UInt16], conversation: Conversation
    ) async throws -> Download {
        // The link after pairing lingers a moment; the kernel reuses it or makes a new encrypted one with the bond.
        let bearer: SeqPacketBearer
        do {
            bearer = try await L2CAPSocket.connect(
                local: radio.address, peer: target.device.address,
                peerType: target.device.type == .leRandom ? .leRandom : .lePublic,
                security: .medium, timeout: .seconds(Int64(settings.connectTimeoutSeconds)))
        } catch {
            throw PairingFailure(
                description:
                    "paired, but the encrypted connection to \(target.device.address) failed: \(error). Run `gatewayd pair --address \(target.device.address) …` again while it advertises."
            )
        }
        let progress = DownloadProgress()
        let limit = heartRateReadings
        let timeout = Task {
            try await Task.sleep(for: .milliseconds(Int64(downloadTimeout * 1000)))
            bearer.close()
        }
        defer { timeout.cancel() }
        let mapper = GatewayPipeline.mapperOptions(gatewayID: configuration.gatewayID, zone: configuration.defaultZone)
        // A new user's consent code: four random digits, kept in the paired list (the device asks for it each time).
        let code = UInt16.random(in: UserControlPoint.consentCodes)
        let (registers, asks) = (newUser != nil, conversation.interactive && consents.isEmpty)
        do {
            try await pipeline.collect(
                bearer: bearer, link: "l2cap:\(target.device.address)", zone: configuration.defaultZone, mapper: mapper,
                userConsents: userConsents,
                newUserConsentCode: { _ in
                    if registers { return code }
                    guard asks else { return nil }
                    let register = await conversation.confirm(
                        "This device keeps each person's readings apart (User Data Service). Register a new user on it for this gateway?"
                    )
                    return register ? code : nil
                },
                onDevice: { device in
                    let model = [device.manufacturer, device.model].compactMap { $0 }.joined(separator: " ")
                    conversation.say(
                        "Connected: \(model.isEmpty ? "a device" : model)"
                            + (device.serialNumber.map { ", serial \($0)" } ?? "")
                            + (device.systemID.map { ", System ID \($0)" } ?? ""))
                    progress.device = device
                },
                onEvent: { event in
                    switch event {
                    case .storedRecordCount(let count):
                        progress.expected = count
                        conversation.say("It holds \(count) stored reading(s); downloading…")
                    case .userRegistered(let slot, let code):
                        progress.registered = (slot, code)
                        conversation.say("The device registered user \(slot) for this gateway.")
                    default: break
                    }
                },
                onOutcome: { outcome, reading in
                    switch outcome {
                    case .stored, .quarantined, .duplicate:
                        let (count, expected) = progress.add(reading)
                        // A cuff's pulse rides along with its blood pressure: one line per measurement.
                        guard reading.kind != .pulseRate else { return }
                        conversation.say(
                            "  \(count)\(expected.map { " of \($0)" } ?? ""): \(reading.kind.rawValue) \(Self.describe(reading))"
                        )
                        if reading.kind == .heartRate, count >= limit { bearer.close() }
                    default: break
                    }
                })
        } catch {
            throw PairingFailure(
                description:
                    "paired, but downloading from \(target.device.address) failed: \(error); what arrived is kept")
        }
        guard let device = progress.device else {
            throw PairingFailure(
                description: "the connection to \(target.device.address) ended before the device said what it is")
        }
        return Download(
            device: device, readings: progress.count, kind: progress.kind, users: progress.users,
            registered: progress.registered)
    }

    static func describe(_ reading: Reading) -> String {
        let values = reading.components.map { "\($0.value.quantity.map { "\($0)" } ?? "-") \($0.unit)" }.joined(
            separator: ", ")
        return values + (reading.context.userID.map { " (user \($0))" } ?? "")
    }

    /// Maps the device (or each user slot) to a person and releases the readings held for it.
    private func assign(
        _ download: Download, mappings: [UInt8?: String], configuration: GatewayConfiguration,
        pipeline: GatewayPipeline, conversation: Conversation
    ) async throws -> [String] {
        var chosen = mappings
        if chosen.isEmpty, conversation.interactive {
            let people = configuration.subjects.map(\.id)
            let slots = download.users.compactMap { $0 }.filter { $0 != 0xFF }
            // A user registered now is the one to name; else each slot the readings came from, or the whole device.
            let questions: [UInt8?] =
                download.registered.map { [$0.slot] } ?? (slots.count > 1 ? slots.map { Optional($0) } : [nil])
            for slot in questions {
                let whom = slot.map { "user \($0) of this device" } ?? "this device"
                if !people.isEmpty {
                    conversation.say(
                        "People on this gateway: "
                            + people.enumerated().map { "\($0.offset + 1). \($0.element)" }.joined(separator: "  "))
                }
                let answer = await conversation.ask(
                    "Whose readings does \(whom) take? Type a number or a name (empty: decide later):",
                    parse: { text -> String? in
                        if let number = Int(text), (1...max(people.count, 1)).contains(number), !people.isEmpty {
                            return people[number - 1]
                        }
                        return text
                    }, otherwise: "")
                if let answer, !answer.isEmpty { chosen[slot] = answer }
            }
        }
        // The engine never guesses a user slot from a device-wide mapping (a shared cuff's slots are different
        // people), so "the device is alice's" maps each slot the download showed, as well as the device itself.
        if let whole = chosen[nil] {
            for slot in download.users.compactMap({ $0 }) where slot != 0xFF && chosen[slot] == nil {
                chosen[slot] = whole
            }
        }
        var done: [String] = []
        for (slot, subject) in chosen.sorted(by: { ($0.key ?? 0) < ($1.key ?? 0) }) {
            let released = try await pipeline.engine.mapSubject(
                deviceKey: download.device.key, userID: slot, subject: subject)
            done.append(slot.map { "user \($0) → \(subject)" } ?? subject)
            conversation.say(
                "\(slot.map { "User \($0)" } ?? "The device") belongs to \(subject); \(released) held reading(s) stored for \(subject)."
            )
        }
        return done
    }

    private func slotMappings(_ configuration: GatewayConfiguration) throws -> [UInt8?: String] {
        var result: [UInt8?: String] = [:]
        let known = Set(configuration.subjects.map(\.id))
        func check(_ subject: String, _ option: String) throws {
            guard known.isEmpty || known.contains(subject) else {
                throw ValidationError(
                    "\(option): '\(subject)' is not one of the configuration's subjects (\(known.sorted().joined(separator: ", ")))"
                )
            }
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
        if address != nil, forget == nil, result.isEmpty, newUser == nil {
            throw ValidationError(
                "--address needs --subject (or --user SLOT=SUBJECT, or --new-user SUBJECT): nobody is there to answer whose the device is"
            )
        }
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
        let entry = try paired.load().first { $0.address.uppercased() == "\(address)".uppercased() }
        let type = entry?.deviceAddress?.type ?? .lePublic
        do {
            try await radio.management.unpair(address: address, type: type, index: radio.index)
        } catch {
            throw PairingFailure(description: "the kernel refused to unpair \(address): \(error)")
        }
        let hadKeys = try await radio.bonds.forget(address: address)
        let listed = try paired.remove(address: "\(address)")
        conversation.say(
            hadKeys || listed
                ? "Forgot \(address): keys removed, the gateway no longer connects to it; its readings stay."
                : "\(address) was not paired with this gateway.")
    }
}

/// A pairing step that failed at run time (not a usage error): said plainly, without the usage text.
struct PairingFailure: Error, CustomStringConvertible {
    var description: String
}

/// Counts a download as it goes (callbacks run on the pipeline's tasks).
final class DownloadProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var _device: DeviceRecord?
    private var _expected: Int?
    private var _count = 0
    private var _kind: String?
    private var _users: [UInt8?] = []
    private var _registered: (slot: UInt8, code: UInt16)?

    var device: DeviceRecord? {
        get { lock.withLock { _device } }
        set { lock.withLock { _device = newValue } }
    }
    var expected: Int? {
        get { lock.withLock { _expected } }
        set { lock.withLock { _expected = newValue } }
    }
    var count: Int { lock.withLock { _count } }
    var kind: String? { lock.withLock { _kind } }
    var users: [UInt8?] { lock.withLock { _users } }
    var registered: (slot: UInt8, code: UInt16)? {
        get { lock.withLock { _registered } }
        set { lock.withLock { _registered = newValue } }
    }

    func add(_ reading: Reading) -> (Int, Int?) {
        lock.withLock {
            // A cuff's pulse rides along with its blood pressure: count measurements, not their parts.
            if reading.kind != .pulseRate { _count += 1 }
            // The paired list names the kind as readings do (blood_pressure, glucose, heart_rate).
            if _kind == nil, reading.kind != .pulseRate { _kind = reading.kind.rawValue }
            if !_users.contains(reading.context.userID) { _users.append(reading.context.userID) }
            return (_count, _expected)
        }
    }
}
