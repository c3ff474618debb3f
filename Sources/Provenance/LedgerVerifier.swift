import Crypto
import Foundation

/// The result of verifying a ledger: how much was verified and the first problem, if any.
public struct LedgerVerification: Hashable, Sendable {
    /// The ledger file.
    public let path: String
    /// Entries whose form, hash, link, signature and readings all checked out (those before `problem`).
    public let entriesVerified: Int
    /// Readings found in the archive with the digest their entry recorded.
    public let readingsVerified: Int
    /// Readings of entries a later retirement entry covers that retention has removed from the archive.
    public let readingsRetired: Int
    /// Entries whose signature was checked against the given public key.
    public let signaturesVerified: Int
    /// Entries that carry a signature that was not checked (no public key was given).
    public let signaturesUnchecked: Int
    /// The fingerprint of the public key given, if any.
    public let keyFingerprint: String?
    /// The hash of the last verified entry (64 zeros when none): compare it with a copy kept elsewhere to detect
    /// entries cut off the end, which a hash chain alone cannot.
    public let headHash: String
    /// The first problem found, in file order; nil when the ledger is intact.
    public let problem: LedgerProblem?
    /// Things worth knowing that are not failures (unchecked signatures, torn tails moved aside on open).
    public let notes: [String]

    public var isIntact: Bool { problem == nil }

    /// A few lines for `gatewayd verify`: the verdict first, then the counts and notes.
    public var summary: String {
        var lines: [String] = []
        let counted =
            "\(entriesVerified) \(entriesVerified == 1 ? "entry" : "entries") and \(readingsVerified) "
            + "\(readingsVerified == 1 ? "reading" : "readings") verified"
        if let problem {
            lines.append("ledger \(path): FAILED — \(problem)")
            lines.append("\(counted) before the problem; nothing after it was checked.")
        } else {
            lines.append("ledger \(path): intact — \(counted); head \(headHash)")
        }
        if readingsRetired > 0 {
            lines.append(
                "\(readingsRetired) readings of earlier entries were removed by retention, as the ledger's retirement entries record."
            )
        }
        if let keyFingerprint {
            lines.append("\(signaturesVerified) signatures verified with key \(keyFingerprint).")
        } else if signaturesUnchecked > 0 {
            lines.append("\(signaturesUnchecked) signatures not checked: no public key was given.")
        }
        lines += notes.map { "note: \($0)" }
        return lines.joined(separator: "\n")
    }
}

/// Where a batch's readings first differ from what its entry recorded.
public enum BatchDifference: Hashable, Sendable {
    case atStart
    /// After this reading (in identity order).
    case after(ReadingIdentity)
    /// More than one reading differs, so the locator sums cannot say where.
    case unlocated
}

/// The first thing wrong in a ledger, located by entry sequence number and 1-based line number. The messages
/// say what was found and what it means.
public enum LedgerProblem: Hashable, Sendable, CustomStringConvertible {
    /// The line is not a well-formed entry (not JSON, a field missing or mis-typed, not in canonical form).
    case malformedLine(line: Int, reason: String)
    /// The file ends without a newline: an append cut short (the gateway repairs this when it next opens the
    /// ledger) or a cut or edited file.
    case incompleteLastLine(line: Int)
    /// The line holds entry `found` where entry `expected` should be: entries deleted, duplicated or reordered.
    case sequenceBreak(line: Int, expected: Int, found: Int)
    /// The entry's hash does not match its content.
    case alteredEntry(sequence: Int, line: Int)
    /// The entry's previous-hash is not the hash of the entry before it.
    case brokenLink(sequence: Int, line: Int)
    /// The entry names a signer but carries no signature.
    case missingSignature(sequence: Int, line: Int, signer: String)
    /// A public key was given but the entry is not signed.
    case unsignedEntry(sequence: Int, line: Int)
    /// The entry is signed by another key than the one given.
    case wrongSigner(sequence: Int, line: Int, signer: String, expected: String)
    case badSignature(sequence: Int, line: Int)
    case readingMissing(sequence: Int, line: Int, identity: ReadingIdentity)
    /// The archived reading's digest differs from the one recorded. `identityFieldsChanged`: the archived reading
    /// no longer even has this identity (its device, subject, kind, time anchor or payload changed).
    case readingChanged(
        sequence: Int, line: Int, identity: ReadingIdentity, recorded: ReadingDigest, current: ReadingDigest,
        identityFieldsChanged: Bool)
    /// The archive could not be asked (its error), so the reading could not be verified.
    case archiveLookupFailed(sequence: Int, line: Int, identity: ReadingIdentity, reason: String)
    /// Format 2: the archive's reading at `position` (1-based, in identity order) of the batch no longer matches
    /// the tag the entry recorded for it.
    case batchReadingChanged(sequence: Int, line: Int, identity: ReadingIdentity, position: Int)
    /// Formats 2 and 4: the archive holds another number of readings for the entry than it recorded; `difference`:
    /// where (in identity order) the first difference is.
    case batchCountChanged(sequence: Int, line: Int, recorded: Int, found: Int, difference: BatchDifference)
    /// Formats 2 and 4: the root does not match and the tags or locator sums cannot say which one reading changed
    /// (several did, or a changed reading kept its tag by chance).
    case batchChanged(sequence: Int, line: Int)
    /// Format 2: the archive could not give the entry's readings.
    case batchLookupFailed(sequence: Int, line: Int, reason: String)

    /// The entry's sequence number, when the line could be read as an entry.
    public var sequence: Int? {
        switch self {
        case .malformedLine, .incompleteLastLine: nil
        case .sequenceBreak(_, _, let found): found
        case .alteredEntry(let sequence, _), .brokenLink(let sequence, _), .missingSignature(let sequence, _, _),
            .unsignedEntry(let sequence, _), .wrongSigner(let sequence, _, _, _), .badSignature(let sequence, _),
            .readingMissing(let sequence, _, _), .readingChanged(let sequence, _, _, _, _, _),
            .archiveLookupFailed(let sequence, _, _, _), .batchReadingChanged(let sequence, _, _, _),
            .batchCountChanged(let sequence, _, _, _, _), .batchChanged(let sequence, _),
            .batchLookupFailed(let sequence, _, _):
            sequence
        }
    }

    /// The 1-based line of the ledger file.
    public var line: Int {
        switch self {
        case .malformedLine(let line, _), .incompleteLastLine(let line), .sequenceBreak(let line, _, _),
            .alteredEntry(_, let line), .brokenLink(_, let line), .missingSignature(_, let line, _),
            .unsignedEntry(_, let line),
            .wrongSigner(_, let line, _, _), .badSignature(_, let line), .readingMissing(_, let line, _),
            .readingChanged(_, let line, _, _, _, _), .archiveLookupFailed(_, let line, _, _),
            .batchReadingChanged(_, let line, _, _),
            .batchCountChanged(_, let line, _, _, _), .batchChanged(_, let line), .batchLookupFailed(_, let line, _):
            line
        }
    }

    /// The reading concerned, for reading problems.
    public var identity: ReadingIdentity? {
        switch self {
        case .readingMissing(_, _, let identity), .readingChanged(_, _, let identity, _, _, _),
            .archiveLookupFailed(_, _, let identity, _), .batchReadingChanged(_, _, let identity, _):
            identity
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .malformedLine(let line, let reason):
            return "line \(line) is not a valid ledger entry: \(reason)"
        case .incompleteLastLine(let line):
            return "line \(line), the last, is incomplete (no end of line): an append cut short by a crash (the "
                + "gateway removes it when it next opens the ledger), or the file was cut or edited"
        case .sequenceBreak(let line, let expected, let found):
            if found > expected {
                let missing = found == expected + 1 ? "entry \(expected) is" : "entries \(expected)–\(found - 1) are"
                return "line \(line) holds entry \(found) where entry \(expected) was expected: \(missing) missing "
                    + "(deleted, or lines reordered)"
            }
            return "line \(line) holds entry \(found) where entry \(expected) was expected: an entry was duplicated "
                + "or lines were reordered"
        case .alteredEntry(let sequence, let line):
            return "entry \(sequence) (line \(line)) has been altered: its hash does not match its content"
        case .brokenLink(let sequence, let line):
            if sequence == 1 {
                return "entry 1 (line \(line))'s previous-hash is not the chain's start (64 zeros): the ledger's "
                    + "beginning was replaced"
            }
            return "entry \(sequence)'s previous-hash does not match entry \(sequence - 1) (line \(line)): an entry "
                + "before it was replaced or the chain was spliced"
        case .missingSignature(let sequence, let line, let signer):
            return "entry \(sequence) (line \(line)) names signer \(signer) but carries no signature: it was removed"
        case .unsignedEntry(let sequence, let line):
            return "entry \(sequence) (line \(line)) is not signed, but a public key was given, so every entry must be "
                + "signed with it"
        case .wrongSigner(let sequence, let line, let signer, let expected):
            return "entry \(sequence) (line \(line)) is signed by key \(signer), not by the given key \(expected)"
        case .badSignature(let sequence, let line):
            return "signature of entry \(sequence) (line \(line)) does not verify"
        case .readingMissing(let sequence, let line, let identity):
            return "entry \(sequence) (line \(line)): reading \(identity) is missing from the archive"
        case .readingChanged(let sequence, let line, let identity, let recorded, let current, let identityFieldsChanged):
            let what =
                identityFieldsChanged
                ? "the archived reading no longer even has this identity (its device, subject, kind, time anchor or payload changed)"
                : "its identifying fields are unchanged, so its values, flags, context or time evidence were altered"
            return "entry \(sequence) (line \(line)): reading \(identity) no longer matches its digest (recorded "
                + "\(recorded), archive now gives \(current)): \(what)"
        case .archiveLookupFailed(let sequence, let line, let identity, let reason):
            return "entry \(sequence) (line \(line)): reading \(identity) could not be read from the archive: \(reason)"
        case .batchReadingChanged(let sequence, let line, let identity, let position):
            return
                "entry \(sequence) (line \(line)): reading \(identity) (number \(position) of the batch by identity) no longer "
                + "matches what was recorded: its values, flags, context, time evidence or identifying fields were altered"
        case .batchCountChanged(let sequence, let line, let recorded, let found, let difference):
            let place =
                switch difference {
                case .after(let identity): "; the first difference comes after reading \(identity)"
                case .atStart: "; the first difference is at the start"
                case .unlocated: ""
                }
            return
                "entry \(sequence) (line \(line)) recorded \(recorded) readings but the archive holds \(found) for it: readings "
                + "were deleted, added or moved to another entry\(place)"
        case .batchChanged(let sequence, let line):
            return
                "entry \(sequence) (line \(line)): the archive's readings for it no longer give its recorded root: they were altered"
        case .batchLookupFailed(let sequence, let line, let reason):
            return "entry \(sequence) (line \(line)): its readings could not be read from the archive: \(reason)"
        }
    }
}

/// Walks a ledger file from the start and stops at the first problem. Every line must decode, be in canonical
/// form (re-encoding it gives the same bytes, so no edit hides in formatting), follow the previous entry's
/// sequence number, match its own hash, link to the previous hash, carry a valid signature when a key is given
/// (or when it names a signer), and every reading it lists must be in the archive with the recorded digest.
enum LedgerVerifier {
    static func verify(
        file: LedgerFileDescriptor, limit: Int, directory: String, lookup: (ReadingIdentity) throws -> Reading?,
        batch: (LedgerEntry) throws -> [LedgerEntry.Item], publicKey: Curve25519.Signing.PublicKey?
    ) throws(LedgerError) -> LedgerVerification {
        let keyFingerprint = publicKey.map { GatewayKey.fingerprint(of: $0) }
        let retiredThrough = try self.retiredThrough(file: file, limit: limit)
        var entries = 0
        var readings = 0
        var retiredReadings = 0
        var signaturesVerified = 0
        var signaturesUnchecked = 0
        var previousHash = LedgerEntry.genesisHash
        var problem: LedgerProblem?

        func check(_ bytes: ArraySlice<UInt8>, line: Int) -> LedgerProblem? {
            guard !bytes.isEmpty else { return .malformedLine(line: line, reason: "the line is empty") }
            let entry: LedgerEntry
            do {
                entry = try JSONDecoder().decode(LedgerEntry.self, from: Data(bytes))
            } catch {
                return .malformedLine(line: line, reason: describe(error))
            }
            if let reason = entry.formatProblem { return .malformedLine(line: line, reason: reason) }
            guard let canonical = try? entry.jsonLine(), canonical.elementsEqual(bytes) else {
                return .malformedLine(
                    line: line,
                    reason: "it is not in the ledger's canonical form (fields added, escaped or reformatted: edited)")
            }
            let expected = entries + 1
            if entry.sequence != expected {
                return .sequenceBreak(line: line, expected: expected, found: entry.sequence)
            }
            if entry.computedHash != entry.hash { return .alteredEntry(sequence: entry.sequence, line: line) }
            if entry.previousHash != previousHash { return .brokenLink(sequence: entry.sequence, line: line) }
            if let signer = entry.signer, entry.signature == nil {
                return .missingSignature(sequence: entry.sequence, line: line, signer: signer)
            }
            if let publicKey, let keyFingerprint {
                guard let signer = entry.signer, let signature = entry.signature.flatMap({ bytesFromHex($0) }) else {
                    return .unsignedEntry(sequence: entry.sequence, line: line)
                }
                if signer != keyFingerprint {
                    return .wrongSigner(sequence: entry.sequence, line: line, signer: signer, expected: keyFingerprint)
                }
                guard let hash = bytesFromHex(entry.hash), publicKey.isValidSignature(signature, for: hash) else {
                    return .badSignature(sequence: entry.sequence, line: line)
                }
                signaturesVerified += 1
            } else if entry.signature != nil {
                signaturesUnchecked += 1
            }
            // An entry a retirement covers may have no readings left (all or none: retention removes whole entries).
            let retirable = entry.sequence <= retiredThrough
            if entry.format == 3 {
                entries += 1
                previousHash = entry.hash
                return nil
            }
            if entry.root != nil {
                let archived = Result { try batch(entry) }
                if retirable, case .success(let items) = archived, items.isEmpty {
                    retiredReadings += entry.readingCount
                } else {
                    if let problem = checkBatch(entry, line: line, readings: { try archived.get() }) { return problem }
                    readings += entry.readingCount
                }
                entries += 1
                previousHash = entry.hash
                return nil
            }
            var found: [Reading?] = []
            for item in entry.items {
                do {
                    found.append(try lookup(item.identity))
                } catch {
                    return .archiveLookupFailed(
                        sequence: entry.sequence, line: line, identity: item.identity, reason: "\(error)")
                }
            }
            if retirable, found.allSatisfy({ $0 == nil }) {
                retiredReadings += entry.items.count
                entries += 1
                previousHash = entry.hash
                return nil
            }
            for (item, reading) in zip(entry.items, found) {
                guard let reading else {
                    return .readingMissing(sequence: entry.sequence, line: line, identity: item.identity)
                }
                let current: ReadingDigest
                do {
                    current = try ReadingDigest(of: reading)
                } catch {
                    return .archiveLookupFailed(
                        sequence: entry.sequence, line: line, identity: item.identity, reason: "\(error)")
                }
                if current != item.digest {
                    return .readingChanged(
                        sequence: entry.sequence, line: line, identity: item.identity, recorded: item.digest,
                        current: current,
                        identityFieldsChanged: reading.identity != item.identity)
                }
                readings += 1
            }
            entries += 1
            previousHash = entry.hash
            return nil
        }

        var lineNumber = 0
        let rest = try forEachLine(file: file, limit: limit) { bytes, line in
            lineNumber = line
            if let found = check(bytes, line: line) {
                problem = found
                return false
            }
            return true
        }
        let buffer = rest
        if problem == nil, !buffer.isEmpty { problem = .incompleteLastLine(line: lineNumber + 1) }

        var notes: [String] = []
        let tornPath = directory + "/" + Ledger.tornFileName
        if let attributes = try? FileManager.default.attributesOfItem(atPath: tornPath),
            let size = attributes[.size] as? Int
        {
            notes.append(
                "\(tornPath) holds \(size) bytes of torn last lines removed when the gateway opened the ledger after a "
                    + "crash (appends that never completed, so batches never acknowledged)")
        }
        return LedgerVerification(
            path: file.path, entriesVerified: entries, readingsVerified: readings, readingsRetired: retiredReadings,
            signaturesVerified: signaturesVerified,
            signaturesUnchecked: signaturesUnchecked, keyFingerprint: keyFingerprint, headHash: previousHash,
            problem: problem,
            notes: notes)
    }

    /// Calls `body` with each complete line (without its newline) and its 1-based number until it returns false;
    /// returns what follows the last newline read (an incomplete last line, or empty).
    static func forEachLine(
        file: LedgerFileDescriptor, limit: Int, _ body: (ArraySlice<UInt8>, Int) -> Bool
    ) throws(LedgerError) -> [UInt8] {
        var lineNumber = 0
        var buffer: [UInt8] = []
        var offset = 0
        let chunk = 1 << 20
        do {
            while offset < limit {
                let bytes = try file.read(count: min(chunk, limit - offset), at: offset)
                if bytes.isEmpty { break }  // the file shrank under us; treat what we have as the end
                offset += bytes.count
                buffer += bytes
                var start = buffer.startIndex
                while let newline = buffer[start...].firstIndex(of: 0x0A) {
                    lineNumber += 1
                    if !body(buffer[start..<newline], lineNumber) { return [] }
                    start = newline + 1
                }
                buffer.removeSubrange(..<start)
            }
        } catch {
            throw .io(error)
        }
        return buffer
    }

    /// The highest entry a retirement entry says retention removed the readings of (0: none). Read before the entries
    /// are checked, because a retirement follows the entries it covers; a forged one still fails when it is reached.
    static func retiredThrough(file: LedgerFileDescriptor, limit: Int) throws(LedgerError) -> Int {
        let marker = Array(#""retired":"#.utf8)
        var through = 0
        _ = try forEachLine(file: file, limit: limit) { bytes, _ in
            guard bytes.count > marker.count, bytes.firstRange(of: marker) != nil,
                let entry = try? JSONDecoder().decode(LedgerEntry.self, from: Data(bytes)), let retired = entry.retired,
                retired < entry.sequence
            else { return true }
            through = max(through, retired)
            return true
        }
        return through
    }

    /// A format 2 or 4 entry against the archive's readings for it: the count, then the root; when the root differs,
    /// the entry's locator sums (format 4) or tags (format 2) say which reading changed.
    static func checkBatch(_ entry: LedgerEntry, line: Int, readings: () throws -> [LedgerEntry.Item]) -> LedgerProblem?
    {
        let archived: [LedgerEntry.Item]
        do { archived = try readings() } catch {
            return .batchLookupFailed(sequence: entry.sequence, line: line, reason: "\(error)")
        }
        let recorded = entry.readingCount
        guard let located = (entry.locators ?? entry.tags).flatMap({ Data(base64Encoded: $0) }).map(Array.init) else {
            return .batchLookupFailed(
                sequence: entry.sequence, line: line,
                reason: "its \(entry.locators != nil ? "locators" : "tags") do not decode")
        }
        guard !archived.isEmpty else {
            return .batchCountChanged(
                sequence: entry.sequence, line: line, recorded: recorded, found: 0, difference: .atStart)
        }
        let digest: BatchDigest
        do { digest = try BatchDigest(items: archived) } catch {
            return .batchLookupFailed(sequence: entry.sequence, line: line, reason: "\(error)")
        }
        if archived.count == recorded, digest.root == entry.root { return nil }
        let differing: Int?
        if entry.locators != nil {
            differing =
                archived.count == recorded
                ? (recorded == 1 ? 0 : BatchLocator.changedPosition(recorded: located, leaves: digest.leaves))
                : BatchLocator.gapPosition(recorded: located, recordedCount: recorded, leaves: digest.leaves)
        } else {
            // The entry's own tag width (1 byte since 2026-12, 2 before); `formatProblem` checked it divides evenly.
            let width = recorded > 0 ? max(1, located.count / recorded) : 1
            let common = min(archived.count, recorded)
            let firstDiffering = (0..<common).first { (index: Int) -> Bool in
                let range = (index * width)..<((index + 1) * width)
                return range.upperBound > located.count
                    || !digest.tag(index, width: width).elementsEqual(located[range])
            }
            differing = firstDiffering ?? (archived.count != recorded ? common : nil)
        }
        if archived.count != recorded {
            let difference: BatchDifference =
                switch differing {
                case nil: .unlocated
                case 0: .atStart
                case let position?: .after(digest.identities[position - 1])
                }
            return .batchCountChanged(
                sequence: entry.sequence, line: line, recorded: recorded, found: archived.count, difference: difference)
        }
        if let differing {
            return .batchReadingChanged(
                sequence: entry.sequence, line: line, identity: digest.identities[differing], position: differing + 1)
        }
        return .batchChanged(sequence: entry.sequence, line: line)
    }

    /// A short reason for a decoding failure (DecodingError's own text is long and mentions coding paths).
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _):
            "the field \"\(key.stringValue)\" is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "the field \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type"
        case DecodingError.dataCorrupted:
            "it is not valid JSON"
        default:
            "\(error)"
        }
    }
}
