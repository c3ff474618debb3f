import Foundation

/// Finds one entry of a ledger file by its sequence number without reading the whole file: entries are appended in
/// sequence order, one line each, so a binary search over byte offsets reads about log2(lines) lines. Readers in
/// another process (the API beside a running daemon) use it; the file is only read. Lines that do not decode (a torn
/// tail, damage that `gatewayd verify` reports) are stepped over.
public enum LedgerLookup {
    public static func entry(sequence: Int, inFile path: String) -> LedgerEntry? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), size > 0 else { return nil }
        var low: UInt64 = 0
        var high = size
        while low < high {
            let middle = low + (high - low) / 2
            guard let line = firstLine(handle, from: middle, size: size), line.start < high else {
                high = middle
                continue
            }
            guard let entry = line.entry else {
                // An undecodable line: look on both sides of it by narrowing to the side that still has lines.
                if let before = scan(handle, from: low, to: line.start, sequence: sequence) { return before }
                low = line.end + 1
                continue
            }
            if entry.sequence == sequence { return entry }
            if entry.sequence < sequence { low = line.end + 1 } else { high = middle }
        }
        return nil
    }

    /// The first complete line starting at or after `offset` (a line starts at 0 or after a newline).
    static func firstLine(_ handle: FileHandle, from offset: UInt64, size: UInt64) -> (
        start: UInt64, end: UInt64, entry: LedgerEntry?
    )? {
        var start = offset
        if offset > 0 {
            guard let newline = find(handle, newlineFrom: offset - 1, size: size) else { return nil }
            start = newline + 1
        }
        guard start < size, let end = find(handle, newlineFrom: start, size: size) else { return nil }
        try? handle.seek(toOffset: start)
        guard let data = try? handle.read(upToCount: Int(end - start)) else { return nil }
        return (start, end, try? JSONDecoder().decode(LedgerEntry.self, from: data))
    }

    /// The offset of the first newline at or after `offset`.
    static func find(_ handle: FileHandle, newlineFrom offset: UInt64, size: UInt64) -> UInt64? {
        var position = offset
        while position < size {
            try? handle.seek(toOffset: position)
            guard let chunk = try? handle.read(upToCount: 65_536), !chunk.isEmpty else { return nil }
            if let index = chunk.firstIndex(of: 0x0A) { return position + UInt64(index - chunk.startIndex) }
            position += UInt64(chunk.count)
        }
        return nil
    }

    /// A linear look through [from, to): only around damaged lines.
    static func scan(_ handle: FileHandle, from: UInt64, to: UInt64, sequence: Int) -> LedgerEntry? {
        try? handle.seek(toOffset: from)
        guard to > from, let data = try? handle.read(upToCount: Int(to - from)) else { return nil }
        for line in data.split(separator: 0x0A) {
            if let entry = try? JSONDecoder().decode(LedgerEntry.self, from: Data(line)), entry.sequence == sequence {
                return entry
            }
        }
        return nil
    }
}
