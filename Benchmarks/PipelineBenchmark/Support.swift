import Foundation

/// Indication→confirmation times reported by the simulated cuffs (from any thread).
final class LatencyRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var nanos: [Int64] = []

    init() { nanos.reserveCapacity(4_096) }

    func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let value = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        lock.withLock { nanos.append(value) }
    }

    var sorted: [Int64] { lock.withLock { nanos.sorted() } }
}

/// What the sink did with the readings the sessions delivered, and what went wrong, across all connections.
final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var delivered = 0
    private(set) var stored = 0
    private(set) var duplicates = 0
    private(set) var quarantined = 0
    private(set) var rejected = 0
    private(set) var malformed = 0
    private(set) var connections = 0
    private(set) var sessionErrors: [String] = []

    func count(_ change: (Tally) -> Void) { lock.withLock { change(self) } }
    func deliveredOne() { count { $0.delivered += 1 } }
    func storedOne() { count { $0.stored += 1 } }
    func duplicateOne() { count { $0.duplicates += 1 } }
    func quarantinedOne() { count { $0.quarantined += 1 } }
    func rejectedOne() { count { $0.rejected += 1 } }
    func malformedOne() { count { $0.malformed += 1 } }
    func connected() { count { $0.connections += 1 } }
    func failed(_ description: String) { count { $0.sessionErrors.append(description) } }
}

/// Nearest-rank percentile of sorted values (`p` in 0...100); nil for none.
func percentile(_ sorted: [Int64], _ p: Double) -> Int64? {
    guard !sorted.isEmpty else { return nil }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// The process's peak resident set size (`VmHWM` in /proc/self/status), in KiB; nil where it is not offered.
func peakRSSKiB() -> Int? { statusKiB("VmHWM:") }

/// A `/proc/self/status` field in KiB.
func statusKiB(_ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field) {
        return Int(line.dropFirst(field.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }
    return nil
}

/// The highest anonymous resident memory (`RssAnon`: heap, stacks — what the process holds, not the pages of its code
/// and libraries, which `VmHWM` also counts: SQLite's and the store's code alone are ~5 MiB more in the durable
/// scenario), sampled every 50 ms while the scenario runs. The kernel keeps no peak of it.
final class AnonymousMemoryPeak: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var sampler: Task<Void, Never>?

    func start() {
        sampler = Task.detached { [self] in
            while !Task.isCancelled {
                sample()
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Stops sampling; the peak in KiB (nil when `/proc` is not there).
    func stop() -> Int? {
        sampler?.cancel()
        sample()
        return lock.withLock { peak > 0 ? peak : nil }
    }

    private func sample() {
        guard let kib = statusKiB("RssAnon:") else { return }
        lock.withLock { peak = max(peak, kib) }
    }
}

func seconds(_ duration: Duration) -> Double { duration / .seconds(1) }
