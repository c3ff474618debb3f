import Synchronization

/// A single-consumer stream whose producer waits while `capacity` elements are unread.
///
/// Why not `AsyncThrowingStream`: its buffer only grows, so when the disk is slower than a hub's devices the backlog
/// piles up as decoded events and ~900-byte readings at every stage between the link and the engine. With this channel
/// at each stage a full engine queue stops the collector, the collector stops the profile session, and the session
/// stops reading its inbox: the backlog waits as the link's raw PDUs (tens of bytes each), where it started.
public final class BoundedChannel<Element: Sendable>: AsyncSequence, Sendable {
    public typealias Failure = any Error

    private struct State {
        /// At most `capacity` plus the waiting producers' elements: small, so taking the first is a short move, and
        /// nothing taken stays referenced by the buffer.
        var buffer: [Element] = []
        var finished = false
        var failure: (any Error)?
        /// The consumer waiting for an element.
        var consumer: CheckedContinuation<Element?, any Error>?
        /// Producers waiting for room, by ticket.
        var producers: [(ticket: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextTicket = 0
        /// The consumer went away (or was cancelled): producers are told, and nothing is buffered any more.
        var terminated = false
        var onTermination: (@Sendable () -> Void)?

        var count: Int { buffer.count }

        mutating func removeFirst() -> Element { buffer.removeFirst() }
    }

    public let capacity: Int
    private let state: Mutex<State>

    public init(capacity: Int) {
        self.capacity = Swift.max(1, capacity)
        var initial = State()
        initial.buffer.reserveCapacity(self.capacity + 1)
        state = Mutex(initial)
    }

    /// How many producers wait for room: the stages back-pressure holds right now (tests wait for it instead of time).
    package var waitingProducers: Int { state.withLock { $0.producers.count } }

    /// Runs once when the consumer goes away before the stream finished (e.g. to cancel the producing task).
    public func onTermination(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.terminated { return true }
            state.onTermination = action
            return false
        }
        if runNow { action() }
    }

    /// Hands `element` to the consumer; returns once the unread elements are within `capacity` again.
    /// Throws `CancellationError` when the consumer has gone away (the element is dropped) or the producer is cancelled.
    public func send(_ element: Element) async throws {
        let ticket = try state.withLock { state -> Int? in
            if state.terminated || state.finished { throw CancellationError() }
            if let consumer = state.consumer {
                state.consumer = nil
                consumer.resume(returning: element)
                return nil
            }
            state.buffer.append(element)
            if state.count <= capacity { return nil }
            state.nextTicket += 1
            return state.nextTicket
        }
        guard let ticket else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                state.withLock { state in
                    if state.terminated {
                        continuation.resume(throwing: CancellationError())
                    } else if state.count <= capacity {
                        continuation.resume()
                    } else {
                        state.producers.append((ticket, continuation))
                    }
                }
            }
        } onCancel: {
            let parked = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.producers.firstIndex(where: { $0.ticket == ticket }) else { return nil }
                return state.producers.remove(at: index).continuation
            }
            parked?.resume(throwing: CancellationError())
        }
    }

    /// Ends the stream after the elements already sent (with `error`, if any).
    public func finish(throwing error: (any Error)? = nil) {
        let consumer = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
            guard !state.finished else { return nil }
            state.finished = true
            state.failure = error
            defer { state.consumer = nil }
            return state.consumer
        }
        guard let consumer else { return }
        if let error { consumer.resume(throwing: error) } else { consumer.resume(returning: nil) }
    }

    /// The consumer is gone: producers waiting for room are released with `CancellationError`.
    fileprivate func terminate() {
        let (producers, consumer, action) = state.withLock { state in
            guard !state.terminated else {
                return (
                    [CheckedContinuation<Void, any Error>](), CheckedContinuation<Element?, any Error>?.none,
                    (@Sendable () -> Void)?.none
                )
            }
            state.terminated = true
            state.buffer.removeAll()
            let producers = state.producers.map(\.continuation)
            state.producers.removeAll()
            defer {
                state.consumer = nil
                state.onTermination = nil
            }
            return (producers, state.consumer, state.finished ? nil : state.onTermination)
        }
        for producer in producers { producer.resume(throwing: CancellationError()) }
        consumer?.resume(returning: nil)
        action?()
    }

    fileprivate func next() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
                let (result, released) = state.withLock {
                    state -> (Result<Element?, any Error>?, [CheckedContinuation<Void, any Error>]) in
                    if state.count > 0 {
                        let element = state.removeFirst()
                        var released: [CheckedContinuation<Void, any Error>] = []
                        while state.count <= capacity, !state.producers.isEmpty {
                            released.append(state.producers.removeFirst().continuation)
                        }
                        return (.success(element), released)
                    }
                    if state.terminated { return (.success(nil), []) }
                    if state.finished {
                        defer { state.failure = nil }
                        return (state.failure.map { .failure($0) } ?? .success(nil), [])
                    }
                    state.consumer = continuation
                    return (nil, [])
                }
                for producer in released { producer.resume() }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            terminate()
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        /// Ends the channel when the consumer drops its iterator (leaves its loop) before the end.
        private final class Lifetime: Sendable {
            let channel: BoundedChannel
            init(_ channel: BoundedChannel) { self.channel = channel }
            deinit { channel.terminate() }
        }
        private let lifetime: Lifetime

        fileprivate init(_ channel: BoundedChannel) { lifetime = Lifetime(channel) }

        public mutating func next() async throws -> Element? { try await lifetime.channel.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(self) }
}

extension BoundedChannel {
    /// Runs `produce` in a task that sends into a new channel; the channel finishes with its error, and the task is
    /// cancelled when the consumer goes away.
    public static func producing(
        capacity: Int, _ produce: @escaping @Sendable (BoundedChannel<Element>) async throws -> Void
    ) -> BoundedChannel<Element> {
        let channel = BoundedChannel(capacity: capacity)
        let task = Task {
            do {
                try await produce(channel)
                channel.finish()
            } catch {
                channel.finish(throwing: error)
            }
        }
        channel.onTermination { task.cancel() }
        return channel
    }
}
