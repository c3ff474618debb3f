import FHIR
import Foundation
import Logging
import ServiceLifecycle
import StreamEngine
import TimeSeries

/// `retention.raw_age`: once an hour, everything readings left behind that is older than the cutoff goes — the store's
/// raw chunks become 1 min / 1 h / 1 day rollups (which keep answering `$stats`), and engine.sqlite's reading rows,
/// provenance entries, registry rows, quarantine, malformed payloads and summary revisions follow, whole ledger
/// entries at a time, with a retirement entry in the ledger (`StreamEngine.applyRetention`). What a destination has not
/// read from the feed yet is kept until it has.
package struct RetentionService: Service {
    package let engine: StreamEngine
    package let rawAgeSeconds: Double
    /// Every configured destination's outbox, to keep what it has not read; nil without destinations.
    package let outbox: Outbox?
    package let destinations: [String]
    package let logger: Logger
    package var clock: any Clock<Duration> = ContinuousClock()

    package func run() async throws {
        await repeatUntilGracefulShutdown(every: .seconds(3600), clock: clock) {
            let cutoff = Int64((Date().timeIntervalSince1970 - rawAgeSeconds) * 1_000_000)
            do {
                let read = try readThrough()
                let (store, archive) = try await engine.applyRetention(
                    olderThan: cutoff, feedReadThrough: read?.readings, summariesReadThrough: read?.summaries)
                // Worth a line at the default level only when something went.
                let removed =
                    archive.readings + archive.provenanceEntries + archive.quarantined + archive.malformed
                    + archive.summaryRevisions > 0
                logger.log(
                    level: removed || archive.heldForSync ? .notice : .info, "retention applied",
                    metadata: ["store": "\(store)", "archive": "\(archive)"])
            } catch {
                logger.error("retention failed; data kept", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The lowest feed positions every destination has read (0 for one that has not read yet); nil without destinations.
    package func readThrough() throws -> (readings: Int64, summaries: Int64)? {
        guard let outbox, !destinations.isEmpty else { return nil }
        var lowest: (readings: Int64, summaries: Int64) = (.max, .max)
        for destination in destinations {
            let positions = try outbox.positions(destination: destination) ?? (summaries: 0, readings: 0)
            lowest = (min(lowest.readings, positions.readings), min(lowest.summaries, positions.summaries))
        }
        return lowest
    }
}

/// Revises summary windows that have been pending for the coalescing interval while no batch arrives (a strap that
/// stopped), and every pending one at shutdown, so the final version of each window reaches the outbox.
package struct SummaryFlushService: Service {
    package let engine: StreamEngine
    package let intervalSeconds: Double
    package var clock: any Clock<Duration> = ContinuousClock()

    package func run() async throws {
        await repeatUntilGracefulShutdown(every: .seconds(intervalSeconds), clock: clock) {
            await engine.flushSummaries()
        }
        await engine.flushSummaries(all: true)
    }
}
