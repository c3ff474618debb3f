import Logging
import TimeSeries

extension TimeSeriesStore {
    /// A read-only snapshot of the store at `directory` that logs only warnings: what a report or a query reads beside
    /// a running daemon, which holds the store for writing.
    package static func quietSnapshot(of directory: String) throws -> TimeSeriesStore {
        var logger = Logger(label: "gatewayd.store")
        logger.logLevel = .warning
        return try TimeSeriesStore(snapshotOf: directory, logger: logger)
    }
}
