import Logging

/// The process's logging: one line per event on stderr, every module's logger at `level`. Bootstrapped once, by the
/// commands that run the daemon (`run` at --log-level, `demo` quiet so its guide is its output).
package enum GatewayLogging {
    /// Bootstraps the logging system; returns the gateway's own logger.
    package static func bootstrap(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "gatewayd")
        logger.logLevel = level
        return logger
    }
}
