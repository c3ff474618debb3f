import ArgumentParser
import BLEGateway
import Foundation
import GatewayRuntime

/// `gatewayd pair` talking with a person (or a script) while a pairing runs — in this process or in the running
/// daemon, through the same steps (`PairingDriver`): scan and pick, answer the device's question, say whose it is.
struct PairingConversation {
    var conversation: Conversation
    var address: String?
    var addressType: String
    var newUser: String?
    var passkey: UInt32?
    var acceptComparison: Bool
    var scanSeconds: Double
    var heartRateReadings: Int

    /// What the gateway can do here: with a person at the terminal a display and a keyboard (a device with a display
    /// gets numeric comparison, one with a keypad a passkey); for scripts only what was given.
    static func capability(interactive: Bool, passkey: UInt32?) -> IOCapability {
        interactive ? .keyboardDisplay : (passkey != nil ? .keyboardOnly : .noInputNoOutput)
    }

    func run(_ driver: some PairingDriver, mappings: [UInt8?: String], consents: [UInt8: UInt16]) async throws {
        var printed = 0
        let picked = try await pick(driver, printed: &printed)
        var request = PairingRequestMessage()
        request.address = picked.address
        request.addressType = picked.addressType
        request.newUser = newUser
        // A family scale keeps each person's readings apart: register a new user on it for someone (asked here, as
        // the page asks beside the device).
        if newUser == nil, consents.isEmpty, conversation.interactive,
            ["weight_scale", "body_composition"].contains(picked.kind ?? "")
        {
            let answer = await conversation.ask(
                "This device keeps each person's readings apart. Register a new user on it for whom? (a name; empty: no)"
            )
            if let answer, !answer.isEmpty { request.newUser = answer }
        }
        request.whose = Dictionary(
            uniqueKeysWithValues: mappings.map { ($0.key.map(String.init) ?? "device", $0.value) })
        request.consents = Dictionary(uniqueKeysWithValues: consents.map { (String($0.key), $0.value) })
        let capability = Self.capability(interactive: conversation.interactive, passkey: passkey)
        request.ioCapability = PairingRequestMessage.ioCapabilities.first { $0.value == capability }?.key
        request.heartRateReadings = heartRateReadings
        var current = try await driver.post("choose", request)
        var answered = -1
        while true {
            printed = say(current, after: printed)
            switch current.phase {
            case "question" where current.version != answered && current.question != "show":
                answered = current.version
                var answer = PairingRequestMessage()
                answer.answer = await self.answer(current)
                current = try await driver.post("answer", answer)
                continue
            case "whose" where current.version != answered:
                answered = current.version
                var whose = PairingRequestMessage()
                whose.whose = await self.whose(current)
                current = try await driver.post("whose", whose)
                continue
            case "done":
                return
            case "failed":
                throw PairingFailure(description: current.message ?? "pairing failed")
            case "idle", "unavailable":
                throw PairingFailure(description: current.message ?? "the pairing was stopped")
            default:
                break
            }
            current = try await driver.status(after: current.version)
        }
    }

    struct Picked {
        var address: String
        var addressType: String?
        var kind: String?
    }

    /// The device to pair: the one given (looked for briefly, to learn its name and address type), or the one a
    /// person picks from a live scan.
    private func pick(_ driver: some PairingDriver, printed: inout Int) async throws -> Picked {
        if let address {
            guard let parsed = try? BluetoothAddress(parsing: address) else {
                throw PairingFailure(description: "--address '\(address)' is not like 00:AA:01:01:00:01")
            }
            guard let type = BluetoothAddressType(identifier: addressType), type != .brEdr else {
                throw PairingFailure(description: "--address-type '\(addressType)' is not le-public or le-random")
            }
            var scan = PairingRequestMessage()
            scan.seconds = min(scanSeconds, 5)
            var status = try await driver.post("scan", scan)
            while status.phase == "scanning",
                !status.sightings.contains(where: { $0.address.uppercased() == "\(parsed)".uppercased() })
            {
                status = try await driver.status(after: status.version)
            }
            let heard = status.sightings.first { $0.address.uppercased() == "\(parsed)".uppercased() }
            return Picked(address: "\(parsed)", addressType: heard?.addressType ?? type.identifier, kind: heard?.kind)
        }
        while true {
            conversation.say(
                "Looking for health devices for \(Int(scanSeconds)) s. Put the device in pairing mode (see its manual; often: hold the Bluetooth button until the symbol blinks)."
            )
            var scan = PairingRequestMessage()
            scan.seconds = scanSeconds
            var status = try await driver.post("scan", scan)
            var shown: [String: String] = [:]
            while true {
                for device in status.sightings {
                    let line = Self.line(device)
                    if shown[device.address] != line {
                        conversation.say((shown[device.address] == nil ? "  found: " : "  now:   ") + line)
                        shown[device.address] = line
                    }
                }
                if status.phase != "scanning" { break }
                status = try await driver.status(after: status.version)
            }
            printed = status.logCount
            if status.phase == "failed" { throw PairingFailure(description: status.message ?? "scanning failed") }
            let heard = status.sightings
            if heard.isEmpty {
                conversation.say("No health device found. Is it in pairing mode and within a few metres?")
                guard await conversation.confirm("Look again?") else { throw ExitCode(1) }
                continue
            }
            for (number, device) in heard.enumerated() { conversation.say("  \(number + 1). \(Self.line(device))") }
            let choice = await conversation.ask(
                "Which one is yours? Type its number (or r to look again):",
                parse: { answer -> Int? in
                    if answer.lowercased() == "r" { return 0 }
                    guard let number = Int(answer), (1...heard.count).contains(number) else { return nil }
                    return number
                }, otherwise: "Please type a number from 1 to \(heard.count), or r.")
            guard let choice else { throw ExitCode(1) }
            if choice == 0 { continue }
            let device = heard[choice - 1]
            return Picked(address: device.address, addressType: device.addressType, kind: device.kind)
        }
    }

    static func line(_ device: PairingStatusMessage.Device) -> String {
        Sighting.line(
            name: device.name, profile: device.kind.flatMap { id in HealthProfile.all.first { $0.id == id } },
            address: device.address, signal: device.signal)
    }

    /// Prints the pairing's new progress lines; returns how many have been printed.
    private func say(_ status: PairingStatusMessage, after printed: Int) -> Int {
        let new = status.logCount - printed
        for line in status.log.suffix(max(0, min(new, status.log.count))) { conversation.say(line) }
        return status.logCount
    }

    private func answer(_ status: PairingStatusMessage) async -> String {
        let interactive = conversation.interactive
        switch status.question {
        case "compare":
            if interactive {
                return await conversation.confirm("Is that the code on the device?") ? "accept" : "reject"
            }
            conversation.say(
                acceptComparison ? "Accepted (--yes)." : "Refused: run with --yes to accept codes unseen.")
            return acceptComparison ? "accept" : "reject"
        default:
            if let passkey { return PairingPrompt.sixDigits(passkey) }
            if interactive {
                let typed = await conversation.ask(
                    "Type the 6-digit code the device shows:",
                    parse: { UInt32($0).flatMap { $0 <= 999_999 ? $0 : nil } }, otherwise: "Six digits, please.")
                return typed.map(PairingPrompt.sixDigits) ?? "reject"
            }
            conversation.say("The device asks for a passkey: give it with --passkey-file.")
            return "reject"
        }
    }

    /// Whose each slot is, asked of the person; nobody to ask (a script): decided later.
    private func whose(_ status: PairingStatusMessage) async -> [String: String] {
        guard conversation.interactive else { return [:] }
        var result: [String: String] = [:]
        for slot in status.whose {
            let whom = slot == "device" ? "this device" : "user \(slot) of this device"
            let people = status.people
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
            if let answer, !answer.isEmpty { result[slot] = answer }
        }
        return result
    }
}
