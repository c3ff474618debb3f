import Foundation

/// A signed-in browser: what its token may see and do, and the form token every change must carry (CSRF).
package struct PageSession: Sendable {
    package var id: String
    package var csrf: String
    /// The audit log's name for the token (as the API records it).
    package var caller: String
    /// nil: every person (a system scope); else only these people.
    package var subjects: Set<String>?
    /// Whose devices' readings the session may assign (a Device write scope): nil every person, empty nobody.
    package var assignable: Set<String>?
    package var expiresAt: Date

    package func mayAssign(to subject: String) -> Bool { assignable.map { $0.contains(subject) } ?? true }
    package var seesEverything: Bool { subjects == nil }
}

/// Signed-in browsers, in memory: a restart signs everyone out, which for a gateway at home is the safe side. A session
/// lasts 12 hours from its last use.
package actor PageSessions {
    private var sessions: [String: PageSession] = [:]
    private let lifetime: TimeInterval
    private let now: @Sendable () -> Date

    package init(lifetime: TimeInterval = 12 * 3600, now: @escaping @Sendable () -> Date = { Date() }) {
        (self.lifetime, self.now) = (lifetime, now)
    }

    package func open(caller: String, subjects: Set<String>?, assignable: Set<String>?) -> PageSession {
        let time = now()
        sessions = sessions.filter { $0.value.expiresAt > time }
        let session = PageSession(
            id: Self.randomHex(32), csrf: Self.randomHex(16), caller: caller, subjects: subjects,
            assignable: assignable, expiresAt: time.addingTimeInterval(lifetime))
        sessions[session.id] = session
        return session
    }

    /// The live session with this id, its life extended; nil when unknown or expired.
    package func session(_ id: String?) -> PageSession? {
        guard let id, var session = sessions[id] else { return nil }
        let time = now()
        guard session.expiresAt > time else {
            sessions[id] = nil
            return nil
        }
        session.expiresAt = time.addingTimeInterval(lifetime)
        sessions[id] = session
        return session
    }

    package func close(_ id: String) { sessions[id] = nil }

    /// Wrong tokens typed from each address, newest last: after `maximumFailures` in `failureWindow` that address
    /// waits out the window. Tokens are long random strings, so this is defence in depth against a script on the home
    /// network; it is per address so a script cannot lock the family out.
    private var failures: [String: [Date]] = [:]
    package static let maximumFailures = 10
    package static let failureWindow: TimeInterval = 300

    /// Whether `peer` may try a token now.
    package func maySignIn(from peer: String) -> Bool {
        let recent = (failures[peer] ?? []).filter { now().timeIntervalSince($0) < Self.failureWindow }
        failures[peer] = recent.isEmpty ? nil : recent
        return recent.count < Self.maximumFailures
    }

    package func failedSignIn(from peer: String) {
        if failures.count > 10_000 { failures = [:] }  // a flood of addresses must not grow memory without end
        failures[peer, default: []].append(now())
    }

    /// `bytes` random bytes from the system's generator (getrandom on Linux), as hex.
    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }
}

/// The cookie and form helpers the pages use.
package enum PageForm {
    /// `a=1&b=two+words` (application/x-www-form-urlencoded, or a query string) as a dictionary; the last value wins.
    package static func fields(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let sides = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = sides.first, !name.isEmpty else { continue }
            result[name] = sides.count > 1 ? sides[1] : ""
        }
        return result
    }

    /// A Cookie header's values by name.
    package static func cookies(_ header: String?) -> [String: String] {
        var result: [String: String] = [:]
        for part in (header ?? "").split(separator: ";") {
            let sides = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if sides.count == 2 { result[sides[0]] = sides[1] }
        }
        return result
    }

    /// A Set-Cookie value for the pages' path: HttpOnly and SameSite=Strict always, Secure under TLS.
    package static func setCookie(_ name: String, _ value: String, secure: Bool, maxAge: Int? = nil) -> String {
        var text = "\(name)=\(value); Path=/app; HttpOnly; SameSite=Strict"
        if let maxAge { text += "; Max-Age=\(maxAge)" }
        if secure { text += "; Secure" }
        return text
    }
}
