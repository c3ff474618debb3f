import Foundation

/// `locked` on the plain mutexes that guard state shared between the log thread and callers (the store is Linux
/// only, but its locks guard several fields at once, which NSLock does without moving them into a Mutex's value).
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
