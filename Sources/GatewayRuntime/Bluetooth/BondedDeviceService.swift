import BLEGateway
import Foundation
import Logging
import Metrics
import Provenance
import ServiceLifecycle
import StreamEngine

/// When a paired device should next be tried: after a failed attempt the wait doubles up to a maximum, so a device
/// that advertises but cannot be reached (out of range at the edge, keys lost) does not occupy the radio.
package struct ReconnectSchedule: Sendable {
    package var initialSeconds: Double
    package var maximumSeconds: Double
    package private(set) var failures: [String: Int] = [:]
    package private(set) var notBefore: [String: Double] = [:]

    package init(initialSeconds: Double, maximumSeconds: Double) {
        self.initialSeconds = initialSeconds
        self.maximumSeconds = maximumSeconds
    }

    package func mayTry(_ address: String, now: Double) -> Bool { now >= (notBefore[address] ?? 0) }

    /// A connection that ran (even one the device ended mid-transfer). One that brought readings: try again as soon
    /// as it advertises (the rest of a transfer, the next measurement). One that brought nothing: the device is
    /// still advertising after its transfer, so leave it alone for the longest wait rather than reconnect in a loop.
    package mutating func succeeded(_ address: String, now: Double, readings: Int) {
        failures[address] = 0
        notBefore[address] = now + (readings > 0 ? initialSeconds : maximumSeconds)
    }

    /// Returns the wait before the next attempt.
    @discardableResult
    package mutating func failed(_ address: String, now: Double) -> Double {
        let count = (failures[address] ?? 0) + 1
        failures[address] = count
        let wait = min(maximumSeconds, initialSeconds * pow(2, Double(count - 1)))
        notBefore[address] = now + wait
        return wait
    }
}

/// Collects from the paired devices (DATA/bluetooth/paired.json, written by `gatewayd pair`) whenever they
/// advertise — cuffs and meters advertise only after a measurement — on the configured controller: scan, connect
/// (encrypted with the bond), download (a glucose meter from the durable RACP cursor), back to scanning. One
/// connection attempt at a time, with scanning paused meanwhile (many controllers cannot scan while initiating).
package struct BondedDeviceService: Service {
    package let settings: BluetoothSettings
    package let dataDirectory: String
    package let pipeline: GatewayPipeline
    package let zone: TimeZone
    package let mapper: ReadingMapperOptions
    package let logger: Logger
    package let onReading: @Sendable (IngestOutcome, Reading) async -> Void
    /// The daemon's pairing (the pages, `gatewayd pair` as a client): given this radio once it is open.
    package var pairing: DevicePairing?
    /// The clock of the scan restart and of a pairing's patience with running connections.
    package var clock: any Clock<Duration> = ContinuousClock()

    package init(
        settings: BluetoothSettings, dataDirectory: String, pipeline: GatewayPipeline, zone: TimeZone,
        mapper: ReadingMapperOptions, logger: Logger, pairing: DevicePairing? = nil,
        onReading: @escaping @Sendable (IngestOutcome, Reading) async -> Void
    ) {
        (self.settings, self.dataDirectory, self.pipeline, self.zone, self.mapper, self.logger) = (
            settings, dataDirectory, pipeline, zone, mapper, logger
        )
        (self.pairing, self.onReading) = (pairing, onReading)
    }

    package func run() async throws {
        let roster = PairedRoster(try PairedDevices(path: BluetoothSettings.pairedFile(data: dataDirectory)).load())
        let radio: RadioController
        do {
            radio = try await RadioController.open(settings: settings, dataDirectory: dataDirectory, logger: logger)
        } catch {
            await pairing?.detach("the Bluetooth radio could not be opened: \(error)")
            throw error
        }
        defer { radio.close() }
        // No pairing on a device's word, not even from a paired address: a stranger can use that address to write
        // readings onto a person. A device that lost its keys is paired again by an operator (the pages, or
        // `gatewayd pair`), whose pairing answers its own device's questions through the router.
        let refused = RefusedPairings(data: dataDirectory)
        let logger = self.logger
        let prompts = PromptRouter()
        let agent = PairingAgent(management: radio.management, index: radio.index, logger: logger) { prompt in
            await prompts.decide(prompt) { refused.refuse($0, pairedAddresses: roster.addresses, logger: logger) }
        }
        let promptEvents = await radio.management.events()
        // The bond store and the agent are children of this service: they end with it.
        await withDiscardingTaskGroup { group in
            group.addTask { await radio.keepBonds() }
            group.addTask { await agent.run(promptEvents) }
            await watchUntilShutdown(roster, radio: radio, prompts: prompts)
            group.cancelAll()
        }
        logger.notice("bluetooth devices stopped")
    }

    /// Collects from the paired devices, and lends the radio to the daemon's pairing, until graceful shutdown.
    private func watchUntilShutdown(_ roster: PairedRoster, radio: RadioController, prompts: PromptRouter) async {
        let state = ReconnectState(
            schedule: ReconnectSchedule(
                initialSeconds: settings.reconnectInitialSeconds, maximumSeconds: settings.reconnectMaximumSeconds),
            clock: clock)
        await pairing?.attach(
            radio: KernelPairingRadio(
                radio: radio, prompts: prompts,
                connectTimeout: .milliseconds(Int64(settings.connectTimeoutSeconds * 1000))),
            hold: RadioHold(acquire: { await state.hold() }, release: { await state.release() }),
            onPaired: { device in
                roster.add(device)
                logger.notice("collecting from a newly paired device", metadata: ["device": "\(device.address)"])
            })
        logger.notice(
            "waiting for paired devices to advertise",
            metadata: [
                "controller": "hci\(radio.index)", "devices": "\(roster.addresses.sorted().joined(separator: ","))",
                "keys_loaded": "\(radio.ownsKeys)",
            ])
        await cancelWhenGracefulShutdown { await watch(roster, radio: radio, state: state) }
        await pairing?.detach("the Bluetooth service stopped")
    }

    private func watch(_ roster: PairedRoster, radio: RadioController, state: ReconnectState) async {
        let events = await radio.management.events()
        await scan(radio)
        await withDiscardingTaskGroup { group in
            // Discovery rounds end by themselves; a timer restarts scanning should an end be missed.
            group.addTask {
                while !Task.isCancelled {
                    try? await clock.sleep(for: Self.scanRestart, tolerance: nil)
                    if await !state.isConnecting { await scan(radio) }
                }
            }
            for await packet in events where packet.index == radio.index {
                switch packet.event {
                case .discovering(_, let active) where !active:
                    if await !state.isConnecting { await scan(radio) }
                case .deviceFound(let found):
                    let key = "\(found.device.address)".uppercased()
                    guard let device = roster.device(key), await state.begin(key, now: Self.now) else { continue }
                    group.addTask { await connect(device, identity: found.device, radio: radio, state: state) }
                default:
                    break
                }
            }
            // The event stream ends on shutdown (cancellation) or when the kernel closed the socket (the controller
            // went away): then the timer must stop too, and the service ends, which stops the daemon for systemd
            // to restart rather than leave it deaf.
            if !Task.isCancelled {
                logger.error(
                    "the Bluetooth management socket closed; stopping so the service can be restarted",
                    metadata: ["controller": "hci\(radio.index)"])
            }
            group.cancelAll()
        }
    }

    private func scan(_ radio: RadioController) async {
        do {
            try await radio.management.startDiscovery(index: radio.index)
        } catch {
            // "Busy" while a round is still running is fine; anything else is worth a line.
            if case .commandFailed(_, _, let status) = error, status == .busy { return }
            logger.debug("could not start discovery", metadata: ["error": "\(error)"])
        }
    }

    private func connect(_ device: PairedDevice, identity: DeviceAddress, radio: RadioController, state: ReconnectState)
        async
    {
        let key = device.address.uppercased()
        _ = try? await radio.management.stopDiscovery(index: radio.index)
        Counter(
            label: "gatewayd_device_connections_total", dimensions: [("device", device.deviceKey ?? device.address)]
        ).increment()
        let bearer: SeqPacketBearer
        do {
            bearer = try await L2CAPSocket.connect(
                local: radio.address, peer: identity.address,
                peerType: identity.type == .leRandom ? .leRandom : .lePublic,
                security: device.encrypted ? .medium : .low,
                timeout: .milliseconds(Int64(settings.connectTimeoutSeconds * 1000)))
        } catch {
            let wait = await state.failed(key, now: Self.now, whileConnecting: true)
            Counter(label: "gatewayd_bluetooth_connect_failures_total").increment()
            logger.warning(
                "could not connect to a paired device",
                metadata: ["device": "\(device.address)", "error": "\(error)", "retry_after_s": "\(wait)"])
            await scan(radio)
            return
        }
        await state.connected()
        await scan(radio)
        logger.info("connected", metadata: ["device": "\(device.address)", "name": "\(device.name ?? "-")"])
        let received = ReadingCount()
        let onReading = self.onReading
        do {
            try await withTaskCancellationHandler {
                // (A device paired without a bond — most straps — is cached only by its Database Hash: it owes an
                // unbonded client no Service Changed.)
                try await pipeline.collect(
                    bearer: bearer, link: "l2cap:\(device.address)", zone: zone, mapper: mapper,
                    cacheKey: device.address,
                    bonded: device.encrypted, userConsents: device.userConsents
                ) { outcome, reading in
                    received.add()
                    await onReading(outcome, reading)
                }
            } onCancel: {
                bearer.close()
            }
            await state.succeeded(key, now: Self.now, readings: received.value)
            logger.info("device done", metadata: ["device": "\(device.address)", "readings": "\(received.value)"])
        } catch {
            let wait = await state.failed(key, now: Self.now, whileConnecting: false)
            logger.warning(
                "connection to a paired device failed",
                metadata: ["device": "\(device.address)", "error": "\(error)", "retry_after_s": "\(wait)"])
        }
        bearer.close()
    }

    package static var now: Double { Date().timeIntervalSince1970 }

    /// How often scanning is started again should the end of a discovery round have been missed.
    static let scanRestart: Duration = .seconds(15)
}

/// Which devices are being served, which attempt is under way and when each may be tried again.
package actor ReconnectState {
    private var schedule: ReconnectSchedule
    private var busy: Set<String> = []
    package private(set) var isConnecting = false
    /// A pairing holds the radio: no new connection starts, and the pairing waits for the running ones to end.
    private var held = false
    private var waitingForIdle: [CheckedContinuation<Void, Never>] = []

    /// The clock of a pairing's patience (`hold`).
    private let clock: any Clock<Duration>

    package init(schedule: ReconnectSchedule, clock: any Clock<Duration> = ContinuousClock()) {
        (self.schedule, self.clock) = (schedule, clock)
    }

    /// Claims the device for an attempt if it is free, due, no other attempt is under way and no pairing holds the
    /// radio.
    package func begin(_ address: String, now: Double) -> Bool {
        guard !held, !isConnecting, !busy.contains(address), schedule.mayTry(address, now: now) else { return false }
        busy.insert(address)
        isConnecting = true
        return true
    }

    package func connected() { isConnecting = false }

    package func succeeded(_ address: String, now: Double, readings: Int) {
        busy.remove(address)
        schedule.succeeded(address, now: now, readings: readings)
        wakeIfIdle()
    }

    package func failed(_ address: String, now: Double, whileConnecting: Bool) -> Double {
        busy.remove(address)
        if whileConnecting { isConnecting = false }
        wakeIfIdle()
        return schedule.failed(address, now: now)
    }

    /// Holds the radio for a pairing: returns once no connection of the daemon's own runs, or after `patience` (a
    /// strap streams for as long as it is worn; a real controller holds several links, only some cannot).
    package func hold(patience: Duration = .seconds(20)) async {
        held = true
        if busy.isEmpty { return }
        await withExpiry(
            after: patience, on: clock, expire: { [weak self] _ in await self?.wakeAll() },
            body: {
                await withCheckedContinuation { waitingForIdle.append($0) }
            })
    }

    package func release() { held = false }

    private func wakeIfIdle() {
        guard busy.isEmpty else { return }
        wakeAll()
    }

    private func wakeAll() {
        let waiting = waitingForIdle
        waitingForIdle = []
        for continuation in waiting { continuation.resume() }
    }
}

/// The paired devices the daemon collects from: the list at start, and each device paired while it runs.
package final class PairedRoster: @unchecked Sendable {
    private let lock = NSLock()
    private var devices: [String: PairedDevice]

    package init(_ devices: [PairedDevice]) {
        self.devices = Dictionary(devices.map { ($0.address.uppercased(), $0) }, uniquingKeysWith: { a, _ in a })
    }

    package func device(_ address: String) -> PairedDevice? { lock.withLock { devices[address.uppercased()] } }
    package func add(_ device: PairedDevice) { lock.withLock { devices[device.address.uppercased()] = device } }
    package var addresses: Set<String> { lock.withLock { Set(devices.keys) } }
}

package final class ReadingCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    package func add() { lock.withLock { count += 1 } }
    package var value: Int { lock.withLock { count } }
}
