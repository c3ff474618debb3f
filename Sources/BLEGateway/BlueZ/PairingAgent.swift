import Logging
import Metrics

/// A pairing question the kernel put to user space.
public struct PairingPrompt: Equatable, Sendable, CustomStringConvertible {
    public enum Request: Equatable, Sendable {
        /// User Confirmation Request. `justWorks` (Confirm_Hint 1): a plain yes/no; otherwise numeric comparison
        /// of `value` (six digits shown on both sides).
        case confirmation(value: UInt32, justWorks: Bool)
        /// User Passkey Request: type the passkey the device shows.
        case passkeyEntry
        /// Passkey Notify: show this passkey so it can be typed on the device; needs no answer.
        case passkeyDisplay(passkey: UInt32, entered: UInt8)
    }

    public var index: UInt16
    public var device: DeviceAddress
    public var request: Request

    public init(index: UInt16, device: DeviceAddress, request: Request) {
        self.index = index
        self.device = device
        self.request = request
    }

    /// The prompt an event carries, if it is one.
    public init?(_ packet: ManagementEventPacket) {
        switch packet.event {
        case .userConfirmationRequest(let device, let hint, let value):
            self.init(index: packet.index, device: device, request: .confirmation(value: value, justWorks: hint))
        case .userPasskeyRequest(let device):
            self.init(index: packet.index, device: device, request: .passkeyEntry)
        case .passkeyNotify(let device, let passkey, let entered):
            self.init(index: packet.index, device: device, request: .passkeyDisplay(passkey: passkey, entered: entered))
        default:
            return nil
        }
    }

    public var description: String {
        let on = "\(device) on \(ManagementFormat.controller(index))"
        switch request {
        case .confirmation(_, true): return "confirm Just Works pairing with \(on)"
        case .confirmation(let value, false): return "confirm that \(on) shows \(PairingPrompt.sixDigits(value))"
        case .passkeyEntry: return "enter the passkey \(on) shows"
        case .passkeyDisplay(let passkey, _): return "type \(PairingPrompt.sixDigits(passkey)) on \(on)"
        }
    }

    public static func sixDigits(_ value: UInt32) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, 6 - text.count)) + text
    }
}

/// The answer to a prompt.
public enum PairingAnswer: Equatable, Sendable {
    case accept
    case reject
    case passkey(UInt32)
}

/// Answers the kernel's pairing questions on the management socket. Without bluetoothd nobody else does, and LE
/// pairing — even Just Works — stalls until someone replies (kernels hand Just Works to user space as a yes/no
/// User Confirmation Request on both sides).
public actor PairingAgent {
    public typealias Decide = @Sendable (PairingPrompt) async -> PairingAnswer

    public nonisolated let management: BluetoothManagement
    private let decide: Decide
    private let logger: Logger

    /// Accepts Just Works and numeric comparison (a headless gateway cannot show the number), refuses passkey
    /// entry (there is nobody to type it).
    public static let justWorks: Decide = { prompt in
        switch prompt.request {
        case .confirmation: .accept
        case .passkeyEntry: .reject
        case .passkeyDisplay: .accept
        }
    }

    /// Controller whose prompts this agent answers (nil: every controller's). One kernel reports all controllers'
    /// prompts on every management socket; a gateway answers only for its own.
    public nonisolated let index: UInt16?

    public init(
        management: BluetoothManagement, index: UInt16? = nil, logger: Logger? = nil,
        decide: @escaping Decide = PairingAgent.justWorks
    ) {
        self.management = management
        self.index = index
        self.decide = decide
        self.logger = logger ?? Logger(label: "gatewayd.pairing-agent")
    }

    /// Answers every prompt in `events` (the owner subscribes with `management.events()` before it starts a pairing,
    /// so none is missed) until they end: the socket closed, or the owner's task that runs this — a child of the radio's
    /// owner — was cancelled. Each prompt is a child task of its own, so a slow decision never holds up another device's
    /// pairing.
    public nonisolated func run(_ events: AsyncStream<ManagementEventPacket>) async {
        let (management, decide, logger, index) = (management, decide, logger, index)
        await withDiscardingTaskGroup { group in
            for await packet in events where index == nil || packet.index == index {
                guard let prompt = PairingPrompt(packet) else { continue }
                group.addTask {
                    await PairingAgent.answer(prompt, management: management, decide: decide, logger: logger)
                }
            }
        }
    }

    /// The reply command for `answer` to `prompt`; nil for passkey display, which takes no reply. Answers that do
    /// not fit the question (a passkey to a yes/no, a passkey over six digits) become the negative reply.
    public static func command(for prompt: PairingPrompt, answer: PairingAnswer) -> ManagementCommand? {
        let device = prompt.device
        switch (prompt.request, answer) {
        case (.passkeyDisplay, _):
            return nil
        case (.confirmation, .accept):
            return .userConfirmationReply(device)
        case (.confirmation, _):
            return .userConfirmationNegativeReply(device)
        case (.passkeyEntry, .passkey(let passkey)) where passkey <= 999_999:
            return .userPasskeyReply(device, passkey: passkey)
        case (.passkeyEntry, _):
            return .userPasskeyNegativeReply(device)
        }
    }

    private static func answer(_ prompt: PairingPrompt, management: BluetoothManagement, decide: Decide, logger: Logger)
        async
    {
        let answer = await decide(prompt)
        guard let command = command(for: prompt, answer: answer) else {
            logger.notice("pairing passkey to show", metadata: ["prompt": "\(prompt)"])
            return
        }
        let accepted = command.opcode == .userConfirmationReply || command.opcode == .userPasskeyReply
        logger.info(
            "answering pairing request",
            metadata: ["prompt": "\(prompt)", "answer": "\(accepted ? "accept" : "reject")"])
        Counter(
            label: "gatewayd_bluetooth_pairing_prompts_total", dimensions: [("answer", accepted ? "accept" : "reject")]
        ).increment()
        do {
            try await management.send(command, index: prompt.index)
        } catch {
            // "Not Connected": the device gave up first; the pairing itself reports the failure.
            logger.warning("pairing reply failed", metadata: ["prompt": "\(prompt)", "error": "\(error)"])
        }
    }
}
