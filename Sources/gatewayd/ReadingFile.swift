import Foundation
import Provenance

/// A file of readings, one JSON `Reading` per line: a source like any device, except that nothing waits for a
/// confirmation. Identities make importing the same file twice store nothing twice.
///
/// Lines are decoded a chunk at a time, when the pipeline asks for more (so a week-long file never sits decoded in
/// memory), the chunk's halves on two cores; the file is mapped, not read into memory.
struct ReadingFile: AsyncSequence, Sendable {
    typealias Element = PendingReading

    enum ImportError: Error, CustomStringConvertible {
        case unreadable(String)
        case badLine(path: String, line: Int, reason: String)
        var description: String {
            switch self {
            case .unreadable(let path): "cannot read \(path)"
            case .badLine(let path, let line, let reason): "\(path) line \(line): not a reading (\(reason)); nothing from this line on was imported"
            }
        }
    }

    let path: String
    /// Lines decoded per chunk.
    var chunkLines = 2048

    static func readings(path: String) -> ReadingFile { ReadingFile(path: path) }

    func makeAsyncIterator() -> Iterator { Iterator(path: path, chunkLines: chunkLines) }

    struct Iterator: AsyncIteratorProtocol {
        let path: String
        let chunkLines: Int
        private var data: Data?
        private var offset = 0
        private var lineNumber = 0
        private var decoded: [PendingReading] = []
        private var next = 0
        private var failure: ImportError?

        init(path: String, chunkLines: Int) {
            self.path = path
            self.chunkLines = chunkLines
        }

        mutating func next() async throws -> PendingReading? {
            if next < decoded.count {
                defer { next += 1 }
                return decoded[next]
            }
            if let failure {
                self.failure = nil
                offset = Int.max
                throw failure
            }
            if data == nil {
                guard let mapped = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
                    throw ImportError.unreadable(path)
                }
                data = mapped
            }
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
            let halves = [lines.prefix(lines.count / 2), lines.dropFirst(lines.count / 2)]
            let results = await withTaskGroup(of: (Int, [PendingReading], ImportError?).self) { group in
                for (part, half) in halves.enumerated() {
                    let path = path
                    group.addTask {
                        let decoder = JSONDecoder()
                        var readings: [PendingReading] = []
                        readings.reserveCapacity(half.count)
                        for line in half {
                            do {
                                let reading = try decoder.decode(Reading.self, from: data.subdata(in: line.range))
                                readings.append(PendingReading(reading: reading, awaitsConfirmation: false) {})
                            } catch {
                                return (part, readings, .badLine(path: path, line: line.number, reason: "\(error)".prefix(120).description))
                            }
                        }
                        return (part, readings, nil)
                    }
                }
                var results: [(Int, [PendingReading], ImportError?)] = []
                for await result in group { results.append(result) }
                return results.sorted { $0.0 < $1.0 }
            }
            decoded = []
            for (_, readings, error) in results {
                decoded += readings
                // Readings before the first bad line are imported; nothing after it.
                if let error {
                    failure = error
                    break
                }
            }
            next = 0
            return try await self.next()
        }
    }
}
