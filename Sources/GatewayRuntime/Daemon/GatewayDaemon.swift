import AsyncHTTPClient
import BLEGateway
import FHIR
import Foundation
import Logging
import Metrics
import Prometheus
import Provenance
import ServiceLifecycle
import StreamEngine

/// The daemon: one data directory's pipeline, its devices, the FHIR API (and /metrics), and the sync workers,
/// run as services of one group. SIGTERM or SIGINT stops the devices first — their links end as a device walking
/// away would, so every acknowledged reading is on disk and the rest stays on the device — then the rest, and
/// closes the store. Shared by `gatewayd run` and `gatewayd demo`.
package struct GatewayDaemon {
    package let configuration: GatewayConfiguration
    package var logger = Logger(label: "gatewayd")
    /// Called once the API listens (the demo prints its guide here).
    package var onReady: @Sendable () async -> Void = {}
    /// The HTTP server the daemon runs (GatewayHTTP's FHIR API and pages, wired by the executable), given what the
    /// daemon opened. The daemon knows no routes: the module arrows go from GatewayHTTP to the runtime, not back.
    package var server: @Sendable (DaemonParts) throws -> any Service = { _ in
        throw GatewayDaemonError(description: "no HTTP server was given to the daemon (GatewayDaemon.server)")
    }
    /// A radio to pair with besides the configured controller's: the demo's simulated devices in pairing mode.
    package var simulatedPairing: SimulatedPairingRadio?
    /// Stop by itself after this long, through the same graceful shutdown as SIGTERM (`gatewayd demo --seconds`).
    package var stopAfter: Duration?

    /// What the daemon opened and where it listens, for the HTTP server it runs.
    package struct DaemonParts: Sendable {
        package let configuration: GatewayConfiguration
        package let pipeline: GatewayPipeline
        /// Pairing while the daemon runs (its radio, its store).
        package let pairing: DevicePairing
        package let host: String
        package let port: Int
        package let security: ListenerSecurity
        package let logger: Logger
        /// What /metrics exports.
        package let metrics: PrometheusCollectorRegistry
        /// Called once the server listens: the daemon reports READY to systemd and the demo prints its guide.
        package let onServerRunning: @Sendable () async -> Void
    }

    package init(
        configuration: GatewayConfiguration, logger: Logger = Logger(label: "gatewayd"),
        onReady: @escaping @Sendable () async -> Void = {}
    ) {
        (self.configuration, self.logger, self.onReady) = (configuration, logger, onReady)
    }

    /// swift-metrics can be bootstrapped once per process: the registry it exports through.
    package static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    package func run() async throws {
        let registry = Self.registry
        let directory = configuration.dataDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = try configuration.signingKeyFile.map { try GatewayKey.loadOrCreatePublishing(at: $0) }
        let pipeline = try GatewayPipeline.open(
            directory: directory, zone: configuration.defaultZone, zones: configuration.zones,
            testSubjects: configuration.testSubjects, key: key,
            notificationLingerSeconds: configuration.notificationLingerSeconds)
        defer { pipeline.close() }
        let recovered = try await pipeline.engine.recover()
        if recovered.confirmed + recovered.appended > 0 {
            logger.notice(
                "recovered readings journaled before the last stop",
                metadata: [
                    "confirmed": "\(recovered.confirmed)", "appended": "\(recovered.appended)",
                ])
        }
        for mapping in configuration.devices {
            let released = try await pipeline.engine.mapSubject(
                deviceKey: mapping.device, userID: mapping.user, subject: mapping.subject)
            if released > 0 {
                logger.notice(
                    "released quarantined readings", metadata: ["device": "\(mapping.device)", "count": "\(released)"])
            }
        }

        let (host, port, security) = try configuration.apiListener()
        let notifier = SystemdNotifier()
        var services: [any Service] = []
        // Simulated and radio devices report each reading the same way. No health values at info level: what
        // happened, to which device and whose reading.
        let readingLogger = logger
        let logReading: @Sendable (IngestOutcome, Reading) async -> Void = { outcome, reading in
            readingLogger.info(
                "reading",
                metadata: [
                    "outcome": "\(outcomeLabel(outcome))", "kind": "\(reading.kind.rawValue)",
                    "device": "\(reading.device.key)",
                    "subject": "\(reading.subject ?? "-")",
                ])
        }
        let mapper = GatewayPipeline.mapperOptions(gatewayID: configuration.gatewayID, zone: configuration.defaultZone)
        let pairing = DevicePairing(
            pipeline: pipeline, configuration: configuration, logger: logger,
            unavailable: configuration.bluetooth == nil
                ? "This gateway has no Bluetooth radio configured (bluetooth: { controller: hci0 } in its configuration)."
                : "The Bluetooth radio is starting.")
        if let simulatedPairing { await pairing.attach(radio: simulatedPairing) }
        if !configuration.simulatedDevices.isEmpty {
            let fleet = SimulatedFleet(
                specs: configuration.simulatedDevices, pipeline: pipeline, zone: configuration.defaultZone,
                mapper: mapper, logger: logger,
                onReading: logReading)
            services.append(FleetService(fleet: fleet))
        }
        if let bluetooth = configuration.bluetooth {
            services.append(
                BondedDeviceService(
                    settings: bluetooth, dataDirectory: directory, pipeline: pipeline, zone: configuration.defaultZone,
                    mapper: mapper, logger: logger, pairing: pairing, onReading: logReading))
        }
        // After the devices stop (the group stops services in reverse order), pending windows get their final version.
        services.append(
            SummaryFlushService(
                engine: pipeline.engine, intervalSeconds: Double(GatewayPipeline.summaryCoalesceMicros) / 1_000_000))
        let client = HTTPTransport.makeClient()
        var outbox: Outbox?
        if !configuration.destinations.isEmpty {
            let (sync, opened) = try SyncService.open(configuration: configuration)
            outbox = opened
            services.append(
                SyncWorkerService(
                    sync: sync, transport: try HTTPTransport(client: client, destinations: configuration.destinations)))
        }
        if let age = configuration.retentionRawAgeSeconds {
            services.append(
                RetentionService(
                    engine: pipeline.engine, rawAgeSeconds: age, outbox: outbox,
                    destinations: configuration.destinations.map(\.name),
                    logger: logger))
        }
        let ready = onReady
        let readyLogger = logger
        let listen = configuration.api.listen
        let fingerprint = security.fingerprint
        let scheme = security.scheme
        let application = try server(
            DaemonParts(
                configuration: configuration, pipeline: pipeline, pairing: pairing, host: host, port: port,
                security: security, logger: logger, metrics: registry,
                onServerRunning: {
                    var metadata: Logger.Metadata = ["api": "\(scheme)://\(listen)/fhir"]
                    if let fingerprint { metadata["tls_sha256"] = "\(fingerprint)" }
                    readyLogger.notice("gatewayd is running", metadata: metadata)
                    notifier.notify("READY=1\nSTATUS=serving FHIR on \(listen)")
                    await ready()
                }))
        // A group shuts its services down in reverse order: the devices first (their links end, every acknowledged
        // reading is on disk — draining what they sent can take a while on a loaded Pi), then sync, then the API, then
        // the engine (what they all handed over is batched), and the watchdog last. A service still not done after 60 s (an HTTP keep-alive connection, say) is cancelled;
        // hw/gatewayd.service allows 90 s before systemd kills.
        var watchdog: [any Service] = []
        if let interval = SystemdNotifier.watchdogInterval() {
            watchdog.append(WatchdogService(notifier: notifier, interval: interval))
        }
        var configurations = (watchdog + [EngineService(engine: pipeline.engine), application] + services.reversed())
            .map {
                ServiceGroupConfiguration.ServiceConfiguration(service: $0)
            }
        if let stopAfter {
            // Returning ends the group as a signal would: every service is shut down gracefully.
            configurations.append(
                .init(
                    service: StopAfterService(duration: stopAfter), successTerminationBehavior: .gracefullyShutdownGroup
                ))
        }
        var group = ServiceGroupConfiguration(
            services: configurations, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = .seconds(60)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            notifier.notify("STOPPING=1")
            try? await client.shutdown()
            throw error
        }
        notifier.notify("STOPPING=1")
        try? await client.shutdown()
        logger.notice("gatewayd stopped; every acknowledged reading is on disk")
    }
}

/// The daemon was not given what it needs to run.
package struct GatewayDaemonError: Error, CustomStringConvertible {
    package var description: String
}

/// Returns after `duration` (the group then shuts down gracefully), or at once when the group is shutting down anyway.
package struct StopAfterService: Service {
    package let duration: Duration
    package let clock: any Clock<Duration>

    package init(duration: Duration, clock: any Clock<Duration> = ContinuousClock()) {
        (self.duration, self.clock) = (duration, clock)
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown { try? await clock.sleep(for: duration, tolerance: nil) }
    }
}

/// The simulated devices as a service: cancelled on graceful shutdown, which ends their links.
package struct FleetService: Service {
    package let fleet: SimulatedFleet

    package init(fleet: SimulatedFleet) { self.fleet = fleet }
    package func run() async throws {
        await cancelWhenGracefulShutdown { await fleet.run() }
        fleet.logger.notice("devices stopped")
    }
}

package struct SyncWorkerService: Service {
    package let sync: SyncService
    package let transport: HTTPTransport
    package var clock: any Clock<Duration> = ContinuousClock()

    package init(sync: SyncService, transport: HTTPTransport) { (self.sync, self.transport) = (sync, transport) }
    package func run() async throws {
        await cancelWhenGracefulShutdown { await sync.run(transport: transport, clock: clock) }
        sync.logger.notice("sync stopped")
    }
}
