import Crypto
import Foundation
import TestSupport
import Testing

@testable import Provenance

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: Helpers

/// A fresh directory under the system temporary directory, removed by `remove()`.
private struct Scratch {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    var ledgerPath: String { path + "/" + Ledger.fileName }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The "archive" a verifier checks against: readings by identity, and which identities each entry recorded.
private struct Archive {
    var readings: [ReadingIdentity: Reading] = [:]
    var entries: [Int: [ReadingIdentity]] = [:]
    mutating func add(_ batch: [Reading], sequence: Int? = nil) {
        for reading in batch { if let identity = reading.identity { readings[identity] = reading } }
        if let sequence { entries[sequence] = batch.compactMap(\.identity) }
    }
    func lookup(_ identity: ReadingIdentity) -> Reading? { readings[identity] }
    /// What the archive holds for a format 2 entry.
    func batch(_ entry: LedgerEntry) throws -> [LedgerEntry.Item] {
        try (entries[entry.sequence] ?? []).compactMap { readings[$0] }.map { reading in
            LedgerEntry.Item(identity: try #require(reading.identity), digest: try ReadingDigest(of: reading))
        }
    }
}

/// `count` batches of `size` distinct readings (glucose-style sequence numbers make the identities distinct).
private func batches(_ count: Int, size: Int = 3) -> [[Reading]] {
    (0..<count).map { batch in
        (0..<size).map { index in
            let n = batch * size + index
            return sampleReading(
                sequence: UInt16(n), payload: [0x1E, UInt8(truncatingIfNeeded: n), 0xF4],
                received: 1_795_000_000_000_000 + Int64(n))
        }
    }
}

/// Writes the batches to a ledger in `directory`, returning the entries and the archive holding the readings.
/// `format` 1 writes entries as ledgers before the Merkle root did (they must go on verifying).
private func writeLedger(
    in directory: String, batches: [[Reading]], key: GatewayKey? = nil, format: Int = 4,
    tagWidth: Int = BatchDigest.tagLength
) throws -> ([LedgerEntry], Archive) {
    let ledger = try Ledger(directory: directory, key: key, entryFormat: format, tagWidth: tagWidth)
    var archive = Archive()
    var entries: [LedgerEntry] = []
    for (index, batch) in batches.enumerated() {
        entries.append(
            try ledger.append(readings: batch, recordedMicros: 1_795_000_100_000_000 + Int64(index) * 1_000_000))
        archive.add(batch, sequence: entries.last?.sequence)
    }
    return (entries, archive)
}

private func fileLines(_ path: String) throws -> [String] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var lines = text.components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    return lines
}

private func writeLines(_ lines: [String], to path: String) throws {
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
}

private func decodeEntry(_ line: String) throws -> LedgerEntry {
    try JSONDecoder().decode(LedgerEntry.self, from: Data(line.utf8))
}

private func encodeEntry(_ entry: LedgerEntry) throws -> String {
    String(decoding: try entry.jsonLine(), as: UTF8.self)
}

/// A reading with every optional part filled, to exercise the canonical encoding.
private func richReading() -> Reading {
    var reading = sampleReading(sequence: 42)
    reading.kind = .glucose
    reading.components = [
        ReadingComponent(
            metric: .glucose, value: .quantity(DecimalQuantity(mantissa: 56, exponent: -4)), unit: "mol/L"),
        ReadingComponent(metric: .heartRate, value: .absent(.notAtThisResolution), unit: "/min"),
    ]
    reading.device.address = "AA:BB:CC:DD:EE:FF"
    reading.device.manufacturer = "Ümlaut & Söhne / Medical"
    reading.context.statusLabels = ["strip_insertion_error", "sample_size_insufficient"]
    var glucose = GlucoseContext(sequenceNumber: 42)
    glucose.meal = "preprandial"
    glucose.carbohydrateKilograms = DecimalQuantity(mantissa: 45, exponent: -3)
    reading.context.glucose = glucose
    reading.time.clock = ClockComparison(
        deviceTime: DeviceWallClock(year: nil, month: 2, day: 3, hour: 4, minute: 5, second: 6),
        deviceUTCOffsetMinutes: -300,
        gatewayMicros: 1_795_000_000_123_456, roundTripMicros: 8_000, afterSet: true)
    reading.time.decision = .refused(reason: "clock reset to 2000-01-01")
    reading.flags = [.sensorAnnunciation, .timeRefused]
    reading.rawPayloads = [[0x00, 0xFF, 0x10], [0x7F]]
    return reading
}

// MARK: Tests

@Suite struct LedgerTests {
    // MARK: Reading digests

    @Test func theCanonicalEncodingIsDeterministicAndSurvivesARoundTrip() throws {
        for reading in [sampleReading(), sampleReading(stamp: nil, user: nil), richReading()] {
            let first = try ReadingDigest.canonicalEncoding(of: reading)
            let second = try ReadingDigest.canonicalEncoding(of: reading)
            #expect(first == second)
            let decoded = try JSONDecoder().decode(Reading.self, from: first)
            #expect(decoded == reading)
            #expect(try ReadingDigest.canonicalEncoding(of: decoded) == first)
            #expect(try ReadingDigest(of: decoded) == ReadingDigest(of: reading))
        }
        #expect(try ReadingDigest(of: sampleReading()) != ReadingDigest(of: richReading()))
    }

    /// Pins the exact bytes: if Foundation's JSONEncoder ever changed its output, every ledger written before
    /// the change would stop verifying, and this test is where that must show up first.
    @Test func theCanonicalEncodingOfASampleReadingIsPinned() throws {
        let text = String(decoding: try ReadingDigest.canonicalEncoding(of: sampleReading(sequence: 7)), as: UTF8.self)
        let expected =
            #"{"characteristic":"0x2A35","components":[{"metric":"bp_systolic","unit":"mm[Hg]","value":{"quantity":{"_0":{"exponent":-1,"mantissa":1205}}}}],"context":{"setting":"home","statusLabels":[],"userID":1},"device":{"link":"socketpair","systemID":"00-1B-C5-00-00-00-04-17"},"flags":0,"gateway":{"id":"gw-1","softwareVersion":"test"},"kind":"blood_pressure","modelVersion":1,"rawPayloads":[[30,181,244]],"sequenceNumber":7,"subject":"alice","time":{"decision":{"kept":{}},"deviceTimestamp":{"day":18,"hour":7,"minute":30,"month":11,"second":0,"year":2026},"effectiveMicros":1795000000000000,"localOffsetSeconds":32400,"receivedMicros":1795000000000000,"syncMethod":"none"}}"#
        #expect(text == expected)
    }

    // MARK: The chain

    @Test func aChainOfBatchesVerifies() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (entries, archive) = try writeLedger(in: scratch.path, batches: batches(5))
        #expect(entries.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(entries[0].previousHash == LedgerEntry.genesisHash)
        for index in 1..<entries.count { #expect(entries[index].previousHash == entries[index - 1].hash) }
        #expect(entries.allSatisfy { $0.hash == $0.computedHash && $0.signature == nil && $0.signer == nil })

        let result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.isIntact)
        #expect(result.entriesVerified == 5)
        #expect(result.readingsVerified == 15)
        #expect(result.headHash == entries[4].hash)
        #expect(result.summary.contains("intact"))
        #expect(try fileLines(scratch.ledgerPath).count == 5)
    }

    @Test func theCanonicalEntryTextIsLineBased() throws {
        let entry = LedgerEntry(
            sequence: 2, previousHash: String(repeating: "a", count: 64), recordedMicros: 17,
            items: [
                LedgerEntry.Item(
                    identity: ReadingIdentity(hex: String(repeating: "1", count: 64)),
                    digest: ReadingDigest(hex: String(repeating: "2", count: 64)))
            ],
            signer: nil)
        #expect(
            entry.canonicalText == """
                gatewayd-ledger-entry-v1
                sequence:2
                previous:\(String(repeating: "a", count: 64))
                recorded:17
                signer:-
                readings:1
                \(String(repeating: "1", count: 64)) \(String(repeating: "2", count: 64))

                """)
        #expect(entry.hash == Array(SHA256.hash(data: Array(entry.canonicalText.utf8))).hexString)
    }

    @Test func reopeningContinuesTheChain() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(4)
        var (entries, archive) = try writeLedger(in: scratch.path, batches: Array(all[0..<2]))
        let ledger = try Ledger(directory: scratch.path)
        #expect(ledger.lastSequence == 2)
        #expect(ledger.lastHash == entries[1].hash)
        #expect(ledger.recovery == nil && ledger.notes.isEmpty)
        for batch in all[2...] {
            entries.append(try ledger.append(readings: batch, recordedMicros: 1_795_000_200_000_000))
            archive.add(batch, sequence: entries.last?.sequence)
        }
        #expect(entries[2].sequence == 3 && entries[2].previousHash == entries[1].hash)
        let result = try ledger.verify(lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.isIntact && result.entriesVerified == 4 && result.readingsVerified == 12)
    }

    @Test func concurrentAppendsFormOneChain() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let ledger = try Ledger(directory: scratch.path, key: GatewayKey.generate())
        let all = batches(40, size: 2)
        let recorded = try await withThrowingTaskGroup(of: [(Int, Int)].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    try stride(from: worker, to: all.count, by: 4).map { batch in
                        (batch, try ledger.append(readings: all[batch], recordedMicros: Int64(batch)).sequence)
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        var archive = Archive()
        for (batch, sequence) in recorded { archive.add(all[batch], sequence: sequence) }
        let result = try ledger.verify(lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.isIntact && result.entriesVerified == 40 && result.readingsVerified == 80)
        #expect(ledger.lastSequence == 40 && result.headHash == ledger.lastHash)
    }

    @Test func aSecondProcessCannotOpenTheLedgerAndBadBatchesAreRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let ledger = try Ledger(directory: scratch.path)
        #expect(throws: LedgerError.inUse(path: scratch.ledgerPath)) { _ = try Ledger(directory: scratch.path) }
        #expect(throws: LedgerError.emptyBatch) { _ = try ledger.append(readings: [], recordedMicros: 0) }
        var unmapped = sampleReading()
        unmapped.subject = nil
        #expect(throws: LedgerError.readingWithoutSubject(index: 1)) {
            _ = try ledger.append(readings: [sampleReading(), unmapped], recordedMicros: 0)
        }
        #expect(ledger.lastSequence == 0)
        #expect(throws: LedgerError.missing(path: scratch.path + "/nowhere/" + Ledger.fileName)) {
            _ = try Ledger.verify(
                directory: scratch.path + "/nowhere", lookup: { _ in nil }, batch: { _ in [] }, publicKey: nil)
        }
    }

    // MARK: The archive

    @Test func anAlteredArchivedReadingIsNamedWithItsEntryAndIdentity() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(4)
        var (_, archive) = try writeLedger(in: scratch.path, batches: all, format: 1)
        let target = all[2][1]
        let identity = try #require(target.identity)
        var altered = target
        altered.components[0].value = .quantity(DecimalQuantity(mantissa: 1105, exponent: -1))  // 120.5 → 110.5 mmHg
        archive.readings[identity] = altered

        let result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        let problem = try #require(result.problem)
        #expect(problem.sequence == 3 && problem.line == 3 && problem.identity == identity)
        guard case .readingChanged(_, _, _, let recorded, let current, let identityFieldsChanged) = problem else {
            Issue.record("expected readingChanged, got \(problem)")
            return
        }
        #expect(try recorded == ReadingDigest(of: target))
        #expect(try current == ReadingDigest(of: altered))
        #expect(!identityFieldsChanged)
        #expect(result.entriesVerified == 2 && result.readingsVerified == 7)
        #expect(
            problem.description.contains("no longer matches its digest") && problem.description.contains(identity.hex))
        #expect(result.summary.contains("FAILED"))

        // A change to what the identity is made of (the payload) is called out as such.
        altered = target
        altered.rawPayloads = [[0x1E, 0x00, 0x00]]
        archive.readings[identity] = altered
        let second = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        guard case .readingChanged(3, 3, identity, _, _, true) = second.problem else {
            Issue.record(
                "expected readingChanged with identity fields changed, got \(String(describing: second.problem))")
            return
        }
    }

    @Test func aReadingDeletedFromTheArchiveIsNamed() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(4)
        var (_, archive) = try writeLedger(in: scratch.path, batches: all, format: 1)
        let identity = try #require(all[1][2].identity)
        archive.readings[identity] = nil
        let result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.problem == .readingMissing(sequence: 2, line: 2, identity: identity))
        #expect(result.problem?.description == "entry 2 (line 2): reading \(identity.hex) is missing from the archive")

        struct ArchiveDown: Error {}
        let failing = try Ledger.verify(
            directory: scratch.path, lookup: { _ in throw ArchiveDown() }, batch: { _ in throw ArchiveDown() },
            publicKey: nil)
        guard case .archiveLookupFailed(1, 1, _, _) = failing.problem else {
            Issue.record("expected archiveLookupFailed, got \(String(describing: failing.problem))")
            return
        }
    }

    // MARK: Edits to the file

    @Test func aChangedDigestInTheFileIsNamed() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (_, archive) = try writeLedger(in: scratch.path, batches: batches(5), format: 1)
        var lines = try fileLines(scratch.ledgerPath)
        let marker = try #require(lines[2].range(of: #""digest":""#))
        let digit = lines[2][marker.upperBound]
        lines[2].replaceSubrange(marker.upperBound...marker.upperBound, with: digit == "0" ? "1" : "0")
        try writeLines(lines, to: scratch.ledgerPath)
        let result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.problem == .alteredEntry(sequence: 3, line: 3))
        #expect(result.problem?.description == "entry 3 (line 3) has been altered: its hash does not match its content")
        #expect(result.entriesVerified == 2)
    }

    @Test func anEntryRehashedAfterAnEditBreaksTheNextLink() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(5)
        var (_, archive) = try writeLedger(in: scratch.path, batches: all, format: 1)
        // The attacker changes a reading, its digest, and entry 3's hash to match; entry 4 still links to the old hash.
        var lines = try fileLines(scratch.ledgerPath)
        var entry = try decodeEntry(lines[2])
        var altered = all[2][0]
        altered.flags = []
        altered.components[0].value = .quantity(DecimalQuantity(mantissa: 1305, exponent: -1))
        entry.items[0].digest = try ReadingDigest(of: altered)
        entry.hash = entry.computedHash
        lines[2] = try encodeEntry(entry)
        archive.readings[entry.items[0].identity] = altered
        try writeLines(lines, to: scratch.ledgerPath)
        let result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.problem == .brokenLink(sequence: 4, line: 4))
        #expect(result.problem?.description.hasPrefix("entry 4's previous-hash does not match entry 3") == true)
        #expect(result.entriesVerified == 3)
    }

    @Test func reorderedOrDeletedLinesAreNamed() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (_, archive) = try writeLedger(in: scratch.path, batches: batches(5))
        let original = try fileLines(scratch.ledgerPath)

        var swapped = original
        swapped.swapAt(1, 2)
        try writeLines(swapped, to: scratch.ledgerPath)
        var result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.problem == .sequenceBreak(line: 2, expected: 2, found: 3))

        var deleted = original
        deleted.remove(at: 2)
        try writeLines(deleted, to: scratch.ledgerPath)
        result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.problem == .sequenceBreak(line: 3, expected: 3, found: 4))
        #expect(result.problem?.description.contains("entry 3 is missing") == true)

        var duplicated = original
        duplicated.insert(original[1], at: 2)
        try writeLines(duplicated, to: scratch.ledgerPath)
        result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.problem == .sequenceBreak(line: 3, expected: 3, found: 2))

        var reformatted = original
        reformatted[3] = reformatted[3].replacingOccurrences(of: ",", with: ", ")
        try writeLines(reformatted, to: scratch.ledgerPath)
        result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        guard case .malformedLine(4, _) = result.problem else {
            Issue.record("expected malformedLine at 4, got \(String(describing: result.problem))")
            return
        }
    }

    // MARK: Signatures

    @Test func signaturesVerifyWithTheKeyAndFailWithAnother() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let key = GatewayKey.generate()
        let (entries, archive) = try writeLedger(in: scratch.path, batches: batches(4), key: key)
        #expect(entries.allSatisfy { $0.signer == key.fingerprint && $0.signature?.count == 128 })

        let good = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: key.publicKey)
        #expect(good.isIntact && good.signaturesVerified == 4)

        let other = GatewayKey.generate()
        let wrong = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: other.publicKey)
        #expect(
            wrong.problem == .wrongSigner(sequence: 1, line: 1, signer: key.fingerprint, expected: other.fingerprint))

        let unchecked = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(unchecked.isIntact && unchecked.signaturesUnchecked == 4)
        #expect(unchecked.summary.contains("4 signatures not checked"))

        // A signature made with another key but claiming the gateway's fingerprint does not verify.
        var lines = try fileLines(scratch.ledgerPath)
        var entry = try decodeEntry(lines[2])
        entry.signature = try other.sign(try #require(bytesFromHex(entry.hash))).hexString
        lines[2] = try encodeEntry(entry)
        try writeLines(lines, to: scratch.ledgerPath)
        let forged = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: key.publicKey)
        #expect(forged.problem == .badSignature(sequence: 3, line: 3))
        #expect(forged.problem?.description == "signature of entry 3 (line 3) does not verify")

        // Stripping the signature (the signer is part of the hash) is noticed even without a key.
        entry.signature = nil
        lines[2] = try encodeEntry(entry)
        try writeLines(lines, to: scratch.ledgerPath)
        let stripped = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(stripped.problem == .missingSignature(sequence: 3, line: 3, signer: key.fingerprint))
    }

    @Test func unsignedEntriesFailWhenAKeyIsExpected() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (_, archive) = try writeLedger(in: scratch.path, batches: batches(3))
        let key = GatewayKey.generate()
        let result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: key.publicKey)
        #expect(result.problem == .unsignedEntry(sequence: 1, line: 1))

        // Turning signing on later is allowed, and said, but one key cannot verify both parts.
        let ledger = try Ledger(directory: scratch.path, key: key)
        #expect(ledger.notes.contains { $0.contains("entries up to 3 are unsigned") })
        _ = try ledger.append(readings: batches(4)[3], recordedMicros: 1)
    }

    // MARK: Crashes

    @Test func aTornLastLineIsMovedAsideOnOpenAndTheChainContinues() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(5)
        var (entries, archive) = try writeLedger(in: scratch.path, batches: Array(all[0..<3]))
        let intactSize = try #require(FileManager.default.attributesOfItem(atPath: scratch.ledgerPath)[.size] as? Int)

        // A crash in the middle of writing entry 4: half its line, no newline.
        let next = LedgerEntry(
            sequence: 4, previousHash: entries[2].hash, recordedMicros: 9, items: [], signer: nil)
        let half = Array(try next.jsonLine().prefix(40))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.ledgerPath))
        try handle.seekToEnd()
        try handle.write(contentsOf: half)
        try handle.close()

        let before = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(before.problem == .incompleteLastLine(line: 4))
        #expect(before.entriesVerified == 3)

        let ledger = try Ledger(directory: scratch.path)
        let recovery = try #require(ledger.recovery)
        #expect(recovery.offset == intactSize && recovery.byteCount == 40)
        #expect(ledger.notes.count == 1 && ledger.lastSequence == 3)
        let torn = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/" + Ledger.tornFileName))
        #expect(torn.range(of: Data(half)) != nil)

        entries.append(try ledger.append(readings: all[3], recordedMicros: 10))
        archive.add(all[3], sequence: 4)
        #expect(entries[3].sequence == 4 && entries[3].previousHash == entries[2].hash)
        let after = try ledger.verify(lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(after.isIntact && after.entriesVerified == 4)
        #expect(after.notes.contains { $0.contains(Ledger.tornFileName) })
    }

    @Test func garbageAfterTheLastNewlineIsMovedAsideButABadMiddleLineIsNot() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (_, archive) = try writeLedger(in: scratch.path, batches: batches(3))

        // Zeros and a newline (a crash that extended the file but not its data): not JSON, so a torn write.
        var data = try Data(contentsOf: URL(fileURLWithPath: scratch.ledgerPath))
        data += Data(repeating: 0, count: 16) + Data([0x0A])
        try data.write(to: URL(fileURLWithPath: scratch.ledgerPath))
        do {
            let ledger = try Ledger(directory: scratch.path)
            #expect(ledger.recovery?.byteCount == 17 && ledger.lastSequence == 3)
        }

        // A bad line in the middle is tampering: opening leaves it alone and verify names it.
        var lines = try fileLines(scratch.ledgerPath)
        lines[1] = String(lines[1].dropLast(5))
        try writeLines(lines, to: scratch.ledgerPath)
        let edited = try Data(contentsOf: URL(fileURLWithPath: scratch.ledgerPath))
        do {
            let ledger = try Ledger(directory: scratch.path)
            #expect(ledger.recovery == nil && ledger.lastSequence == 3)
            let result = try ledger.verify(lookup: archive.lookup, batch: archive.batch, publicKey: nil)
            #expect(result.problem == .malformedLine(line: 2, reason: "it is not valid JSON"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.ledgerPath)) == edited)

        // A last line that is JSON but not an entry is not a torn write either: opening refuses to guess.
        lines.append(#"{"hello":"world"}"#)
        try writeLines(lines, to: scratch.ledgerPath)
        let error = #expect(throws: LedgerError.self) { _ = try Ledger(directory: scratch.path) }
        guard case .lastEntryUnreadable = error else {
            Issue.record("expected lastEntryUnreadable, got \(String(describing: error))")
            return
        }
    }

    /// Flips one random byte of a ledger file, many times from a fixed seed: verification must always report a
    /// problem (never crash, never say intact), and opening the file must either refuse, or move a torn tail
    /// aside and say so.
    @Test(arguments: [false, true]) func aFlippedByteIsAlwaysReported(signed: Bool) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let key = GatewayKey.generate()
        let source = scratch.path + "/source"
        let (_, archive) = try writeLedger(in: source, batches: batches(6, size: 2), key: signed ? key : nil)
        let original = try Data(contentsOf: URL(fileURLWithPath: source + "/" + Ledger.fileName))
        var random = TestRandom(seed: signed ? 0x5EED_0001 : 0x5EED_0002)
        for trial in 0..<400 {
            var bytes = [UInt8](original)
            let position = Int.random(in: 0..<bytes.count, using: &random)
            bytes[position] ^= UInt8.random(in: 1...255, using: &random)
            let directory = scratch.path + "/trial-\(trial)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + Ledger.fileName))

            let result = try Ledger.verify(
                directory: directory, lookup: archive.lookup, batch: archive.batch,
                publicKey: signed ? key.publicKey : nil)
            #expect(!result.isIntact, "trial \(trial): flipping byte \(position) went unnoticed")
            #expect(result.summary.contains("FAILED"))

            do {
                let ledger = try Ledger(directory: directory, key: signed ? key : nil)
                let reopened = try ledger.verify(
                    lookup: archive.lookup, batch: archive.batch, publicKey: signed ? key.publicKey : nil)
                #expect(
                    !reopened.isIntact || ledger.recovery != nil, "trial \(trial): byte \(position) silently repaired")
            } catch {
                #expect(error.description.contains("cannot continue the ledger"), "trial \(trial): \(error)")
            }
            try FileManager.default.removeItem(atPath: directory)
        }
    }

    // MARK: The key

    @Test func theKeyFileIsCreatedPrivateAndAReadableOneIsRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.path + "/gateway.key"
        let created = try GatewayKey.loadOrCreate(at: path)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(created.fingerprint.count == 16)
        #expect(
            created.fingerprint
                == String(Array(SHA256.hash(data: created.publicKey.rawRepresentation)).hexString.prefix(16)))

        let loaded = try GatewayKey.loadOrCreate(at: path)
        #expect(loaded.fingerprint == created.fingerprint)
        #expect(loaded.privateKey.rawRepresentation == created.privateKey.rawRepresentation)
        #expect(throws: GatewayKeyError.alreadyExists(path: path)) { _ = try GatewayKey.create(at: path) }

        #expect(chmod(path, 0o644) == 0)
        let error = #expect(throws: GatewayKeyError.insecurePermissions(path: path, mode: 0o644)) {
            _ = try GatewayKey.load(from: path)
        }
        #expect(error?.description.contains("chmod 600 \(path)") == true)
        #expect(chmod(path, 0o600) == 0)

        let publicPath = scratch.path + "/gateway.pub"
        try created.writePublicKey(to: publicPath)
        #expect(try GatewayKey.loadPublicKey(from: publicPath).rawRepresentation == created.publicKey.rawRepresentation)

        let garbage = scratch.path + "/garbage.key"
        #expect(
            FileManager.default.createFile(
                atPath: garbage, contents: Data("not a key\n".utf8), attributes: [.posixPermissions: 0o600]))
        let malformed = #expect(throws: GatewayKeyError.self) { _ = try GatewayKey.load(from: garbage) }
        guard case .malformed = malformed else {
            Issue.record("expected malformed, got \(String(describing: malformed))")
            return
        }
        #expect(throws: GatewayKeyError.missing(path: scratch.path + "/absent.key")) {
            _ = try GatewayKey.load(from: scratch.path + "/absent.key")
        }
    }
}

// MARK: Lookup by sequence

@Suite struct LedgerLookupTests {
    // MARK: Format 2 (a Merkle root and a tag per reading)

    @Test func aFormatTwoLineHoldsARootAndOneByteAReading() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (entries, archive) = try writeLedger(in: scratch.path, batches: batches(3, size: 200), format: 2)
        #expect(entries.allSatisfy { $0.format == 2 && $0.items.isEmpty && $0.count == 200 })
        let lines = try fileLines(scratch.ledgerPath)
        // ~1.3 characters a reading (base64 of 1-byte tags) instead of ~150 (identity and digest in hex).
        #expect(lines.allSatisfy { $0.utf8.count < 200 * 4 / 3 + 400 })
        #expect(entries.allSatisfy { Data(base64Encoded: $0.tags ?? "")?.count == 200 })
        let digest = try BatchDigest(readings: batches(3, size: 200)[1].reversed())
        #expect(entries[1].root == digest.root && entries[1].tags == digest.tagsText)
        #expect(entries[1].canonicalText.hasPrefix("gatewayd-ledger-entry-v2\nsequence:2\n"))
        #expect(entries[1].canonicalText.hasSuffix("readings:200\nroot:\(digest.root)\ntags:\(digest.tagsText)\n"))
        let result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.isIntact && result.entriesVerified == 3 && result.readingsVerified == 600)
    }

    @Test(arguments: [2, 4]) func anEntryNamesTheAlteredOrMissingReading(format: Int) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(4, size: 50)
        var (_, archive) = try writeLedger(in: scratch.path, batches: all, format: format)
        let target = all[2][17]
        let identity = try #require(target.identity)
        var altered = target
        altered.components[0].value = .quantity(DecimalQuantity(mantissa: 1105, exponent: -1))
        archive.readings[identity] = altered
        var result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        guard case .batchReadingChanged(3, 3, identity, _) = result.problem else {
            Issue.record("expected batchReadingChanged naming \(identity), got \(String(describing: result.problem))")
            return
        }
        #expect(result.entriesVerified == 2 && result.readingsVerified == 100)
        #expect(result.summary.contains("FAILED") && result.summary.contains(identity.hex))

        archive.readings[identity] = nil
        result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        guard case .batchCountChanged(3, 3, 50, 49, let difference) = result.problem else {
            Issue.record("expected batchCountChanged, got \(String(describing: result.problem))")
            return
        }
        let sorted = all[2].compactMap(\.identity).sorted { $0.hex < $1.hex }
        let place = try #require(sorted.firstIndex(of: identity))
        #expect(difference == (place == 0 ? .atStart : .after(sorted[place - 1])))
        struct ArchiveDown: Error {}
        let failing = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: { _ in throw ArchiveDown() }, publicKey: nil)
        guard case .batchLookupFailed(1, 1, _) = failing.problem else {
            Issue.record("expected batchLookupFailed, got \(String(describing: failing.problem))")
            return
        }
    }

    // MARK: Format 4 (a Merkle root and locator sums)

    @Test func aFormatFourLineHoldsARootAndAFewSums() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (entries, archive) = try writeLedger(in: scratch.path, batches: batches(3, size: 200) + batches(1, size: 1))
        #expect(entries.allSatisfy { $0.format == 4 && $0.items.isEmpty && $0.tags == nil && $0.formatProblem == nil })
        // 200 readings: the total and 8 bit sums of 4 bytes (48 base64 characters, not 267 of 1-byte tags).
        #expect(entries[0..<3].allSatisfy { Data(base64Encoded: $0.locators ?? "")?.count == 36 })
        #expect(entries[3].locators == "" && entries[3].count == 1)
        #expect(try fileLines(scratch.ledgerPath).allSatisfy { $0.utf8.count < 500 })
        let digest = try BatchDigest(readings: batches(3, size: 200)[1].reversed())
        #expect(entries[1].root == digest.root && entries[1].locators == digest.locatorsText)
        #expect(entries[1].canonicalText.hasPrefix("gatewayd-ledger-entry-v4\nsequence:2\n"))
        #expect(
            entries[1].canonicalText.hasSuffix("readings:200\nroot:\(digest.root)\nlocators:\(digest.locatorsText)\n"))
        let result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.isIntact && result.entriesVerified == 4 && result.readingsVerified == 601)

        var wrongLength = entries[0]
        wrongLength.locators = Data(repeating: 0, count: 32).base64EncodedString()
        #expect(wrongLength.formatProblem?.contains("36 bytes") == true)
        wrongLength.tags = entries[0].locators
        #expect(wrongLength.formatProblem != nil)
    }

    /// Every position of a batch is named when its reading alone changed; a removed or an added reading is placed
    /// after the reading before it; two changed readings are reported, unnamed, never as a wrong one.
    @Test(arguments: [2, 3, 13, 64]) func theSumsNameTheOneChangedReadingAtEveryPosition(size: Int) throws {
        let readings = batches(1, size: size)[0]
        let recorded = try BatchDigest(readings: readings)
        let sums = recorded.locators
        #expect(sums.count == BatchLocator.byteCount(size))
        var altered = recorded.leaves
        for position in 0..<size {
            altered = recorded.leaves
            altered[position][0] ^= 0x40
            #expect(BatchLocator.changedPosition(recorded: sums, leaves: altered) == position)

            var removed = recorded.leaves
            removed.remove(at: position)
            #expect(BatchLocator.gapPosition(recorded: sums, recordedCount: size, leaves: removed) == position)

            var added = recorded.leaves
            added.insert([UInt8](repeating: UInt8(position), count: 32), at: position)
            #expect(BatchLocator.gapPosition(recorded: sums, recordedCount: size, leaves: added) == position)
        }
        #expect(BatchLocator.changedPosition(recorded: sums, leaves: recorded.leaves) == nil)
        var twice = recorded.leaves
        twice[0][1] ^= 0x01
        twice[size - 1][2] ^= 0x80
        #expect(BatchLocator.changedPosition(recorded: sums, leaves: twice) == nil)
    }

    @Test func twoAlteredReadingsInAFormatFourEntryAreReportedUnnamed() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(2, size: 30)
        var (_, archive) = try writeLedger(in: scratch.path, batches: all)
        for target in [all[1][4], all[1][21]] {
            var altered = target
            altered.components[0].value = .quantity(DecimalQuantity(mantissa: 1105, exponent: -1))
            archive.readings[try #require(target.identity)] = altered
        }
        let result = try Ledger.verify(
            directory: scratch.path, lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        guard case .batchChanged(2, 2) = result.problem else {
            Issue.record("expected batchChanged, got \(String(describing: result.problem))")
            return
        }
        #expect(result.entriesVerified == 1 && result.summary.contains("FAILED"))
    }

    /// Entries written with 2-byte tags (before 2026-12) verify and name an altered reading as before.
    @Test func entriesWithTwoByteTagsStillVerifyAndNameTheAlteredReading() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(3, size: 40)
        var (entries, archive) = try writeLedger(in: scratch.path, batches: Array(all[0..<2]), format: 2, tagWidth: 2)
        #expect(entries.allSatisfy { Data(base64Encoded: $0.tags ?? "")?.count == 80 && $0.formatProblem == nil })
        let ledger = try Ledger(directory: scratch.path)
        entries.append(try ledger.append(readings: all[2], recordedMicros: 1_795_000_200_000_000))
        archive.add(all[2], sequence: entries.last?.sequence)
        #expect(
            entries[2].format == 4 && entries[2].tags == nil
                && Data(base64Encoded: entries[2].locators ?? "")?.count == 4 * 7)
        var result = try ledger.verify(lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.isIntact && result.entriesVerified == 3 && result.readingsVerified == 120)

        let target = all[1][23]
        let identity = try #require(target.identity)
        var altered = target
        altered.components[0].value = .quantity(DecimalQuantity(mantissa: 1105, exponent: -1))
        archive.readings[identity] = altered
        result = try ledger.verify(lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        guard case .batchReadingChanged(2, 2, identity, _) = result.problem else {
            Issue.record("expected batchReadingChanged naming \(identity), got \(String(describing: result.problem))")
            return
        }
    }

    @Test func aLedgerOfFormatOneEntriesContinuesWithFormatFourAndVerifies() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(4)
        var (entries, archive) = try writeLedger(in: scratch.path, batches: Array(all[0..<2]), format: 1)
        let ledger = try Ledger(directory: scratch.path)
        for batch in all[2...] {
            entries.append(try ledger.append(readings: batch, recordedMicros: 1_795_000_200_000_000))
            archive.add(batch, sequence: entries.last?.sequence)
        }
        #expect(entries.map(\.format) == [1, 1, 4, 4])
        let result = try ledger.verify(lookup: archive.lookup, batch: archive.batch, publicKey: nil)
        #expect(result.isIntact && result.entriesVerified == 4 && result.readingsVerified == 12)
    }

    /// Recovery asks whether the last entry already recorded the readings a crash left journaled.
    @Test func theLastEntryRecordedExactlyItsBatch() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let all = batches(2, size: 5)
        _ = try writeLedger(in: scratch.path, batches: all)
        let ledger = try Ledger(directory: scratch.path)
        func items(_ readings: [Reading]) throws -> [LedgerEntry.Item] {
            try readings.map {
                LedgerEntry.Item(identity: try #require($0.identity), digest: try ReadingDigest(of: $0))
            }
        }
        #expect(ledger.lastEntryRecorded(try items(all[1].shuffled())) == 2)
        #expect(ledger.lastEntryRecorded(try items(Array(all[1].dropLast()))) == nil)
        #expect(ledger.lastEntryRecorded(try items(all[0])) == nil)
    }

    @Test func findsEveryEntryByBinarySearchAndStepsOverADamagedLine() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let ledger = try Ledger(directory: scratch.path)
        // Batches of different sizes, so lines have different lengths.
        for (index, batch) in batches(57, size: 4).enumerated() {
            _ = try ledger.append(readings: Array(batch.prefix(1 + index % 4)), recordedMicros: Int64(index))
        }
        for sequence in 1...57 {
            #expect(LedgerLookup.entry(sequence: sequence, inFile: scratch.ledgerPath)?.sequence == sequence)
        }
        #expect(LedgerLookup.entry(sequence: 58, inFile: scratch.ledgerPath) == nil)
        #expect(LedgerLookup.entry(sequence: 0, inFile: scratch.ledgerPath) == nil)
        #expect(LedgerLookup.entry(sequence: 1, inFile: scratch.path + "/missing.jsonl") == nil)
        // Damage one line in the middle (as `verify` would report it): every other entry is still found.
        var lines = try String(contentsOfFile: scratch.ledgerPath, encoding: .utf8).split(separator: "\n").map(
            String.init)
        lines[30] = "{\"sequence\": 31, damaged"
        try (lines.joined(separator: "\n") + "\n").write(toFile: scratch.ledgerPath, atomically: true, encoding: .utf8)
        for sequence in 1...57 where sequence != 31 {
            #expect(LedgerLookup.entry(sequence: sequence, inFile: scratch.ledgerPath)?.sequence == sequence)
        }
        #expect(LedgerLookup.entry(sequence: 31, inFile: scratch.ledgerPath) == nil)
    }
}
