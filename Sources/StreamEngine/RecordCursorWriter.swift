import Synchronization

/// Keeps a meter's stored-record cursor in the archive without holding up acknowledgements: a cursor moves with every
/// durable record, and writing it inline made each confirmation wait for the archive (a cuff's indication acknowledged
/// after a meter's records in the same batch waited for all of their writes: ~4 ms at a hub's p99). The newest
/// position is kept and written by a child task of the connection (`writing(to:_:)`), in order; `flush` waits until
/// everything saved is written (a connection's end, so the next connection reads it).
public final class RecordCursorWriter: Sendable {
    private let archive: ReadingArchive
    private struct State {
        /// The newest position per device not yet written (nil: the meter restarted from its first record).
        var pending: [String: UInt16?] = [:]
        /// Set from a save until the writer has written it.
        var writing = false
        /// `flush` callers waiting for the writer to finish.
        var flushed: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    private init(archive: ReadingArchive) {
        self.archive = archive
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs `body` (a connection's work) with a writer whose writes are a child task of this call; returns once
    /// `body` has and every position it saved is in the archive.
    public static func writing<Value, Failure: Error>(
        to archive: ReadingArchive, isolation: isolated (any Actor)? = #isolation,
        _ body: (RecordCursorWriter) async throws(Failure) -> Value
    ) async throws(Failure) -> Value {
        let writer = RecordCursorWriter(archive: archive)
        let outcome = await withTaskGroup(of: Void.self, returning: Result<Value, Failure>.self, isolation: isolation) {
            group in
            group.addTask { await writer.write() }
            let outcome: Result<Value, Failure>
            do throws(Failure) { outcome = .success(try await body(writer)) } catch { outcome = .failure(error) }
            writer.wake.finish()  // the writer writes what is left, then ends
            return outcome
        }
        return try outcome.get()
    }

    /// Records the device's new position; the write happens shortly after, off the caller's path.
    public func save(deviceKey: String, next: UInt16?) {
        state.withLock { state in
            state.pending[deviceKey] = .some(next)
            state.writing = true
        }
        wake.yield()
    }

    /// Returns once every saved position is in the archive.
    public func flush() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                guard state.writing else { return true }
                state.flushed.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// The writer: each wake writes the newest positions saved since the last, several devices in one transaction.
    private func write() async {
        for await _ in wakes { writePending() }
        writePending()
    }

    private func writePending() {
        while true {
            let (batch, flushed) = state.withLock { state -> ([String: UInt16?], [CheckedContinuation<Void, Never>]) in
                let batch = state.pending
                state.pending = [:]
                guard batch.isEmpty else { return (batch, []) }
                state.writing = false
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
