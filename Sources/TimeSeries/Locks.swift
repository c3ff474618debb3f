import Foundation

/// A plain mutex for state shared between the log thread and callers. NSLock keeps the store free of
/// availability annotations that `Synchronization.Mutex` would need on Apple platforms.
typealias NSLockish = NSLock

extension NSLock {
    @inline(__always) func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

extension NSCondition {
    @inline(__always) func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
