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
        while state.withLock({ $0.draining || !$0.pending.isEmpty }) { try? await Task.sleep(for: .milliseconds(1)) }
    }

    private func drain() {
        while true {
            let batch = state.withLock { state -> [String: UInt16?] in
                let batch = state.pending
                state.pending = [:]
                if batch.isEmpty { state.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            // A position not written is only records asked for again (dedupe keeps them once).
            try? archive.setRecordCursors(batch.map { ($0.key, $0.value) })
        }
    }
}
