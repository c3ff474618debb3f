import Foundation

/// Questions to the person at the terminal. Standard input is read by its own thread — `readLine` blocks, and a
/// blocked cooperative thread would stall the management socket's replies while a person thinks.
package final class Conversation: @unchecked Sendable {
    private let lock = NSLock()
    private var buffered: [String?] = []
    private var waiting: CheckedContinuation<String?, Never>?
    private var started = false
    private var ended = false
    package let interactive: Bool

    package init(interactive: Bool) { self.interactive = interactive }

    package func say(_ line: String) { FileHandleOutput.standardOutput(line) }

    /// The next line typed (trimmed), nil at end of input.
    package func ask(_ question: String) async -> String? {
        FileHandle.standardOutput.write(Data((question + " ").utf8))
        startReading()
        return await withCheckedContinuation { continuation in
            lock.withLock {
                if !buffered.isEmpty {
                    continuation.resume(returning: buffered.removeFirst())
                } else if ended {
                    continuation.resume(returning: nil)
                } else {
                    waiting = continuation
                }
            }
        }
    }

    /// Asks until `parse` accepts the answer; nil at end of input.
    package func ask<T>(_ question: String, parse: (String) -> T?, otherwise hint: String) async -> T? {
        while let answer = await ask(question) {
            if let value = parse(answer) { return value }
            say(hint)
        }
        return nil
    }

    package func confirm(_ question: String) async -> Bool {
        await ask(
            question + " [y/n]",
            parse: {
                ["y", "yes"].contains($0.lowercased()) ? true : (["n", "no"].contains($0.lowercased()) ? false : nil)
            }, otherwise: "Please answer y or n.") ?? false
    }

    private func startReading() {
        let first = lock.withLock {
            defer { started = true }
            return !started
        }
        guard first else { return }
        let thread = Thread { [self] in
            while true {
                let line = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces)
                deliver(line)
                if line == nil { return }
            }
        }
        thread.name = "stdin"
        thread.start()
    }

    private func deliver(_ line: String?) {
        let continuation: CheckedContinuation<String?, Never>? = lock.withLock {
            if line == nil { ended = true }
            if let waiting {
                self.waiting = nil
                return waiting
            }
            buffered.append(line)
            return nil
        }
        continuation?.resume(returning: line)
    }
}
