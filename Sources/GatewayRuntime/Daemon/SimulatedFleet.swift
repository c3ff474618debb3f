import BLEGateway
import Foundation
import Logging
import Metrics
import Provenance
import StreamEngine

/// A simulated device the daemon runs (from `simulated_devices` in the configuration, or the demo's fleet). Each
/// speaks real ATT over a socketpair to the same GATT client and pipeline a radio link would use.
package struct SimulatedDeviceSpec: Sendable {
    /// The health profile the device speaks (configuration's `kind:` names its id).
    package var profile: HealthProfile
    package var name: String
    /// BP user IDs the readings cycle through.
    package var users: [UInt8] = [1]
    package var storedReadings = 0
    package var batteryChanged = false
    package var clockOffsetSeconds = 0.0
    /// A device that measures (not a strap): a new measurement every so often, after which the device "advertises" and
    /// the gateway connects.
    package var measureEverySeconds = 60.0
    /// A streaming device (a strap): seconds between notifications.
    package var notifyEverySeconds = 1.0
    package var seed: UInt64 = 1
    /// The device has the User Data Service with its `users` registered (slot → consent code 1000 + slot): the gateway
    /// consents as the current user before it collects.
    package var userData = false
    package var consentCodes: [UInt8: UInt16] {
        userData ? Dictionary(uniqueKeysWithValues: users.map { ($0, 1000 + UInt16($0)) }) : [:]
    }
    /// Distinguishes two devices of one kind (System ID and serial number).
    package var number: UInt64 = 1
}

/// Runs the simulated devices against a pipeline until cancelled: straps stream (and are reconnected when a link
/// ends), cuffs and meters take a measurement every `measureEverySeconds` and are then connected and downloaded.
package struct SimulatedFleet: Sendable {
    package let specs: [SimulatedDeviceSpec]
    package let pipeline: GatewayPipeline
    package let zone: TimeZone
    package let mapper: ReadingMapperOptions
    package let logger: Logger
    package let onReading: @Sendable (IngestOutcome, Reading) async -> Void
    /// The clock of the devices' cadence: a strap's reconnection, a cuff's next measurement.
    package var clock: any Clock<Duration> = ContinuousClock()

    /// Every reading of a simulated device is test data (HTEST): no person measured it, so it never moves a real
    /// person's summaries and never leaves for a destination that does not take test data.
    package init(
        specs: [SimulatedDeviceSpec], pipeline: GatewayPipeline, zone: TimeZone, mapper: ReadingMapperOptions,
        logger: Logger,
        onReading: @escaping @Sendable (IngestOutcome, Reading) async -> Void
    ) {
        var mapper = mapper
        mapper.testData = true
        (self.specs, self.pipeline, self.zone, self.mapper, self.logger, self.onReading) = (
            specs, pipeline, zone, mapper, logger, onReading
        )
    }

    package func run() async {
        await withTaskGroup(of: Void.self) { group in
            for spec in specs {
                group.addTask {
                    await self.runDevice(spec)
                    self.logger.notice("device stopped", metadata: ["device": "\(spec.name)"])
                }
            }
        }
    }

    package static func identity(_ spec: SimulatedDeviceSpec) -> SimulatedIdentity {
        let model = spec.profile.simulator.model
        return SimulatedIdentity(
            manufacturer: "Gatewayd Simulated Devices", model: model, serial: "\(model)-\(spec.name)",
            systemID: SystemID(
                manufacturerIdentifier: spec.profile.simulator.systemIDBase + spec.number,
                organizationallyUniqueIdentifier: 0x00_1B_C5))
    }

    /// The key the gateway stores this device's readings under (what `devices:` mappings name).
    package static func deviceKey(_ spec: SimulatedDeviceSpec) -> String {
        var record = DeviceRecord(link: "sim:\(spec.name)")
        record.systemID = identity(spec).systemID?.eui64Text
        return record.key
    }

    /// A strap streams while connected and is connected again when its link ends; any other device starts with its
    /// stored measurements, then takes one every `measureEverySeconds` (cycling through its users) and is downloaded.
    private func runDevice(_ spec: SimulatedDeviceSpec) async {
        let now = Date()
        let recipe = spec.profile.simulator
        var settings = SimulatorSettings()
        settings.identity = Self.identity(spec)
        settings.clock = SimulatedClock(offset: spec.clockOffsetSeconds, driftPPM: 0, reference: now)
        if spec.batteryChanged {
            settings.clock.batteryChangedAt = now.addingTimeInterval(
                -Double(max(spec.storedReadings, 1)) * recipe.recordSpacing - 3600)
        }
        settings.interval = .milliseconds(Int64(spec.notifyEverySeconds * 1000))
        settings.seed = spec.seed
        settings.userConsents = spec.userData ? spec.consentCodes : nil
        let device = recipe.make(settings)
        if recipe.streams {
            while !Task.isCancelled {
                await connect(spec, serve: { await device.serve($0) })
                try? await clock.sleep(for: .seconds(2), tolerance: nil)
            }
            return
        }
        await device.measure(
            count: spec.storedReadings, users: spec.users, seed: spec.seed, end: now, spacing: recipe.recordSpacing)
        var round: UInt64 = 0
        while !Task.isCancelled {
            await connect(spec, serve: { await device.serve($0) })
            try? await clock.sleep(for: .seconds(spec.measureEverySeconds), tolerance: nil)
            round += 1
            let user = spec.users[Int(round) % max(spec.users.count, 1)]
            await device.measure(count: 1, users: [user], seed: spec.seed &+ round, end: nil, spacing: 0)
        }
    }

    /// One connection: the device serves one end of a socketpair, the gateway's GATT client the other.
    private func connect(_ spec: SimulatedDeviceSpec, serve: @escaping @Sendable (any ATTBearer) async -> Void) async {
        Counter(label: "gatewayd_device_connections_total", dimensions: [("device", Self.deviceKey(spec))]).increment()
        do {
            let (central, peripheral) = try SeqPacketBearer.pair()
            // The device serves its end as a child task; it ends once its link has closed.
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await serve(peripheral) }
                // Stopping (SIGTERM) ends the link as a device walking away would: what was acknowledged is durable,
                // the device keeps the rest for the next connection.
                try await withTaskCancellationHandler {
                    try await pipeline.collect(
                        bearer: central, link: "sim:\(spec.name)", zone: zone, mapper: mapper,
                        cacheKey: "sim:\(spec.name)", userConsents: spec.consentCodes, onOutcome: onReading)
                } onCancel: {
                    peripheral.close()
                }
                peripheral.close()
            }
        } catch is CancellationError {
        } catch {
            logger.warning(
                "simulated device connection failed", metadata: ["device": "\(spec.name)", "error": "\(error)"])
        }
    }
}
