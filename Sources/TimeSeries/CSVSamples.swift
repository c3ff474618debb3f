/// Why a CSV file of samples was refused; names the line and column so the file can be fixed.
public struct CSVImportError: Error, CustomStringConvertible, Equatable {
    public let line: Int
    public let problem: String
    public var description: String { line == 0 ? problem : "line \(line): \(problem)" }
}

/// Reads samples from CSV: a header naming the time column and its unit (`ts_ms`, `ts_us` or `ts_s`, UTC since
/// 1970), then a value column (an exact decimal literal such as `120.5`), and optionally `flags` and `tag`.
///
/// Parsing works on bytes and builds decimals digit by digit, so "120.5" is stored as (1205, -1) exactly.
/// Input ending in `.zst` bytes (zstd magic) is decompressed first.
public enum CSVSamples {
    public static func parse(_ input: [UInt8]) throws(CSVImportError) -> [Sample] {
        var bytes = input
        if bytes.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) {
            do { bytes = try Zstd.decompressStream(input) } catch {
                throw CSVImportError(line: 0, problem: "the file looks zstd-compressed but \(error)")
            }
        }
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)[...]
        guard let headerLine = lines.popFirst() else { throw CSVImportError(line: 1, problem: "the file is empty") }
        let header = fields(headerLine).map { String(decoding: $0, as: UTF8.self).lowercased() }
        guard header.count >= 2 else {
            throw CSVImportError(line: 1, problem: "the header needs a time column and a value column, e.g. ts_ms,bpm")
        }
        let scale: Int64
        switch header[0] {
        case "ts_us": scale = 1
        case "ts_ms": scale = 1_000
        case "ts_s": scale = 1_000_000
        default:
            throw CSVImportError(
                line: 1, problem: "the first column is '\(header[0])'; expected ts_us, ts_ms or ts_s (UTC since 1970)")
        }
        let flagsColumn = header.firstIndex(of: "flags")
        let tagColumn = header.firstIndex(of: "tag")
        var samples: [Sample] = []
        samples.reserveCapacity(lines.count)
        for (index, line) in lines.enumerated() {
            let lineNumber = index + 2
            let trimmed = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
            if trimmed.isEmpty { continue }
            let columns = fields(trimmed)
            guard columns.count == header.count else {
                throw CSVImportError(
                    line: lineNumber, problem: "has \(columns.count) columns, the header has \(header.count)")
            }
            guard let time = integer(columns[0]) else {
                throw CSVImportError(line: lineNumber, problem: "time '\(text(columns[0]))' is not an integer")
            }
            let (micros, overflow) = time.multipliedReportingOverflow(by: scale)
            guard !overflow else {
                throw CSVImportError(line: lineNumber, problem: "time '\(text(columns[0]))' is out of range")
            }
            guard let value = DecimalValue(parsing: text(columns[1])) else {
                throw CSVImportError(
                    line: lineNumber, problem: "value '\(text(columns[1]))' is not a decimal number like 120.5")
            }
            var flags: UInt16 = 0
            if let f = flagsColumn {
                guard let parsed = integer(columns[f]), let narrow = UInt16(exactly: parsed) else {
                    throw CSVImportError(line: lineNumber, problem: "flags '\(text(columns[f]))' is not 0…65535")
                }
                flags = narrow
            }
            var tag: UInt32?
            if let t = tagColumn, !columns[t].isEmpty {
                guard let parsed = integer(columns[t]), let narrow = UInt32(exactly: parsed) else {
                    throw CSVImportError(line: lineNumber, problem: "tag '\(text(columns[t]))' is not 0…4294967295")
                }
                tag = narrow
            }
            samples.append(Sample(timestampMicros: micros, value: value, flags: flags, contextTag: tag))
        }
        return samples
    }

    private static func fields(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { field in
            var f = field
            while f.first == UInt8(ascii: " ") { f = f.dropFirst() }
            while f.last == UInt8(ascii: " ") { f = f.dropLast() }
            return f
        }
    }

    private static func text(_ field: ArraySlice<UInt8>) -> String { String(decoding: field, as: UTF8.self) }

    private static func integer(_ field: ArraySlice<UInt8>) -> Int64? {
        var digits = field
        var negative = false
        if digits.first == UInt8(ascii: "-") {
            negative = true
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (t, o1) = value.multipliedReportingOverflow(by: 10)
            let (n, o2) = t.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = n
        }
        return negative ? -value : value
    }
}
