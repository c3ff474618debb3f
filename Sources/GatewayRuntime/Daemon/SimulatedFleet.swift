import BLEGateway
import Foundation
import Logging
import Metrics
import Provenance
import StreamEngine

/// A simulated device the daemon runs (from `simulated_devices` in the configuration, or the demo's fleet). Each
/// speaks real ATT over a socketpair to the same GATT client and pipeline a radio link would use.
package struct SimulatedDeviceSpec: Sendable {
    package enum Kind: String, Sendable, CaseIterable { case bloodPressure = "blood_pressure", glucose, heartRate = "heart_rate" }

    package var kind: Kind
    package var name: String
    /// BP user IDs the readings cycle through.
    package var users: [UInt8] = [1]
    package var storedReadings = 0
    package var batteryChanged = false
    package var clockOffsetSeconds = 0.0
    /// BP/glucose: a new measurement every so often, after which the device "advertises" and the gateway connects.
    package var measureEverySeconds = 60.0
    /// Heart rate: seconds between notifications.
    package var notifyEverySeconds = 1.0
    package var seed: UInt64 = 1
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

    /// Every reading of a simulated device is test data (HTEST): no person measured it, so it never moves a real
    /// person's summaries and never leaves for a destination that does not take test data.
    package init(
        specs: [SimulatedDeviceSpec], pipeline: GatewayPipeline, zone: TimeZone, mapper: ReadingMapperOptions, logger: Logger,
        onReading: @escaping @Sendable (IngestOutcome, Reading) async -> Void
    ) {
        var mapper = mapper
        mapper.testData = true
        (self.specs, self.pipeline, self.zone, self.mapper, self.logger, self.onReading) = (specs, pipeline, zone, mapper, logger, onReading)
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
        let (model, oui): (String, UInt32) =
            switch spec.kind {
            case .bloodPressure: ("BP-7", 0x00_1B_C5)
            case .glucose: ("GL-3", 0x00_1B_C5)
            case .heartRate: ("HR-5", 0x00_1B_C5)
            }
        let base: UInt64 = spec.kind == .bloodPressure ? 0x04_1700 : (spec.kind == .glucose ? 0x22_0100 : 0x01_0200)
        return SimulatedIdentity(
            manufacturer: "Gatewayd Simulated Devices", model: model, serial: "\(model)-\(spec.name)",
            systemID: SystemID(manufacturerIdentifier: base + spec.number, organizationallyUniqueIdentifier: oui))
    }

    /// The key the gateway stores this device's readings under (what `devices:` mappings name).
    package static func deviceKey(_ spec: SimulatedDeviceSpec) -> String {
        var record = DeviceRecord(link: "sim:\(spec.name)")
        record.systemID = identity(spec).systemID?.eui64Text
        return record.key
    }

    private func runDevice(_ spec: SimulatedDeviceSpec) async {
        let now = Date()
        var clock = SimulatedClock(offset: spec.clockOffsetSeconds, driftPPM: 0, reference: now)
        let spacing: TimeInterval = spec.kind == .glucose ? 6 * 3600 : 12 * 3600
        if spec.batteryChanged { clock.batteryChangedAt = now.addingTimeInterval(-Double(max(spec.storedReadings, 1)) * spacing - 3600) }
        switch spec.kind {
        case .heartRate:
            var configuration = SimulatedHeartRateStrap.Configuration()
            configuration.identity = Self.identity(spec)
            configuration.interval = .milliseconds(Int64(spec.notifyEverySeconds * 1000))
            configuration.seed = spec.seed
            let strap = SimulatedHeartRateStrap(configuration: configuration)
            while !Task.isCancelled {
                await connect(spec, serve: { await strap.serve($0) })
                try? await Task.sleep(for: .seconds(2))
            }
        case .bloodPressure:
            var configuration = SimulatedBloodPressureMonitor.Configuration()
            configuration.identity = Self.identity(spec)
            configuration.clock = clock
            let cuff = SimulatedBloodPressureMonitor(configuration: configuration)
            await SimulatedReadings.fill(cuff, count: spec.storedReadings, users: spec.users, seed: spec.seed, end: now, spacing: spacing)
            var round: UInt64 = 0
            while !Task.isCancelled {
                await connect(spec, serve: { await cuff.serve($0) })
                try? await Task.sleep(for: .seconds(spec.measureEverySeconds))
                round += 1
                await SimulatedReadings.fill(cuff, count: 1, users: [spec.users[Int(round) % max(spec.users.count, 1)]], seed: spec.seed &+ round)
            }
        case .glucose:
            var configuration = SimulatedGlucoseMeter.Configuration()
            configuration.identity = Self.identity(spec)
            configuration.clock = clock
            let meter = SimulatedGlucoseMeter(configuration: configuration)
            await SimulatedReadings.fill(meter, count: spec.storedReadings, seed: spec.seed, end: now, spacing: spacing)
            var round: UInt64 = 0
            while !Task.isCancelled {
                await connect(spec, serve: { await meter.serve($0) })
                try? await Task.sleep(for: .seconds(spec.measureEverySeconds))
                round += 1
                await SimulatedReadings.fill(meter, count: 1, seed: spec.seed &+ round)
            }
        }
    }

    /// One connection: the device serves one end of a socketpair, the gateway's GATT client the other.
    private func connect(_ spec: SimulatedDeviceSpec, serve: @escaping @Sendable (any ATTBearer) async -> Void) async {
        Counter(label: "gatewayd_device_connections_total", dimensions: [("device", Self.deviceKey(spec))]).increment()
        do {
            let (central, peripheral) = try SeqPacketBearer.pair()
            let device = Task { await serve(peripheral) }
            defer { device.cancel() }
            // Stopping (SIGTERM) ends the link as a device walking away would: what was acknowledged is durable, the
            // device keeps the rest for the next connection.
            try await withTaskCancellationHandler {
                try await pipeline.collect(
                    bearer: central, link: "sim:\(spec.name)", zone: zone, mapper: mapper, cacheKey: "sim:\(spec.name)", onOutcome: onReading)
            } onCancel: {
                peripheral.close()
            }
            peripheral.close()
        } catch is CancellationError {
        } catch {
            logger.warning("simulated device connection failed", metadata: ["device": "\(spec.name)", "error": "\(error)"])
        }
    }
}
