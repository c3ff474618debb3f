import Foundation
import StreamEngine
import Logging
import ServiceLifecycle
import TimeSeries

/// `retention.raw_age`: once an hour, raw chunks older than the cutoff are replaced by 1 min / 1 h / 1 day rollups
/// (which keep answering queries that exclude flagged readings). The engine's archive keeps every reading's record.
struct RetentionService: Service {
    let store: TimeSeriesStore
    let rawAgeSeconds: Double
    let logger: Logger

    func run() async throws {
        await repeatUntilGracefulShutdown(every: .seconds(3600)) {
            let cutoff = Int64((Date().timeIntervalSince1970 - rawAgeSeconds) * 1_000_000)
            do {
                let report = try store.applyRetention(rawOlderThan: cutoff)
                logger.info("retention applied", metadata: ["report": "\(report)"])
            } catch {
                logger.error("retention failed; raw data kept", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Revises summary windows that have been pending for the coalescing interval while no batch arrives (a strap that
/// stopped), and every pending one at shutdown, so the final version of each window reaches the outbox.
struct SummaryFlushService: Service {
    let engine: StreamEngine
    let intervalSeconds: Double

    func run() async throws {
        await repeatUntilGracefulShutdown(every: .seconds(intervalSeconds)) { await engine.flushSummaries() }
        await engine.flushSummaries(all: true)
    }
}
