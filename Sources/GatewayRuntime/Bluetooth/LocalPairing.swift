import BLEGateway
import Foundation
import Logging
import Provenance

/// The pairing `gatewayd pair` runs in its own process while the daemon is stopped: the same `DevicePairing` the daemon
/// runs, on this controller and the data directory's pipeline, answering only the prompts about the device being paired
/// (the router's); anything else nearby is refused.
package enum LocalPairing {
    /// Runs `body` with the pairing while its agent answers the router's prompts; the agent and the bond store's
    /// follower are child tasks that end with it, and the pipeline closes after.
    package static func run(
        radio: RadioController, configuration: GatewayConfiguration, settings: BluetoothSettings,
        downloadTimeout: Duration, caller: String, logger: Logger,
        _ body: (LocalPairingDriver) async throws -> Void
    ) async throws {
        let pipeline = try GatewayPipeline.open(
            directory: configuration.dataDirectory, zone: configuration.defaultZone, zones: configuration.zones,
            testSubjects: configuration.testSubjects,
            key: try configuration.signingKeyFile.map { try GatewayKey.loadOrCreatePublishing(at: $0) })
        defer { pipeline.close() }
        let prompts = PromptRouter()
        let agent = PairingAgent(management: radio.management, index: radio.index, logger: logger) { prompt in
            await prompts.decide(prompt) { _ in .reject }
        }
        let promptEvents = await radio.management.events()
        let pairing = DevicePairing(pipeline: pipeline, configuration: configuration, logger: logger, unavailable: "")
        await pairing.setDownloadTimeout(downloadTimeout)
        await pairing.attach(
            radio: KernelPairingRadio(
                radio: radio, prompts: prompts,
                connectTimeout: .milliseconds(Int64(settings.connectTimeoutSeconds * 1000))))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await radio.keepBonds() }
            group.addTask { await agent.run(promptEvents) }
            defer { group.cancelAll() }
            try await body(LocalPairingDriver(pairing: pairing, caller: caller))
        }
    }
}

extension RadioController {
    /// Forgets a paired device: the kernel's keys and the gateway's, and its entry in `paired`; its readings stay.
    /// False when it was not paired with this gateway.
    package func forget(_ address: BluetoothAddress, paired: PairedDevices) async throws -> Bool {
        let entry = try paired.load().first { $0.address.uppercased() == "\(address)".uppercased() }
        let type = entry?.deviceAddress?.type ?? .lePublic
        do {
            try await management.unpair(address: address, type: type, index: index)
        } catch {
            throw PairingFailure(description: "the kernel refused to unpair \(address): \(error)")
        }
        let hadKeys = try await bonds.forget(address: address)
        let listed = try paired.remove(address: "\(address)")
        return hadKeys || listed
    }
}
