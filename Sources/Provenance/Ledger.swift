import Crypto
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The tamper-evident ledger: an append-only file, `ledger.jsonl`, with one JSON line per accepted batch, each
/// entry holding the SHA-256 of the entry before it (see `LedgerEntry`), optionally signed with the gateway key.
///
/// Changing, removing, reordering or inserting anything — a reading in the archive, a digest, a line — breaks
/// a digest, a hash or a link that `verify` recomputes. (Cutting entries off the *end* is only visible against
/// an external copy of the head hash, `LedgerVerification.headHash`; a hash chain cannot see it by itself.)
///
/// `append` returns only after the line is fsynced. A crash mid-append leaves at most a torn last line, which
/// the next open moves aside to `ledger.jsonl.torn` and truncates: that batch was never acknowledged. Anything
/// else wrong in the file is left exactly as it is, for `verify` to report. One process at a time may open a
/// ledger (an exclusive `flock`); calls are serialised by a mutex, so an actor may call it directly (`append`
/// blocks for one fsync).
public final class Ledger: Sendable {
    public static let fileName = "ledger.jsonl"
    /// Where torn tails removed on open are kept (appended, each after a `#` header line), for forensics.
    public static let tornFileName = "ledger.jsonl.torn"

    public let directory: String
    /// `directory/ledger.jsonl`.
    public let path: String
    /// The fingerprint new entries are signed with, or nil when unsigned.
    public let signerFingerprint: String?
    /// What opening repaired (a torn last line moved aside), or nil.
    public let recovery: LedgerRecovery?
    /// Things an operator should know about the ledger as opened (a repaired tail, a changed signing key, a last
    /// entry that does not match its hash); empty when there is nothing to say.
    public let notes: [String]

    private let key: GatewayKey?
    private let state: Mutex<State>

    private struct State {
        var file: LedgerFileDescriptor
        /// Bytes of complete, synced lines: where the next line is written.
        var end: Int
        var lastSequence: Int
        var lastHash: String
        /// The last entry: a crash between appending an entry and recording that its readings are stored leaves
        /// them to be recorded again; this lets the caller see they already are.
        var lastEntry: LedgerEntry?
        /// Set when a failed append could not be undone; appends are refused until the ledger is reopened.
        var failure: String?
    }

    /// Which entry format `append` writes: 4 (root and locator sums) always, except tests of older ledgers
    /// (1: every reading listed; 2: root and tags).
    let entryFormat: Int
    /// Tag bytes per reading in format 2 entries (tests of older ledgers: `BatchDigest.tagLength` or 2).
    let tagWidth: Int

    /// Opens (creating if needed) the ledger in `directory` and continues its chain from the last entry.
    /// `key`: sign every new entry with it.
    public convenience init(directory: String, key: GatewayKey? = nil) throws(LedgerError) {
        try self.init(directory: directory, key: key, entryFormat: 4)
    }

    init(directory: String, key: GatewayKey?, entryFormat: Int, tagWidth: Int = BatchDigest.tagLength)
        throws(LedgerError)
    {
        self.entryFormat = entryFormat
        self.tagWidth = tagWidth
        self.directory = directory
        path = directory + "/" + Self.fileName
        self.key = key
        signerFingerprint = key?.fingerprint
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .directoryUnusable(path: directory, reason: error.localizedDescription)
        }
        let file: LedgerFileDescriptor
        do {
            file = try LedgerFileDescriptor.open(path, flags: O_RDWR | O_CREAT)
        } catch {
            throw .io(error)
        }
        do {
            guard try file.lockExclusively() else { throw LedgerError.inUse(path: path) }
            try LedgerFileDescriptor.syncDirectory(directory)
            let tail = try Self.openTail(file: file, directory: directory)
            var notes: [String] = []
            if let recovery = tail.recovery { notes.append(recovery.description) }
            if let last = tail.last {
                if last.hash != last.computedHash {
                    notes.append(
                        "the last entry (\(last.sequence)) does not match its own hash; new entries chain from it, but "
                            + "run `gatewayd verify`: the ledger may have been altered")
                }
                if last.signer != key?.fingerprint {
                    let before = last.signer.map { "signed by key \($0)" } ?? "unsigned"
                    let now = key.map { "signed by key \($0.fingerprint)" } ?? "unsigned"
                    notes.append(
                        "entries up to \(last.sequence) are \(before); new entries are \(now), so verifying with a single "
                            + "public key will fail on one of the two parts")
                }
            }
            recovery = tail.recovery
            self.notes = notes
            state = Mutex(
                State(
                    file: file, end: tail.end, lastSequence: tail.last?.sequence ?? 0,
                    lastHash: tail.last?.hash ?? LedgerEntry.genesisHash, lastEntry: tail.last,
                    failure: nil))
        } catch let error as LedgerError {
            file.close()
            throw error
        } catch let error as FileSystemError {
            file.close()
            throw .io(error)
        } catch {
            file.close()
            throw .directoryUnusable(path: directory, reason: "\(error)")
        }
    }

    deinit {
        state.withLock { $0.file.close() }
    }

    /// The sequence number of the last entry (0 for an empty ledger).
    public var lastSequence: Int { state.withLock { $0.lastSequence } }
    /// The hash of the last entry (64 zeros for an empty ledger): publish it elsewhere to make truncation visible.
    public var lastHash: String { state.withLock { $0.lastHash } }

    /// The last entry (nil when the ledger is empty).
    public var lastEntry: LedgerEntry? { state.withLock { $0.lastEntry } }

    /// Whether the last entry recorded exactly these readings (formats 2 and 4: the same root; 1: every one listed):
    /// after a crash between an entry and the mark that its readings are stored, they must not be recorded twice.
    public func lastEntryRecorded(_ items: [LedgerEntry.Item]) -> Int? {
        guard let last = lastEntry, !items.isEmpty else { return nil }
        if let root = last.root {
            guard last.count == items.count, let batch = try? BatchDigest(items: items), batch.root == root else {
                return nil
            }
            return last.sequence
        }
        let listed = Set(last.items.map(\.identity))
        return items.allSatisfy { listed.contains($0.identity) } ? last.sequence : nil
    }

    /// Records one accepted batch and returns its entry once the line is on stable storage.
    ///
    /// Every reading needs an identity, so a subject: unmapped readings are held (DESIGN.md rule 6) and enter the
    /// ledger when they are mapped and accepted. If the write or fsync fails, the partial line is cut off again
    /// so that no torn line ever sits before a later entry; the error says which call failed.
    public func append(readings: [Reading], recordedMicros: Int64) throws(LedgerError) -> LedgerEntry {
        guard !readings.isEmpty else { throw .emptyBatch }
        return try append(items: try LedgerEntry.Item.items(of: readings), recordedMicros: recordedMicros)
    }

    /// Records one batch of readings the caller has digested (each identity with the digest of its canonical bytes).
    public func append(items: [LedgerEntry.Item], recordedMicros: Int64) throws(LedgerError) -> LedgerEntry {
        guard !items.isEmpty else { throw .emptyBatch }
        let batch: BatchDigest? = entryFormat == 1 ? nil : try BatchDigest(items: items, tagWidth: tagWidth)
        let signer = key?.fingerprint
        return try write { sequence, previous in
            if let batch {
                LedgerEntry(
                    sequence: sequence, previousHash: previous, recordedMicros: recordedMicros, batch: batch,
                    format: entryFormat, signer: signer)
            } else {
                LedgerEntry(
                    sequence: sequence, previousHash: previous, recordedMicros: recordedMicros, items: items,
                    signer: signer)
            }
        }
    }

    /// Records that retention removes the readings of entries 1…`through` (all effective before `cutoffMicros`) from
    /// the archive; call it before removing them, so a crash in between leaves readings the ledger says may be gone,
    /// never readings gone that the ledger still expects.
    public func appendRetirement(through: Int, cutoffMicros: Int64, recordedMicros: Int64) throws(LedgerError)
        -> LedgerEntry
    {
        let signer = key?.fingerprint
        return try write { sequence, previous in
            LedgerEntry(
                sequence: sequence, previousHash: previous, recordedMicros: recordedMicros, retired: through,
                cutoff: cutoffMicros, signer: signer)
        }
    }

    /// Signs and appends the entry `make` builds for the next sequence number and the last hash, fsynced.
    private func write(_ make: (Int, String) -> LedgerEntry) throws(LedgerError) -> LedgerEntry {
        let key = key
        let path = path
        return try state.withLock { (state: inout State) throws(LedgerError) -> LedgerEntry in
            if let failure = state.failure { throw .unusable(path: path, reason: failure) }
            var entry = make(state.lastSequence + 1, state.lastHash)
            if let key {
                do throws(GatewayKeyError) {
                    entry.signature = try key.sign(bytesFromHex(entry.hash) ?? []).hexString
                } catch {
                    throw .signing(error)
                }
            }
            let line = try entry.jsonLine() + [0x0A]
            do throws(FileSystemError) {
                try state.file.write(line, at: state.end)
                try state.file.sync()
            } catch {
                do {
                    try state.file.truncate(to: state.end)
                    try state.file.sync()
                } catch let undo {
                    state.failure = "an append failed (\(error)) and cutting off its partial line failed too (\(undo))"
                }
                throw .io(error)
            }
            state.end += line.count
            state.lastSequence = entry.sequence
            state.lastEntry = entry
            state.lastHash = entry.hash
            return entry
        }
    }

    /// Verifies the ledger as it stands (every entry appended before this call), while appends may continue.
    /// `lookup` returns the archived reading with an identity (nil when the archive has none); a lookup error is
    /// reported as a problem with that reading.
    public func verify(
        lookup: (ReadingIdentity) throws -> Reading?, batch: (LedgerEntry) throws -> [LedgerEntry.Item],
        publicKey: Curve25519.Signing.PublicKey?
    ) throws(LedgerError) -> LedgerVerification {
        // Bytes before `end` never change while this ledger is open, so no lock is held while verifying.
        let (file, end) = state.withLock { ($0.file, $0.end) }
        return try LedgerVerifier.verify(
            file: file, limit: end, directory: directory, lookup: lookup, batch: batch, publicKey: publicKey)
    }

    /// Verifies the ledger in `directory` without opening it for appends (e.g. `gatewayd verify`, with the
    /// gateway stopped or running). Throws only when the file cannot be read; everything wrong inside it is
    /// in the returned report.
    public static func verify(
        directory: String, lookup: (ReadingIdentity) throws -> Reading?,
        batch: (LedgerEntry) throws -> [LedgerEntry.Item],
        publicKey: Curve25519.Signing.PublicKey?
    ) throws(LedgerError) -> LedgerVerification {
        let path = directory + "/" + fileName
        let file: LedgerFileDescriptor
        do {
            file = try LedgerFileDescriptor.open(path, flags: O_RDONLY)
        } catch {
            throw error.code == ENOENT ? .missing(path: path) : .io(error)
        }
        defer { file.close() }
        let size: Int
        do {
            size = try file.size()
        } catch {
            throw .io(error)
        }
        return try LedgerVerifier.verify(
            file: file, limit: size, directory: directory, lookup: lookup, batch: batch, publicKey: publicKey)
    }

    // MARK: Opening

    private struct Tail {
        var end: Int
        var last: LedgerEntry?
        var recovery: LedgerRecovery?
    }

    /// Finds the last entry, first removing a torn last line: one without its newline (a crash mid-write), or,
    /// failing that, a last line that is not JSON at all (garbage a crash left in the file's last block). At most
    /// one line is removed; anything else unreadable is refused, never repaired.
    private static func openTail(file: LedgerFileDescriptor, directory: String) throws -> Tail {
        var size = try file.size()
        guard size > 0 else { return Tail(end: 0, last: nil, recovery: nil) }
        var (start, hasNewline) = try lastLineStart(file: file, size: size)
        var recovery: LedgerRecovery?
        var line = try file.read(count: size - start, at: start)
        if hasNewline {
            line.removeLast()
            if (try? JSONSerialization.jsonObject(with: Data(line))) == nil {
                recovery = try moveAside(
                    file: file, from: start, size: size, directory: directory, reason: "its last line is not JSON")
            }
        } else {
            recovery = try moveAside(
                file: file, from: start, size: size, directory: directory, reason: "its last line has no end of line")
        }
        if recovery != nil {
            size = start
            guard size > 0 else { return Tail(end: 0, last: nil, recovery: recovery) }
            (start, hasNewline) = try lastLineStart(file: file, size: size)
            line = try file.read(count: size - start - 1, at: start)
        }
        let entry: LedgerEntry
        do {
            entry = try JSONDecoder().decode(LedgerEntry.self, from: Data(line))
        } catch {
            throw LedgerError.lastEntryUnreadable(
                path: file.path, offset: start, reason: LedgerVerifier.describe(error))
        }
        if let problem = entry.formatProblem {
            throw LedgerError.lastEntryUnreadable(path: file.path, offset: start, reason: problem)
        }
        return Tail(end: size, last: entry, recovery: recovery)
    }

    /// The offset where the last line of the first `size` bytes starts, and whether it ends with a newline.
    private static func lastLineStart(file: LedgerFileDescriptor, size: Int) throws -> (Int, Bool) {
        let hasNewline = try file.read(count: 1, at: size - 1) == [0x0A]
        var searchEnd = hasNewline ? size - 1 : size  // exclusive; the line's own newline is not its start
        let chunk = 64 * 1024
        while searchEnd > 0 {
            let from = max(0, searchEnd - chunk)
            let bytes = try file.read(count: searchEnd - from, at: from)
            if let newline = bytes.lastIndex(of: 0x0A) { return (from + newline + 1, hasNewline) }
            searchEnd = from
        }
        return (0, hasNewline)
    }

    /// Copies `[from, size)` to the torn-tail file (synced), then truncates the ledger there (synced).
    private static func moveAside(file: LedgerFileDescriptor, from: Int, size: Int, directory: String, reason: String)
        throws
        -> LedgerRecovery
    {
        let torn = try file.read(count: size - from, at: from)
        let tornPath = directory + "/" + tornFileName
        let sidecar = try LedgerFileDescriptor.open(tornPath, flags: O_WRONLY | O_CREAT | O_APPEND)
        defer { sidecar.close() }
        let header =
            "# torn tail of \(fileName) removed on open: \(torn.count) bytes at offset \(from), \(reason); "
            + "opened at \(Int64(Date().timeIntervalSince1970 * 1_000_000)) UTC µs\n"
        try sidecar.write(Array(header.utf8) + torn + [0x0A], at: try sidecar.size())
        try sidecar.sync()
        try file.truncate(to: from)
        try file.sync()
        return LedgerRecovery(offset: from, byteCount: torn.count, reason: reason, savedTo: tornPath)
    }
}

/// A torn last line removed when the ledger was opened: the append it belonged to never returned, so its batch
/// was never acknowledged and the chain continues from the entry before it.
public struct LedgerRecovery: Hashable, Sendable, CustomStringConvertible {
    /// Where the removed line started (the ledger's new length).
    public let offset: Int
    public let byteCount: Int
    public let reason: String
    /// The file the removed bytes were appended to.
    public let savedTo: String

    public var description: String {
        "removed a torn last line from the ledger (\(byteCount) bytes at offset \(offset): \(reason)), most likely an "
            + "append cut short by a crash; the bytes are kept in \(savedTo)"
    }
}

/// Why the ledger could not be opened, appended to or read; each message names the file and what to do.
/// (What is wrong *inside* a readable ledger is a `LedgerProblem` in a `LedgerVerification`.)
public enum LedgerError: Error, Hashable, Sendable, CustomStringConvertible {
    case io(FileSystemError)
    case directoryUnusable(path: String, reason: String)
    /// Another process has the ledger open.
    case inUse(path: String)
    case missing(path: String)
    /// The last entry cannot be read, so the chain cannot be continued (and it is not a torn write).
    case lastEntryUnreadable(path: String, offset: Int, reason: String)
    case emptyBatch
    /// The reading at `index` of the batch has no subject, hence no identity.
    case readingWithoutSubject(index: Int)
    case encodingFailed(what: String, reason: String)
    case signing(GatewayKeyError)
    /// An earlier append failed and could not be undone.
    case unusable(path: String, reason: String)

    public var description: String {
        switch self {
        case .io(let error):
            "ledger: \(error)"
        case .directoryUnusable(let path, let reason):
            "cannot use the ledger directory \(path): \(reason)"
        case .inUse(let path):
            "the ledger \(path) is open in another process (is another gatewayd running on this data directory?)"
        case .missing(let path):
            "there is no ledger at \(path): check the data directory"
        case .lastEntryUnreadable(let path, let offset, let reason):
            "cannot continue the ledger \(path): its last entry (at byte \(offset)) is unreadable (\(reason)) and is "
                + "not a torn write; run `gatewayd verify`, then move the file aside to start a new chain"
        case .emptyBatch:
            "a ledger entry needs at least one reading"
        case .readingWithoutSubject(let index):
            "reading #\(index + 1) of the batch has no subject, so no identity: hold unmapped readings out of the "
                + "ledger until they are mapped"
        case .encodingFailed(let what, let reason):
            "could not encode the \(what): \(reason)"
        case .signing(let error):
            "could not sign the ledger entry: \(error)"
        case .unusable(let path, let reason):
            "the ledger \(path) refuses appends: \(reason); reopen it (restart the gateway) to repair the tail"
        }
    }
}
