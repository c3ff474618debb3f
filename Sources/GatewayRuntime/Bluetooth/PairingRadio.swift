import BLEGateway
import Foundation

/// A pairing step that failed at run time (not a usage error): said plainly, so a person knows what to do next.
package struct PairingFailure: Error, CustomStringConvertible {
    package var description: String
    package init(description: String) { self.description = description }
}

/// What pairing needs from a radio: hear health devices, pair one (its questions put to whoever pairs), open an
/// encrypted link to it. The daemon's controller (`KernelPairingRadio`) and the demo's simulated devices
/// (`SimulatedPairingRadio`) both give it, so the pages and `gatewayd pair` drive one pairing flow (`DevicePairing`).
package protocol PairingRadio: Sendable {
    /// The devices are simulated: their readings are test data and nothing goes to the paired-device list.
    var simulated: Bool { get }
    /// Scans for `seconds`, reporting each health device heard and each change of its name or kind.
    func scan(seconds: Double, heard: @escaping @Sendable (Sighting) -> Void) async throws -> [Sighting]
    /// Pairs with `device`; its questions (compare six digits, type a passkey) go to `ask`. True: newly paired.
    func pair(_ device: DeviceAddress, ioCapability: IOCapability, ask: @escaping PairingAgent.Decide) async throws
        -> Bool
    /// An encrypted link to a device just paired.
    func connect(_ device: DeviceAddress) async throws -> any ATTBearer
}

/// The kernel's pairing questions go to the daemon's one agent; those about the device being paired are put to
/// whoever pairs it, the rest are refused as a running gateway refuses strangers.
package final class PromptRouter: @unchecked Sendable {
    private let lock = NSLock()
    private var handlers: [BluetoothAddress: PairingAgent.Decide] = [:]

    package init() {}

    func route(_ address: BluetoothAddress, to decide: @escaping PairingAgent.Decide) {
        lock.withLock { handlers[address] = decide }
    }

    func remove(_ address: BluetoothAddress) { _ = lock.withLock { handlers.removeValue(forKey: address) } }

    /// The answer of whoever pairs the prompt's device, else `otherwise`'s.
    package func decide(_ prompt: PairingPrompt, otherwise: @escaping PairingAgent.Decide) async -> PairingAnswer {
        let handler = lock.withLock { handlers[prompt.device.address] }
        return await (handler ?? otherwise)(prompt)
    }
}

/// Pairing on the gateway's own controller through the kernel (the management socket's Pair Device, its
/// questions answered through the daemon's agent and `PromptRouter`), then an L2CAP link with the new keys.
package struct KernelPairingRadio: PairingRadio {
    package let radio: RadioController
    package let prompts: PromptRouter
    package let connectTimeout: Duration

    package init(radio: RadioController, prompts: PromptRouter, connectTimeout: Duration) {
        (self.radio, self.prompts, self.connectTimeout) = (radio, prompts, connectTimeout)
    }

    package var simulated: Bool { false }

    package func scan(seconds: Double, heard: @escaping @Sendable (Sighting) -> Void) async throws -> [Sighting] {
        try await HealthDeviceScan.run(radio.management, index: radio.index, seconds: seconds) { sighting, _ in
            heard(sighting)
        }
    }

    package func pair(_ device: DeviceAddress, ioCapability: IOCapability, ask: @escaping PairingAgent.Decide)
        async throws -> Bool
    {
        prompts.route(device.address, to: ask)
        defer { prompts.remove(device.address) }
        do {
            switch try await radio.management.pair(
                address: device.address, type: device.type, ioCapability: ioCapability, index: radio.index)
            {
            case .paired: return true
            case .alreadyPaired: return false
            }
        } catch {
            if case .commandFailed(_, _, let status) = error, status == .authenticationFailed || status == .rejected {
                throw PairingFailure(
                    description: "pairing with \(device.address) was refused (\(status)): a wrong code, or the device "
                        + "left pairing mode; put it in pairing mode and try again")
            }
            throw PairingFailure(description: "pairing with \(device.address) failed: \(error)")
        }
    }

    package func connect(_ device: DeviceAddress) async throws -> any ATTBearer {
        do {
            // The link after pairing lingers a moment; the kernel reuses it or makes a new encrypted one with the bond.
            return try await L2CAPSocket.connect(
                local: radio.address, peer: device.address, peerType: device.type == .leRandom ? .leRandom : .lePublic,
                security: .medium, timeout: connectTimeout)
        } catch {
            throw PairingFailure(
                description: "paired, but the encrypted connection to \(device.address) failed: \(error); pair it "
                    + "again while it advertises")
        }
    }
}
