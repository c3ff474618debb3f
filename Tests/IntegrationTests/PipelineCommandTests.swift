import Foundation
import GRDB
import StreamEngine
import Testing

/// `gatewayd collect`, `verify` and `summary` as an operator runs them, against simulated devices in other
/// processes; and `verify` catching an archived reading altered behind the gateway's back.
@Suite struct PipelineCommandTests {
    let commands = BLECommandTests()

    @Test func collectQuarantinesUnmappedReleasesOnMappingVerifiesAndSummarises() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-\(UUID().uuidString.prefix(8))")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        let cuffKey = "00-1B-C5-00-00-00-04-17"
        let socket = dir + "/bp.sock"
        let cuff = try commands.simulate(
            ["--device", "bp", "--readings", "6", "--users", "1,2", "--once"], socket: socket)
        let first = try await commands.run([
            "collect", "--dir", data, "--unix", socket, "--map", "\(cuffKey)#1=alice", "--tz", "Asia/Tokyo", "--key",
            dir + "/gw.key",
        ])
        cuff.waitUntilExit()
        #expect(first.status == 0)
        // 6 readings: users 1 and 2 alternate; the 6th is a NaN without pulse. BP + pulse readings for user 1: 3 + 3.
        #expect(first.stdout.contains("stored 6, duplicates 0, quarantined 5"), "\(first.stdout)")
        let keyMode = try FileManager.default.attributesOfItem(atPath: dir + "/gw.key")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        // Mapping user 2 releases the held readings, without any device connected.
        let release = try await commands.run(["collect", "--dir", data, "--map", "\(cuffKey)#2=bob"])
        #expect(release.status == 0)
        #expect(release.stderr.contains("released 5 quarantined reading(s) to bob"))
        #expect(release.stdout.contains("11 readings in"))

        let verified = try await commands.run(["verify", "--dir", data])
        #expect(verified.status == 0, "\(verified.stdout)")
        #expect(verified.stdout.contains("intact") && verified.stdout.contains("11 readings verified"))

        // Readings exported as JSON lines import into another gateway once, however often the file is imported.
        let export = dir + "/export.jsonl"
        let stored = try ReadingArchive(path: data + "/engine.sqlite")
        let lines = try stored.subjects().flatMap { try stored.readings(subject: $0) }.map {
            String(decoding: try JSONEncoder().encode($0), as: UTF8.self)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: export, atomically: true, encoding: .utf8)
        let imported = try await commands.run(["collect", "--dir", dir + "/other", "--import", export])
        #expect(imported.stdout.contains("stored 11, duplicates 0"))
        let again = try await commands.run(["collect", "--dir", dir + "/other", "--import", export])
        #expect(again.stdout.contains("stored 0, duplicates 11"))

        let summary = try await commands.run(["summary", "--dir", data, "--subject", "alice", "--tz", "Asia/Tokyo"])
        #expect(summary.status == 0)
        #expect(summary.stdout.contains("7-day average"))

        // Someone edits a stored reading's value in the archive: verify names the entry and the reading.
        let archive = try DatabaseQueue(path: data + "/engine.sqlite")
        let identity = try await archive.write { db -> String in
            // A reading row holds its provenance id and a binary variation: format, present fields, receive offset
            // (varint), value count, then each value as a kind byte and a zigzag varint mantissa. Bump the systolic by 1.
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.id, r.body FROM reading r JOIN reading_stream s ON s.id = r.stream
                    WHERE s.subject = 'alice' AND s.kind = 'blood_pressure' LIMIT 1
                    """)
            var body = [UInt8]((row?["body"] as Data?) ?? Data())
            var index = 2
            while index < body.count, body[index] & 0x80 != 0 { index += 1 }  // receive offset
            index += 3  // its last byte, the value count, the value kind
            #expect(index < body.count)
            if index < body.count { body[index] &+= 2 }
            let id: Int64 = row?["id"] ?? 0
            try db.execute(sql: "UPDATE reading SET body = ? WHERE id = ?", arguments: [Data(body), id])
            // The ledger names readings by their full identity: the one whose values changed.
            let ledger = try String(contentsOfFile: data + "/ledger/ledger.jsonl", encoding: .utf8)
            let key =
                try String.fetchOne(db, sql: "SELECT lower(hex(identity)) FROM reading WHERE id = ?", arguments: [id])
                ?? "?"
            return ledger.components(separatedBy: "\"id\":\"").dropFirst().map { String($0.prefix(64)) }.first {
                $0.hasPrefix(key)
            } ?? key
        }
        let tampered = try await commands.run(["verify", "--dir", data])
        #expect(tampered.status == 1)
        #expect(tampered.stdout.contains("FAILED") && tampered.stdout.contains(identity))

        let badMap = try await commands.run(["collect", "--dir", data, "--map", "nobody"])
        #expect(badMap.status != 0)
        #expect(badMap.stderr.contains("expected DEVICE[#USER]=SUBJECT"))
    }
}
