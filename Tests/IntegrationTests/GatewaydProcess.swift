import Foundation

/// `gatewayd` as a child process a test converses with: output collected as it comes (never blocking a cooperative
/// thread), lines written to its standard input, waits bounded by deadlines.
final class GatewaydProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let lock = NSLock()
    private var output = ""
    private var errors = ""

    init(_ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = CrashRecoveryTests.gatewaydBinary
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        // At end of file (the child exited) the handler is removed: its dispatch source is cancelled before the pipe's
        // descriptor can be closed under it (a source left watching a closed, reused descriptor crashed libdispatch's
        // event loop once in CI) — and it stops being called for empty reads.
        out.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                return
            }
            self?.lock.withLock { self?.output += String(decoding: data, as: UTF8.self) }
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                return
            }
            self?.lock.withLock { self?.errors += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    var stdout: String { lock.withLock { output } }
    var stderr: String { lock.withLock { errors } }

    func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    func closeInput() { try? input.fileHandleForWriting.close() }

    /// Waits until stdout satisfies `condition`; false at the deadline or when the process ended without it.
    func waitForOutput(timeout: Duration, _ condition: (String) -> Bool) async -> Bool {
        await waitFor(timeout: timeout) { condition(stdout) }
    }

    /// The same for stderr (where the daemon logs).
    func waitForStderr(timeout: Duration, _ condition: (String) -> Bool) async -> Bool {
        await waitFor(timeout: timeout) { condition(stderr) }
    }

    private func waitFor(timeout: Duration, _ satisfied: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if satisfied() { return true }
            if !process.isRunning { return satisfied() }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// The exit status, or nil if it had not ended by the deadline (then it is killed).
    func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
        guard !process.isRunning else {
            process.terminate()
            return nil
        }
        try? await Task.sleep(for: .milliseconds(200))  // the last output
        return process.terminationStatus
    }
}
