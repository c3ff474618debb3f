import Foundation

/// Two bearers joined in memory: the same PDUs as a socketpair without a file descriptor, for tests and
/// benchmarks that run thousands of links.
public final class InProcessBearer: ATTBearer, @unchecked Sendable {
    private let lock = NSLock()
    private var isClosed = false
    private var reason: BearerError?
    private let ownContinuation: AsyncStream<[UInt8]>.Continuation
    private weak var peer: InProcessBearer?
    public let incoming: AsyncStream<[UInt8]>

    private init() {
        (incoming, ownContinuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .unbounded)
    }

    public static func pair() -> (InProcessBearer, InProcessBearer) {
        let a = InProcessBearer()
        let b = InProcessBearer()
        a.peer = b
        b.peer = a
        return (a, b)
    }

    public var closeReason: BearerError? { lock.withLock { reason } }

    public func send(_ pdu: [UInt8]) async throws(BearerError) {
        guard !lock.withLock({ isClosed }), let peer else { throw .closed }
        peer.deliver(pdu)
    }

    private func deliver(_ pdu: [UInt8]) {
        guard !lock.withLock({ isClosed }) else { return }
        ownContinuation.yield(pdu)
    }

    public func close() {
        finish(reason: nil)
        peer?.finish(reason: .closed)
    }

    private func finish(reason: BearerError?) {
        let wasOpen = lock.withLock {
            let wasOpen = !isClosed
            if wasOpen {
                isClosed = true
                self.reason = reason
            }
            return wasOpen
        }
        if wasOpen { ownContinuation.finish() }
    }
}
