import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The data directory's ingest lock (DATA/ingest.lock, `flock`): the engine holds it while it writes a batch — journal,
/// store, ledger, mark — or applies retention; `gatewayd backup` holds it while it copies, so the copy is the data
/// directory between two batches, as a power cut there would leave it, whichever process runs the engine.
///
/// An flock belongs to an open file description: two instances exclude each other in one process as across processes.
public final class IngestLock: @unchecked Sendable {
    public static let fileName = "ingest.lock"
    public let path: String
    private let descriptor: Int32

    public init(path: String) throws {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw IngestLockError.cannotOpen(path: path, errno: errno) }
    }

    public convenience init(dataDirectory: String) throws { try self.init(path: dataDirectory + "/" + Self.fileName) }

    deinit { close(descriptor) }

    /// Waits for the lock (a backup copying, or a batch being written) and takes it.
    public func lock() {
        while flock(descriptor, LOCK_EX) != 0, errno == EINTR {}
    }

    /// Takes the lock if nobody holds it.
    public func tryLock() -> Bool { flock(descriptor, LOCK_EX | LOCK_NB) == 0 }

    public func unlock() { _ = flock(descriptor, LOCK_UN) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

public enum IngestLockError: Error, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code): "cannot open the ingest lock \(path): \(String(cString: strerror(code)))"
        }
    }
}
