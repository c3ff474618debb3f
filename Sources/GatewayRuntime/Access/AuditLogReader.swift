import Foundation
import TimeSeries

// Reading DATA/audit.jsonl back (`gatewayd audit`), beside the writer (`AuditLog`): the line format lives here once.

/// One line of DATA/audit.jsonl as `AuditLog` writes it.
package struct AuditEntry: Sendable {
    package enum Kind: String, Sendable { case read, share }

    package var kind: Kind
    package var time: String
    package var micros: Int64
    package var subjects: [String]
    package var status: Int
    /// read: the token's audit id ("tok-…", "none", "loopback"); share: the destination's name.
    package var who: String
    /// read: METHOD route?query; share: "N resources" and the detail.
    package var request: String

    package struct Malformed: Error, CustomStringConvertible {
        package var description: String
    }

    package static func parse(_ line: [UInt8]) throws(Malformed) -> AuditEntry {
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw Malformed(description: "not a JSON object")
            }
            object = parsed
        } catch let error as Malformed {
            throw error
        } catch {
            throw Malformed(description: "not JSON")
        }
        func string(_ key: String) throws(Malformed) -> String {
            guard let value = object[key] as? String else { throw Malformed(description: "no '\(key)' string") }
            return value
        }
        let kindText = (object["kind"] as? String) ?? "read"
        guard let kind = Kind(rawValue: kindText) else { throw Malformed(description: "unknown kind '\(kindText)'") }
        let time = try string("time")
        guard let range = DateText.dateTime(time) else {
            throw Malformed(description: "'time' \(time) is not an RFC 3339 time")
        }
        guard let subjects = object["subjects"] as? [String] else {
            throw Malformed(description: "no 'subjects' list of strings")
        }
        guard let status = object["status"] as? Int else { throw Malformed(description: "no 'status' number") }
        switch kind {
        case .read:
            let query = (object["query"] as? String).map { "?" + $0 } ?? ""
            return AuditEntry(
                kind: kind, time: time, micros: range.start, subjects: subjects, status: status,
                who: try string("token"),
                request: try string("method") + " " + (try string("route")) + query)
        case .share:
            let count = object["resources"] as? Int ?? 0
            let detail = (object["detail"] as? String).map { ": " + $0 } ?? ""
            return AuditEntry(
                kind: kind, time: time, micros: range.start, subjects: subjects, status: status,
                who: try string("destination"), request: "\(count) resource\(count == 1 ? "" : "s") shared" + detail)
        }
    }

    package func row(zone: TimeZone) -> [String] {
        [
            TimeFormat.iso8601(micros, timeZone: zone), kind.rawValue, String(status), who,
            subjects.isEmpty ? "-" : subjects.joined(separator: ","), request,
        ]
    }
}

/// Reads a file line by line in bounded memory (an audit log grows for years).
package enum AuditLines {
    /// The entries of the log at `path` at or after `since` that touched `subject`, each with its line as written. A
    /// damaged line is told to `malformed` (its number and what is wrong) and skipped: one bad line never hides the
    /// rest of the record.
    package static func entries(
        in path: String, since: Int64?, subject: String?, malformed: (_ line: Int, _ problem: String) -> Void,
        _ body: (AuditEntry, [UInt8]) throws -> Void
    ) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw AuditLogUnreadable(path: path)
        }
        defer { try? handle.close() }
        try forEach(in: handle) { number, line in
            guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) else { return }
            let entry: AuditEntry
            do throws(AuditEntry.Malformed) {
                entry = try AuditEntry.parse(line)
            } catch {
                malformed(number, error.description)
                return
            }
            if let since, entry.micros < since { return }
            if let subject, !entry.subjects.contains(subject) { return }
            try body(entry, line)
        }
    }

    package static func forEach(in handle: FileHandle, _ body: (_ number: Int, _ line: [UInt8]) throws -> Void) throws {
        var pending: [UInt8] = []
        var number = 0
        while let chunk = try handle.read(upToCount: 1 << 16), !chunk.isEmpty {
            pending += chunk
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                number += 1
                try body(number, Array(pending[start..<newline]))
                start = newline + 1
            }
            pending.removeFirst(start)
        }
        if !pending.isEmpty {
            number += 1
            try body(number, pending)
        }
    }
}

/// The audit log exists but cannot be opened.
package struct AuditLogUnreadable: Error, CustomStringConvertible {
    package var path: String
    package var description: String { "cannot read \(path) (permissions?)" }
}

/// The summary line of a listing: reads and how many were refused, and shares when there are any.
package struct AuditTally {
    package init() {}

    package var reads = 0
    package var refused = 0
    package var shares = 0
    package var failedShares = 0
    package var malformed = 0

    package mutating func add(_ entry: AuditEntry) {
        let ok = (200..<300).contains(entry.status)
        switch entry.kind {
        case .read:
            reads += 1
            if !ok { refused += 1 }
        case .share:
            shares += 1
            if !ok { failedShares += 1 }
        }
    }

    package var summary: String {
        var text = "\(reads) read\(reads == 1 ? "" : "s"), \(refused) refused"
        if shares > 0 { text += "; \(shares) share\(shares == 1 ? "" : "s"), \(failedShares) failed" }
        if malformed > 0 { text += "; \(malformed) malformed line\(malformed == 1 ? "" : "s") skipped" }
        return text
    }
}
