import Foundation
import TimeSeries

// Helpers every test target shares — one copy each. (No `import Testing` here: this target is built by `swift build`
// too, so the tests' own wrappers record issues.)

/// Seeded randomness for property tests: the project's SplitMix64, which the store's synthetic series uses as well,
/// so a seed gives the same inputs in every target.
public typealias TestRandom = SplitMix64

/// A fresh directory per test, removed when the value goes away.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "test") {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-\(label)-\(UUID().uuidString)")
            .path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Polls until `condition` holds: for state that has no event to wait on. The deadline only matters when it never
/// does: it is long, because the whole suite (daemons started by the integration tests among them) shares two cores
/// and a busy moment can take seconds.
public func eventually(_ seconds: Double = 60, _ condition: @Sendable () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

/// Collects values from concurrent tasks.
public actor Collected<T: Sendable> {
    public private(set) var values: [T] = []
    public init() {}
    public func append(_ value: T) { values.append(value) }
}
