import Foundation
import Synchronization

/// Runs a command to its end and waits for it off Swift's cooperative pool. A test that blocks a pool thread in
/// `waitUntilExit` (a 2-core machine has two) holds up every other test meanwhile: under load, tests on a manual clock
/// missed their window and one waited forever for a timer that never started.
enum ChildProcess {
    struct Result: Sendable {
        var status: Int32
        var stdout: String
        /// Empty when standard error went with standard output.
        var stderr: String
    }

    /// `executable ARGS`; with `mergingStandardError`, what it printed to either stream is in `stdout`, in order.
    static func run(_ executable: URL, _ arguments: [String], mergingStandardError: Bool = false) async throws -> Result
    {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe()
        let err = mergingStandardError ? out : Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return await withCheckedContinuation { continuation in
            Thread {
                // Standard error is read on a thread of its own, so a child that fills one pipe cannot stall the other.
                let errors = mergingStandardError ? nil : ErrorsReader(err)
                let stdout = out.fileHandleForReading.readDataToEndOfFile()
                let stderr = errors?.wait() ?? Data()
                process.waitUntilExit()
                continuation.resume(
                    returning: Result(
                        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                        stderr: String(decoding: stderr, as: UTF8.self)))
            }.start()
        }
    }

    /// Waits for a started process to end without holding a pool thread (see above) and without a thread of its own:
    /// Foundation's `waitUntilExit()` on a secondary thread spins a whole core until the child exits. A crash test's
    /// last round runs the daemon to its end; waiting for it in `waitUntilExit` on the pool held one of the two pool
    /// threads for seconds, and with another test doing the same, tests beside them missed 30 s ATT timeouts.
    static func exit(of process: Process) async {
        let resumed = Mutex(false)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once: @Sendable () -> Void = {
                if resumed.withLock({ was in
                    defer { was = true }
                    return !was
                }) {
                    continuation.resume()
                }
            }
            process.terminationHandler = { _ in once() }
            if !process.isRunning { once() }  // it ended before the handler was set
        }
    }

    /// Reads a pipe to its end on a thread of its own.
    private final class ErrorsReader: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var data = Data()

        init(_ pipe: Pipe) {
            Thread { [self] in
                data = pipe.fileHandleForReading.readDataToEndOfFile()
                done.signal()
            }.start()
        }

        func wait() -> Data {
            done.wait()
            return data
        }
    }
}
