import AsyncHTTPClient
import FHIR
import Foundation
import Logging
import Metrics
import Provenance
import StreamEngine

/// The PHR sync workers of a data directory: one `SyncClient` per configured destination, each feeding its
/// outbox from the engine's durable feeds and delivering, every `interval`, until cancelled. Every attempt is a
/// share in the audit log (what went where, for whom, and how it ended).
package struct SyncService: Sendable {
    package let clients: [SyncClient]
    package let audit: AuditLog
    package let logger: Logger

    package init(configuration: GatewayConfiguration, outbox: Outbox, archive: ReadingArchive, audit: AuditLog) {
        let zones = configuration.zones
        let fallback = configuration.defaultZone
        let gateway = GatewayRecord(id: configuration.gatewayID, softwareVersion: GatewayVersion.current)
        let decorate = JapaneseCoding.decorator(enabled: configuration.api.japaneseCoding)
        let host = GatewayDeviceInfo.host()
        let dayParts = Dictionary(
            configuration.subjects.map { ($0.id, $0.windows) }, uniquingKeysWith: { first, _ in first })
        clients = configuration.destinations.map { destination in
            SyncClient(
                destination: destination, outbox: outbox, archive: archive, gateway: gateway, gatewayInfo: host,
                persons: configuration.subjects.map(\.patient),
                ledgerPath: configuration.dataDirectory + "/ledger/" + Ledger.fileName,
                zones: { zones[$0] ?? fallback },
                dayParts: { subject in dayParts[subject] ?? .standard }, decorate: decorate)
        }
        self.audit = audit
        logger = Logger(label: "gatewayd.sync")
    }

    package static func open(configuration: GatewayConfiguration) throws -> (SyncService, Outbox) {
        let directory = configuration.dataDirectory
        let outbox = try Outbox(path: directory + "/outbox.sqlite")
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        let audit = try AuditLog(path: directory + "/audit.jsonl")
        return (SyncService(configuration: configuration, outbox: outbox, archive: archive, audit: audit), outbox)
    }

    /// One pass over every destination: feed, then deliver until nothing is due. Returns each destination's last result.
    package func runOnce(transport: any FHIRTransport) async -> [(String, SyncClient.DeliveryResult)] {
        var results: [(String, SyncClient.DeliveryResult)] = []
        for client in clients {
            results.append((client.destination.name, await pass(client, transport: transport)))
        }
        return results
    }

    private func pass(_ client: SyncClient, transport: any FHIRTransport) async -> SyncClient.DeliveryResult {
        defer { publish(client) }
        let audit = self.audit
        do {
            try client.feed(nowMicros: Self.now())
            // Batch after batch until nothing is due; the pass reports the totals (or why it stopped).
            var sent = 0
            var refused = 0
            for _ in 0..<1000 {
                let result = try await client.deliver(
                    transport: transport, nowMicros: Self.now(),
                    onShare: { share in
                        audit.recordShare(
                            destination: share.destination, subjects: share.subjects, resources: share.resources,
                            status: share.status,
                            detail: share.detail)
                    },
                    onWithdraw: { withdrawal in
                        audit.recordWithdrawal(destination: withdrawal.destination, removed: withdrawal.removed)
                    })
                guard case .delivered(let batchSent, let batchRefused) = result else {
                    return result == .idle && sent + refused > 0 ? .delivered(sent: sent, refused: refused) : result
                }
                sent += batchSent
                refused += batchRefused
            }
            return .delivered(sent: sent, refused: refused)
        } catch {
            logger.error(
                "sync pass failed", metadata: ["destination": "\(client.destination.name)", "error": "\(error)"])
            return .failed("\(error)")
        }
    }

    /// Runs every destination's loop until the task is cancelled, a pass every `interval` of `clock`.
    package func run(transport: any FHIRTransport, clock: any Clock<Duration> = ContinuousClock()) async {
        await withTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask {
                    while !Task.isCancelled {
                        _ = await pass(client, transport: transport)
                        try? await clock.sleep(for: .seconds(client.destination.intervalSeconds))
                    }
                }
            }
        }
    }

    /// The outbox's state as gauges, per destination.
    private func publish(_ client: SyncClient) {
        guard let report = try? client.outbox.report(destination: client.destination.name) else { return }
        let dimensions = [("destination", client.destination.name)]
        Gauge(label: "gatewayd_outbox_pending", dimensions: dimensions).record(report.pending)
        Gauge(label: "gatewayd_outbox_refused", dimensions: dimensions).record(report.failed)
        Gauge(label: "gatewayd_outbox_lag_seconds", dimensions: dimensions).record(report.medianLagSeconds ?? 0)
    }

    package static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }
}
