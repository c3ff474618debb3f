import FHIR
import Foundation
import Synchronization

/// DATA/audit.jsonl: one JSON line per API read — when, who (a token's hash prefix, never the secret), which
/// route and query, which subjects' data it touched, and the status returned. Appended under a lock and flushed
/// per line, so concurrent requests never interleave lines.
final class AuditLog: Sendable {
    let path: String
    private let lock = Mutex(())

    init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw AuditError.cannotCreate(path)
            }
        }
    }

    enum AuditError: Error, CustomStringConvertible {
        case cannotCreate(String)
        var description: String { if case .cannotCreate(let path) = self { "cannot create audit log \(path)" } else { "" } }
    }

    func record(caller: String, method: String, route: String, query: String?, subjects: [String], status: Int) {
        let now = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
        let line = FHIRJSON.obj([
            "time": .string(FHIRTime.instant(utcMicros: now)),
            "token": .string(caller),
            "method": .string(method),
            "route": .string(route),
            "query": query.map { .string($0) },
            "subjects": .array(subjects.sorted().map { .string($0) }),
            "status": .integer(status),
        ]).text + "\n"
        lock.withLock { _ in
            guard let handle = FileHandle(forWritingAtPath: path) else {
                FileHandleOutput.standardError("gatewayd serve: cannot append to \(path)")
                return
            }
            defer { try? handle.close() }
            do {
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(line.utf8))
            } catch {
                FileHandleOutput.standardError("gatewayd serve: audit log \(path): \(error)")
            }
        }
    }
}
