import BLEGateway
import Foundation

/// The daemon's pairing as JSON (`/app/api/pairing`), for `gatewayd pair` when it is a client of a running daemon.
package struct PairingStatusMessage: Codable, Sendable {
    package struct Device: Codable, Sendable {
        package var address: String
        package var addressType: String
        package var name: String?
        package var kind: String?
        package var signal: String
    }

    package var version: Int
    package var phase: String
    package var sightings: [Device]
    package var target: Device?
    /// "compare" (yes/no on `code`), "passkey" (type the code the device shows), "show" (type `code` on the device).
    package var question: String?
    package var code: String?
    package var received: Int
    package var expected: Int?
    /// The user slots to say whose ("device" for the whole device).
    package var whose: [String]
    package var registeredSlot: Int?
    package var assigned: [String]
    package var message: String?
    package var log: [String]
    /// Lines ever logged; `log` holds the newest of them.
    package var logCount: Int
    package var startedBy: String?
    package var simulated: Bool
    /// The people a device can be said to be whose (the configuration's).
    package var people: [String]

    package init(_ status: DevicePairing.Status, people: [String]) {
        self.people = people
        func device(_ sighting: Sighting) -> Device {
            Device(
                address: "\(sighting.device.address)", addressType: sighting.device.type.identifier,
                name: sighting.name, kind: sighting.profile?.id, signal: sighting.signal)
        }
        version = status.version
        phase = status.phase.rawValue
        sightings = status.sightings.map(device)
        target = status.target.map(device)
        switch status.question {
        case .confirmation(let value, _)?: (question, code) = ("compare", PairingPrompt.sixDigits(value))
        case .passkeyEntry?: (question, code) = ("passkey", nil)
        case .passkeyDisplay(let passkey, _)?: (question, code) = ("show", PairingPrompt.sixDigits(passkey))
        case nil: (question, code) = (nil, nil)
        }
        received = status.received
        expected = status.expected
        whose = status.whose.map { $0.map(String.init) ?? "device" }
        registeredSlot = status.registeredSlot.map(Int.init)
        assigned = status.assigned.map(\.line)
        message = status.message
        log = status.log
        logCount = status.logCount
        startedBy = status.startedBy
        simulated = status.simulated
    }
}

/// A request to the daemon's pairing; which fields count depends on the action (the path's last part).
package struct PairingRequestMessage: Codable, Sendable {
    package var seconds: Double?
    package var address: String?
    package var addressType: String?
    package var newUser: String?
    /// "device" or a slot number → whose.
    package var whose: [String: String]?
    /// slot number → consent code.
    package var consents: [String: UInt16]?
    /// "keyboard-display", "keyboard-only", "no-input-no-output".
    package var ioCapability: String?
    package var heartRateReadings: Int?
    /// "accept", "reject", or a passkey's six digits.
    package var answer: String?

    package init() {}

    package static let ioCapabilities: [String: IOCapability] = [
        "keyboard-display": .keyboardDisplay, "keyboard-only": .keyboardOnly, "no-input-no-output": .noInputNoOutput,
        "display-yes-no": .displayYesNo,
    ]

    /// The slot mapping (`whose`) as the pairing takes it; nil names a bad key.
    package static func mappings(_ whose: [String: String]) -> [UInt8?: String]? {
        var result: [UInt8?: String] = [:]
        for (key, subject) in whose where !subject.isEmpty {
            if key == "device" {
                result[nil] = subject
            } else if let slot = UInt8(key), slot != 0xFF {
                result[slot] = subject
            } else {
                return nil
            }
        }
        return result
    }

    /// The answer as the pairing takes it; nil when it is neither yes, no nor six digits.
    package static func answer(_ text: String) -> PairingAnswer? {
        switch text {
        case "accept": return .accept
        case "reject": return .reject
        default:
            guard text.count == 6, let value = UInt32(text), value <= 999_999 else { return nil }
            return .passkey(value)
        }
    }
}

/// One step of a pairing, from wherever it is asked (the JSON API, `gatewayd pair` in process or as a client).
package protocol PairingDriver: Sendable {
    /// The status once its version is past `version` (or after a while with no change).
    func status(after version: Int) async throws -> PairingStatusMessage
    /// scan, choose, answer, whose or cancel; the status after it.
    func post(_ action: String, _ message: PairingRequestMessage) async throws -> PairingStatusMessage
}

extension PairingClient: PairingDriver {}

/// `gatewayd pair` on a stopped gateway: the same pairing, in this process, on a radio and store it opened itself.
package struct LocalPairingDriver: PairingDriver {
    package let pairing: DevicePairing
    package let caller: String

    package init(pairing: DevicePairing, caller: String) { (self.pairing, self.caller) = (pairing, caller) }

    private var people: [String] { pairing.configuration.subjects.map(\.id) }

    package func status(after version: Int) async throws -> PairingStatusMessage {
        PairingStatusMessage(await pairing.changes(after: version), people: people)
    }

    package func post(_ action: String, _ message: PairingRequestMessage) async throws -> PairingStatusMessage {
        do {
            _ = try await pairing.perform(action, message, caller: caller)
        } catch {
            throw PairingFailure(description: "\(error)")
        }
        return PairingStatusMessage(await pairing.status(), people: people)
    }
}

extension DevicePairing {
    /// Does one step as a request message asks; returns the people it names (for the audit log).
    package func perform(_ action: String, _ message: PairingRequestMessage, caller: String) async throws(RequestError)
        -> [String]
    {
        switch action {
        case "scan":
            try scan(seconds: min(max(message.seconds ?? 10, 1), 120), caller: caller)
            return []
        case "choose":
            var choice = Choice(address: message.address ?? "", addressType: message.addressType, caller: caller)
            choice.newUser = message.newUser
            guard let mappings = PairingRequestMessage.mappings(message.whose ?? [:]) else {
                throw RequestError(description: "whose: keys are \"device\" or a user slot number")
            }
            choice.mappings = mappings
            for (slot, code) in message.consents ?? [:] {
                guard let slot = UInt8(slot), UserControlPoint.consentCodes.contains(code) else {
                    throw RequestError(description: "consents: a user slot and a code from 0 to 9999")
                }
                choice.consents[slot] = code
            }
            if let text = message.ioCapability {
                guard let capability = PairingRequestMessage.ioCapabilities[text] else {
                    throw RequestError(description: "io_capability '\(text)' is not known")
                }
                choice.ioCapability = capability
            }
            choice.heartRateReadings = message.heartRateReadings ?? 5
            try choose(choice)
            return (mappings.values.map { $0 } + [message.newUser].compactMap { $0 }).sorted()
        case "answer":
            guard let answer = PairingRequestMessage.answer(message.answer ?? "") else {
                throw RequestError(description: "answer: \"accept\", \"reject\" or six digits")
            }
            try self.answer(answer)
            return []
        case "whose":
            guard let mappings = PairingRequestMessage.mappings(message.whose ?? [:]) else {
                throw RequestError(description: "whose: keys are \"device\" or a user slot number")
            }
            try whose(mappings)
            return mappings.values.sorted()
        case "cancel":
            cancel()
            return []
        default:
            throw RequestError(description: "no pairing action '\(action)' (scan, choose, answer, whose, cancel)")
        }
    }
}
