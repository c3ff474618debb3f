import FHIR
import Foundation
import Provenance
import Synchronization

/// DATA/audit.jsonl: one JSON line per API read — when, who (a token's hash prefix, never the secret), which
/// route and query, which subjects' data it touched, and the status returned — and one per share with a downstream
/// destination (DESIGN.md rule 7: every read and every share is audited). `kind` tells them apart ("read" when
/// absent: lines written before shares existed). Appended under a lock and flushed per line, so concurrent
/// requests never interleave lines. `gatewayd audit` reads it back.
package final class AuditLog: Sendable {
    package let path: String
    private let lock = Mutex(())

    package init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            else {
                throw AuditError.cannotCreate(path)
            }
        }
    }

    package enum AuditError: Error, CustomStringConvertible {
        case cannotCreate(String)
        package var description: String {
            if case .cannotCreate(let path) = self { "cannot create audit log \(path)" } else { "" }
        }
    }

    package func record(caller: String, method: String, route: String, query: String?, subjects: [String], status: Int)
    {
        append(
            .obj([
                "kind": "read",
                "time": .string(Self.now()),
                "token": .string(caller),
                "method": .string(method),
                "route": .string(route),
                "query": query.map { .string($0) },
                "subjects": .array(subjects.sorted().map { .string($0) }),
                "status": .integer(status),
            ]))
    }

    /// A share with a downstream destination (the PHR sync): which destination, whose data, how many resources,
    /// and the destination's HTTP status (0 when it could not be reached), with what went wrong if anything.
    package func recordShare(destination: String, subjects: [String], resources: Int, status: Int, detail: String?) {
        append(
            .obj([
                "kind": "share",
                "time": .string(Self.now()),
                "destination": .string(destination),
                "subjects": .array(subjects.sorted().map { .string($0) }),
                "resources": .integer(resources),
                "status": .integer(status),
                "detail": detail.map { .string($0) },
            ]))
    }

    /// Consent withdrawn: what a changed sharing rule removed from a destination's queue before it left, per subject.
    package func recordWithdrawal(destination: String, removed: [String: Int]) {
        append(
            .obj([
                "kind": "consent-withdrawn",
                "time": .string(Self.now()),
                "destination": .string(destination),
                "subjects": .array(removed.keys.sorted().map { .string($0) }),
                "resources": .integer(removed.values.reduce(0, +)),
                "detail": "queued entries no sharing rule allows any more were removed, not sent",
            ]))
    }

    private static func now() -> String {
        FHIRTime.instant(utcMicros: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
    }

    private func append(_ entry: ExactJSON) {
        let line = entry.text + "\n"
        lock.withLock { _ in
            guard let handle = FileHandle(forWritingAtPath: path) else {
                FileHandleOutput.standardError("gatewayd: cannot append to audit log \(path)")
                return
            }
            defer { try? handle.close() }
            do {
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(line.utf8))
            } catch {
                FileHandleOutput.standardError("gatewayd: audit log \(path): \(error)")
            }
        }
    }
}
