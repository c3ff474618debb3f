import Foundation
import Provenance

/// A file of readings, one JSON `Reading` per line: a source like any device, except that nothing waits for a
/// confirmation. Identities make importing the same file twice store nothing twice.
enum ReadingFile {
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

    static func readings(path: String) -> AsyncThrowingStream<PendingReading, any Error> {
        AsyncThrowingStream { continuation in
            guard let data = FileManager.default.contents(atPath: path) else {
                continuation.finish(throwing: ImportError.unreadable(path))
                return
            }
            let decoder = JSONDecoder()
            for (index, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() where !line.isEmpty {
                do {
                    continuation.yield(PendingReading(reading: try decoder.decode(Reading.self, from: Data(line)), awaitsConfirmation: false) {})
                } catch {
                    continuation.finish(throwing: ImportError.badLine(path: path, line: index + 1, reason: "\(error)".prefix(120).description))
                    return
                }
            }
            continuation.finish()
        }
    }
}
