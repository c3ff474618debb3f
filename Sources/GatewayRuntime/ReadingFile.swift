import Foundation
import Provenance

/// A file of readings, one JSON `Reading` per line: a source like any device, except that nothing waits for a
/// confirmation. Identities make importing the same file twice store nothing twice.
///
/// Lines are decoded a chunk at a time, when the pipeline asks for more (so a week-long file never sits decoded in
/// memory), the chunk's halves on two cores; the file is mapped, not read into memory.
package struct ReadingFile: AsyncSequence, Sendable {
    /// A chunk of readings at a time, for `StreamEngine.ingest(batch:)`: no task and no actor hop per reading.
    package typealias Element = [PendingReading]

    package enum ImportError: Error, CustomStringConvertible {
        case unreadable(String)
        case badLine(path: String, line: Int, reason: String)
        package var description: String {
            switch self {
            case .unreadable(let path): "cannot read \(path)"
            case .badLine(let path, let line, let reason):
                "\(path) line \(line): not a reading (\(reason)); nothing from this line on was imported"
            }
        }
    }

    package let path: String
    /// Lines decoded per chunk.
    package var chunkLines = 2048

    package static func readings(path: String) -> ReadingFile { ReadingFile(path: path) }

    package func makeAsyncIterator() -> Iterator { Iterator(path: path, chunkLines: chunkLines) }

    package struct Iterator: AsyncIteratorProtocol {
        package let path: String
        package let chunkLines: Int
        private var data: Data?
        private var offset = 0
        private var lineNumber = 0
        private var failure: ImportError?
        /// The next chunk, decoding while the pipeline stores this one (decode and ingest overlap on two cores).
        private var prefetch: Task<([PendingReading], ImportError?), Never>?

        package init(path: String, chunkLines: Int) {
            self.path = path
            self.chunkLines = chunkLines
        }

        /// The next chunk's readings (nil at the end of the file). Readings before the first bad line are returned;
        /// the call after that throws, naming the line.
        package mutating func next() async throws -> [PendingReading]? {
            if let failure {
                self.failure = nil
                offset = Int.max
                prefetch = nil
                throw failure
            }
            if data == nil {
                guard let mapped = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
                    throw ImportError.unreadable(path)
                }
                data = mapped
            }
            guard let task = prefetch ?? startNextChunk() else { return nil }
            let (readings, error) = await task.value
            prefetch = error == nil ? startNextChunk() : nil
            failure = error
            if readings.isEmpty { return try await next() }
            return readings
        }

        /// Starts decoding the lines after `offset` (nil at the end of the file).
        private mutating func startNextChunk() -> Task<([PendingReading], ImportError?), Never>? {
            guard let data, offset < data.count else { return nil }
            // The next chunk's lines, numbered from 1 as in the file.
            var lines: [(number: Int, range: Range<Int>)] = []
            data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                while lines.count < chunkLines, offset < bytes.count {
                    let end = bytes[offset...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
                    lineNumber += 1
                    if end > offset { lines.append((lineNumber, offset..<end)) }
                    offset = end + 1
                }
            }
            let path = path
            return Task { await Self.decode(lines, of: data, path: path) }
        }

        /// Decodes lines, the two halves on two cores; stops at the first line that is not a reading.
        private static func decode(_ lines: [(number: Int, range: Range<Int>)], of data: Data, path: String) async -> (
            [PendingReading], ImportError?
        ) {
            let halves = [lines.prefix(lines.count / 2), lines.dropFirst(lines.count / 2)]
            let results = await withTaskGroup(of: (Int, [PendingReading], ImportError?).self) { group in
                for (part, half) in halves.enumerated() {
                    group.addTask {
                        let decoder = ReadingLineDecoder()
                        var readings: [PendingReading] = []
                        readings.reserveCapacity(half.count)
                        for line in half {
                            do {
                                let reading = try decoder.decode([UInt8](data[line.range]))
                                readings.append(PendingReading(reading: reading, awaitsConfirmation: false) {})
                            } catch {
                                return (
                                    part, readings,
                                    .badLine(path: path, line: line.number, reason: "\(error)".prefix(120).description)
                                )
                            }
                        }
                        return (part, readings, nil)
                    }
                }
                var results: [(Int, [PendingReading], ImportError?)] = []
                for await result in group { results.append(result) }
                return results.sorted { $0.0 < $1.0 }
            }
            var decoded: [PendingReading] = []
            for (_, readings, error) in results {
                decoded += readings
                if let error { return (decoded, error) }
            }
            return (decoded, nil)
        }
    }
}
