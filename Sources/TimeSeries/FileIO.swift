#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed system call on a store file, with the path and errno text, so an operator knows which file.
public struct StoreIOError: Error, CustomStringConvertible {
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

/// An open file descriptor owned by exactly one value; closed when it goes away.
///
/// The store needs pwrite/pread/fdatasync/ftruncate with explicit offsets, which Foundation's FileHandle does
/// not give without copies, so this is a thin, checked wrapper over the syscalls.
final class StoreFile: @unchecked Sendable {
    let path: String
    let fd: Int32

    init(path: String, create: Bool, readOnly: Bool = false) throws(StoreIOError) {
        self.path = path
        let flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = open(path, flags, 0o640)
        guard fd >= 0 else { throw StoreIOError(operation: "open", path: path, code: errno) }
        self.fd = fd
    }

    deinit { close(fd) }

    var size: Int {
        get throws(StoreIOError) {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw StoreIOError(operation: "stat", path: path, code: errno) }
            return Int(info.st_size)
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(StoreIOError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                pwrite(fd, raw.baseAddress! + written, raw.count - written, off_t(offset + written))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreIOError(operation: "write", path: path, code: errno)
            }
            written += n
        }
    }

    func read(count: Int, at offset: Int) throws(StoreIOError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreIOError(operation: "read", path: path, code: errno)
            }
            if n == 0 { break }
            done += n
        }
        if done < count { buffer.removeSubrange(done...) }
        return buffer
    }

    func readAll() throws(StoreIOError) -> [UInt8] { try read(count: try size, at: 0) }

    /// Flushes data (and the size, when it changed) to stable storage: the durability point of the store.
    func sync() throws(StoreIOError) {
        guard fdatasync(fd) == 0 else { throw StoreIOError(operation: "fdatasync", path: path, code: errno) }
    }

    func truncate(to length: Int) throws(StoreIOError) {
        guard ftruncate(fd, off_t(length)) == 0 else {
            throw StoreIOError(operation: "truncate", path: path, code: errno)
        }
    }
}

enum Directory {
    static func create(_ path: String) throws(StoreIOError) {
        if mkdir(path, 0o750) != 0 && errno != EEXIST {
            throw StoreIOError(operation: "mkdir", path: path, code: errno)
        }
    }

    /// fsync on a directory makes a created or removed file name durable.
    static func sync(_ path: String) throws(StoreIOError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreIOError(operation: "open directory", path: path, code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StoreIOError(operation: "fsync directory", path: path, code: errno) }
    }

    static func list(_ path: String) throws(StoreIOError) -> [String] {
        guard let dir = opendir(path) else { throw StoreIOError(operation: "list", path: path, code: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func remove(_ path: String) throws(StoreIOError) {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw StoreIOError(operation: "remove", path: path, code: errno)
        }
    }

    /// Total bytes of regular files under `path` (one level of subdirectories), for bytes-per-sample reports.
    static func totalSize(_ path: String, suffix: String = "") -> Int {
        var total = 0
        for name in (try? list(path)) ?? [] {
            var info = stat()
            let full = path + "/" + name
            guard stat(full, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                total += totalSize(full, suffix: suffix)
            } else if name.hasSuffix(suffix) {
                total += Int(info.st_size)
            }
        }
        return total
    }
}
