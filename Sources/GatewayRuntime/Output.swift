import Foundation

/// Writes to stdout/stderr without buffering surprises when stdout is a pipe.
package enum FileHandleOutput {
    package static func standardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    package static func standardOutput(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
