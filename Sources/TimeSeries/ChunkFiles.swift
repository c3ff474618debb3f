import Foundation

/// Append-only data files holding sealed chunks back to back (`chunks/data-00000001.gwc`).
///
/// Many small chunks share a file instead of one file each: on an SD card every file costs at least a 4 KiB
/// block, which alone would be more than the whole compressed sample. A file is immutable once rolled over;
/// retention rewrites live chunks elsewhere and deletes whole files.
final class ChunkFiles: @unchecked Sendable {
    let directory: String
    private let maxFileBytes: Int
    private let lock = NSLock()
    private var open: [Int: StoreFile] = [:]
    private(set) var activeNumber: Int
    private var activeSize: Int
    private(set) var bytesWritten = 0
    private var readOnly = false

    static func name(_ n: Int) -> String {
        let digits = String(n)
        return "data-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".gwc"
    }

    /// Opens the data files, truncating the newest one to the end of its last catalogued chunk: bytes beyond
    /// it belong to a chunk whose catalog row never committed (a crash mid-seal); its samples are still in the log.
    init(directory: String, maxFileBytes: Int, cataloguedEnds: [Int: Int]) throws(StoreIOError) {
        self.directory = directory
        self.maxFileBytes = maxFileBytes
        try Directory.create(directory)
        let numbers = try Directory.list(directory).compactMap { name -> Int? in
            guard name.hasPrefix("data-"), name.hasSuffix(".gwc") else { return nil }
            return Int(name.dropFirst(5).dropLast(4))
        }
        activeNumber = max(numbers.max() ?? 1, cataloguedEnds.keys.max() ?? 1)
        let file = try StoreFile(path: directory + "/" + Self.name(activeNumber), create: true)
        let end = cataloguedEnds[activeNumber] ?? 0
        if try file.size > end {
            try file.truncate(to: end)
            try file.sync()
        }
        activeSize = end
        open[activeNumber] = file
    }

    /// Opens the data files of a store another process writes, for reading only: nothing is created or truncated
    /// (bytes past the last catalogued chunk may be a seal in progress), and `append` is never called.
    init(readingDirectory directory: String) {
        self.directory = directory
        maxFileBytes = 0
        activeNumber = 0
        activeSize = 0
        readOnly = true
    }

    /// Appends a chunk and makes it durable; returns where it landed.
    func append(_ bytes: [UInt8]) throws(StoreIOError) -> (file: Int, offset: Int) {
        lock.lock()
        defer { lock.unlock() }
        if activeSize > 0 && activeSize + bytes.count > maxFileBytes {
            activeNumber += 1
            let file = try StoreFile(path: directory + "/" + Self.name(activeNumber), create: true)
            try file.truncate(to: 0)
            try Directory.sync(directory)
            open[activeNumber] = file
            activeSize = 0
        }
        guard let file = open[activeNumber] else {
            throw StoreIOError(operation: "append", path: Self.name(activeNumber), code: 9)
        }
        let offset = activeSize
        try file.write(bytes, at: offset)
        try file.sync()
        activeSize += bytes.count
        bytesWritten += bytes.count
        return (activeNumber, offset)
    }

    func read(file number: Int, offset: Int, length: Int) throws(StoreIOError) -> [UInt8] {
        lock.lock()
        let handle: StoreFile
        if let cached = open[number] {
            handle = cached
        } else {
            do {
                handle = try StoreFile(path: directory + "/" + Self.name(number), create: false, readOnly: readOnly)
            } catch {
                lock.unlock()
                throw error
            }
            open[number] = handle
        }
        lock.unlock()
        return try handle.read(count: length, at: offset)
    }

    /// Deletes a data file that no catalogued chunk points into any more.
    func remove(file number: Int) throws(StoreIOError) {
        lock.lock()
        defer { lock.unlock() }
        guard number != activeNumber else { return }
        open[number] = nil
        try Directory.remove(directory + "/" + Self.name(number))
    }

    func fileSizes() -> [Int: Int] {
        lock.lock()
        defer { lock.unlock() }
        var sizes: [Int: Int] = [:]
        for name in (try? Directory.list(directory)) ?? [] {
            guard name.hasPrefix("data-"), let n = Int(name.dropFirst(5).dropLast(4)) else { continue }
            sizes[n] = (try? StoreFile(path: directory + "/" + name, create: false).size) ?? 0
        }
        return sizes
    }
}
