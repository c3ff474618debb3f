import Provenance

/// A reading waiting for its batch, boxed: the engine's queues hold references, not ~900-byte readings in buffers
/// that only grow.
final class WaitingReading: Sendable {
    /// Hears a reading's outcome, with the reading when there is one (so no closure keeps a copy while it waits).
    typealias Completion = @Sendable (Result<IngestOutcome, any Error>, Reading?) async -> Void

    let pending: PendingReading
    let completion: Completion

    init(_ pending: PendingReading, completion: @escaping Completion) {
        self.pending = pending
        self.completion = completion
    }
}
