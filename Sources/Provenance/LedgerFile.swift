#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed system call on a ledger or key file: which call, which file, and the errno text.
public struct FileSystemError: Error, Hashable, Sendable, CustomStringConvertible {
    public let operation: String
    public let path: String
    public let code: Int32

    public init(operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))" }
}

/// Thin, checked wrappers over the few system calls the ledger and the key file need (positioned
/// reads/writes, fsync, ftruncate, flock, fstat). POSIX rather than FileHandle because the ledger must truncate
/// a torn tail, take an exclusive lock, and know exactly which call failed; every failure carries the path
/// and errno text so an operator knows which file and why.
struct LedgerFileDescriptor: Sendable {
    let path: String
    let fd: Int32

    /// Opens `path`; `create` makes it (mode `mode`, before umask) if missing.
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o640) throws(FileSystemError) -> LedgerFileDescriptor
    {
        let fd = systemOpen(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileSystemError(operation: "open", path: path, code: errno) }
        return LedgerFileDescriptor(path: path, fd: fd)
    }

    func close() { _ = systemClose(fd) }

    func size() throws(FileSystemError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileSystemError(operation: "stat", path: path, code: errno) }
        return Int(info.st_size)
    }

    /// Permission bits (`st_mode & 0o7777`) and whether it is a regular file.
    func mode() throws(FileSystemError) -> (permissions: mode_t, regular: Bool) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileSystemError(operation: "stat", path: path, code: errno) }
        return (info.st_mode & 0o7777, (info.st_mode & S_IFMT) == S_IFREG)
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(FileSystemError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pwrite(fd, base + written, raw.count - written, off_t(offset + written))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "write", path: path, code: errno)
            }
            if n == 0 { throw FileSystemError(operation: "write", path: path, code: EIO) }
            written += n
        }
    }

    /// Up to `count` bytes at `offset` (fewer at the end of the file).
    func read(count: Int, at offset: Int) throws(FileSystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pread(fd, base + done, count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "read", path: path, code: errno)
            }
            if n == 0 { break }
            done += n
        }
        if done < count { buffer.removeSubrange(done...) }
        return buffer
    }

    /// The durability point: data and size reach stable storage before this returns.
    func sync() throws(FileSystemError) {
        guard fsync(fd) == 0 else { throw FileSystemError(operation: "fsync", path: path, code: errno) }
    }

    func truncate(to length: Int) throws(FileSystemError) {
        guard ftruncate(fd, off_t(length)) == 0 else {
            throw FileSystemError(operation: "truncate", path: path, code: errno)
        }
    }

    /// Takes an exclusive advisory lock, so two gateways on one data directory cannot fork the chain; false when
    /// another process holds it.
    func lockExclusively() throws(FileSystemError) -> Bool {
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            if errno == EWOULDBLOCK { return false }
            throw FileSystemError(operation: "lock", path: path, code: errno)
        }
        return true
    }

    /// Makes a directory entry (a newly created file) durable.
    static func syncDirectory(_ path: String) throws(FileSystemError) {
        let fd = systemOpen(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw FileSystemError(operation: "open", path: path, code: errno) }
        defer { _ = systemClose(fd) }
        guard fsync(fd) == 0 else { throw FileSystemError(operation: "fsync", path: path, code: errno) }
    }
}

private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    #if canImport(Darwin)
        Darwin.open(path, flags, mode)
    #elseif canImport(Musl)
        Musl.open(path, flags, mode)
    #else
        Glibc.open(path, flags, mode)
    #endif
}

private func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Darwin)
        Darwin.close(fd)
    #elseif canImport(Musl)
        Musl.close(fd)
    #else
        Glibc.close(fd)
    #endif
}

/// The directory part of a path ("." when it has none).
func directoryOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
