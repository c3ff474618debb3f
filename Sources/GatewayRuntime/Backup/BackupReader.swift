import Crypto
import Foundation
import Provenance

/// Reads a backup file member by member against its manifest.
package enum BackupReader {
    package struct Contents {
        package var manifest: BackupManifest
        package var members: [BackupManifest.Member]
        package var sealedKeys: [UInt8]?
    }

    /// Reads every member (writing each into `directory` when given) and checks each against MANIFEST.json: the same
    /// names, sizes and SHA-256. Throws naming the first member that differs.
    package static func check(path: String, extractInto directory: String? = nil) throws -> Contents {
        var members: [BackupManifest.Member] = []
        var manifestBytes: [UInt8]?
        var sealed: [UInt8]?
        var current: (name: String, size: Int)?
        var hasher = SHA256()
        var output: FileHandle?
        var buffer: [UInt8] = []
        try BackupTarReader.read(path: path) { name, size in
            current = (name, size)
            hasher = SHA256()
            buffer = []
            if let directory, name != BackupManifest.memberName, name != BackupManifest.sealedKeysName {
                let target = directory + "/" + name
                try FileManager.default.createDirectory(
                    atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                guard FileManager.default.createFile(atPath: target, contents: nil) else {
                    throw BackupError.cannotWrite(path: target, reason: "the file cannot be created")
                }
                output = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
            }
        } body: { piece in
            hasher.update(data: piece)
            if let output {
                try output.write(contentsOf: piece)
            } else if current?.name == BackupManifest.memberName || current?.name == BackupManifest.sealedKeysName {
                buffer += piece
            }
        } end: {
            guard let member = current else { return }
            if let handle = output {
                try handle.synchronize()
                try handle.close()
                output = nil
            }
            switch member.name {
            case BackupManifest.memberName: manifestBytes = buffer
            default:
                if member.name == BackupManifest.sealedKeysName { sealed = buffer }
                members.append(
                    BackupManifest.Member(
                        name: member.name, size: member.size, sha256: BackupTarWriter.hex(hasher.finalize())))
            }
        }
        guard let manifestBytes else {
            throw BackupError.damaged(
                path: path, reason: "it has no MANIFEST.json (not a gatewayd backup, or cut short)")
        }
        let manifest: BackupManifest
        do { manifest = try JSONDecoder().decode(BackupManifest.self, from: Data(manifestBytes)) } catch {
            throw BackupError.damaged(path: path, reason: "MANIFEST.json cannot be read (\(error))")
        }
        guard manifest.format == BackupManifest.format else {
            throw BackupError.damaged(
                path: path,
                reason: "it is a '\(manifest.format)' backup; this gatewayd reads '\(BackupManifest.format)'")
        }
        let found = Dictionary(members.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for expected in manifest.members {
            guard let member = found[expected.name] else {
                throw BackupError.verificationFailed(member: expected.name, reason: "missing from the file")
            }
            guard member == expected else {
                throw BackupError.verificationFailed(
                    member: expected.name, reason: "its bytes differ from MANIFEST.json (altered or damaged)")
            }
        }
        let listed = Set(manifest.members.map(\.name))
        if let extra = members.first(where: { !listed.contains($0.name) }) {
            throw BackupError.verificationFailed(
                member: extra.name, reason: "not in MANIFEST.json (added after the backup was made)")
        }
        return Contents(manifest: manifest, members: members, sealedKeys: sealed)
    }
}
