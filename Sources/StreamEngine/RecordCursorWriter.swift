import Synchronization

/// Keeps meters' stored-record cursors in the archive without holding up acknowledgements: a cursor moves with every
/// durable record, and writing it inline made each confirmation wait for the archive (a cuff's indication acknowledged
/// after a meter's records in the same batch waited for all of their writes: ~4 ms at a hub's p99). Each device's
/// newest position is kept and written by one task, several devices in one transaction, in order; `flush` waits until
/// everything saved is written (a connection's end, so the next connection reads it).
public final class RecordCursorWriter: Sendable {
    private let archive: ReadingArchive
    private struct State {
        /// The newest position per device not yet written (nil: the meter restarted from its first record).
        var pending: [String: UInt16?] = [:]
        var draining = false
        /// `flush` callers waiting for the drain to finish.
        var flushed: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    public init(archive: ReadingArchive) { self.archive = archive }

    /// Records the device's new position; the write happens shortly after, off the caller's path.
    public func save(deviceKey: String, next: UInt16?) {
        let start = state.withLock { state -> Bool in
            state.pending[deviceKey] = .some(next)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if start { Task.detached { self.drain() } }
    }

    /// Returns once every saved position is in the archive.
    public func flush() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                guard state.draining || !state.pending.isEmpty else { return true }
                state.flushed.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func drain() {
        while true {
            let (batch, flushed) = state.withLock { state -> ([String: UInt16?], [CheckedContinuation<Void, Never>]) in
                let batch = state.pending
                state.pending = [:]
                guard batch.isEmpty else { return (batch, []) }
                state.draining = false
                defer { state.flushed = [] }
                return (batch, state.flushed)
            }
            guard !batch.isEmpty else {
                for waiter in flushed { waiter.resume() }
                return
            }
            // A position not written is only records asked for again (dedupe keeps them once).
            try? archive.setRecordCursors(batch.map { ($0.key, $0.value) })
        }
    }
}
