import Crypto
import Foundation

/// A backup file is a POSIX tar (ustar): `tar -tf` lists it and `tar -xf` unpacks it on any machine, so a backup is
/// never locked inside gatewayd. Members are written whole with their SHA-256 computed on the way.
package struct BackupTarWriter {
    private let handle: FileHandle
    package private(set) var members: [BackupManifest.Member] = []

    package init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw BackupError.cannotWrite(path: path, reason: "the file cannot be created")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    /// Adds the file at `path` as `name`, streamed in 1 MiB pieces.
    package mutating func add(name: String, file path: String, mode: Int = 0o644) throws {
        let size = try (FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        try handle.write(contentsOf: try Self.header(name: name, size: size, mode: mode))
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? input.close() }
        var hasher = SHA256()
        var written = 0
        while written < size, let piece = try input.read(upToCount: min(1 << 20, size - written)), !piece.isEmpty {
            hasher.update(data: piece)
            try handle.write(contentsOf: piece)
            written += piece.count
        }
        guard written == size else { throw BackupError.changedWhileCopying(name: name) }
        try pad(size)
        members.append(BackupManifest.Member(name: name, size: size, sha256: Self.hex(hasher.finalize())))
    }

    package mutating func add(name: String, bytes: [UInt8], mode: Int = 0o644, listed: Bool = true) throws {
        try handle.write(contentsOf: try Self.header(name: name, size: bytes.count, mode: mode))
        try handle.write(contentsOf: bytes)
        try pad(bytes.count)
        if listed {
            members.append(
                BackupManifest.Member(name: name, size: bytes.count, sha256: Self.hex(SHA256.hash(data: bytes))))
        }
    }

    /// The end-of-archive marker, then fsync.
    package func finish() throws {
        try handle.write(contentsOf: [UInt8](repeating: 0, count: 1024))
        try handle.synchronize()
        try handle.close()
    }

    private func pad(_ size: Int) throws {
        let remainder = size % 512
        if remainder != 0 { try handle.write(contentsOf: [UInt8](repeating: 0, count: 512 - remainder)) }
    }

    package static func hex(_ digest: some Sequence<UInt8>) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// A ustar header: names up to 100 bytes, or a prefix of up to 155 and a name of up to 100 split at a '/'.
    package static func header(name: String, size: Int, mode: Int) throws -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        var prefix = ""
        var short = name
        if name.utf8.count > 100 {
            guard
                let slash = name.utf8.indices.filter({ name.utf8[$0] == UInt8(ascii: "/") }).last(where: {
                    name.utf8.distance(from: name.utf8.startIndex, to: $0) <= 155
                        && name.utf8.distance(from: $0, to: name.utf8.endIndex) - 1 <= 100
                })
            else { throw BackupError.nameTooLong(name) }
            prefix = String(name[..<slash])
            short = String(name[name.index(after: slash)...])
        }
        func put(_ text: String, at offset: Int, length: Int) {
            for (index, byte) in text.utf8.prefix(length).enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int, at offset: Int, length: Int) {
            put(
                String(repeating: "0", count: max(0, length - 1 - String(value, radix: 8).count))
                    + String(value, radix: 8), at: offset, length: length - 1)
        }
        put(short, at: 0, length: 100)
        octal(mode, at: 100, length: 8)
        octal(0, at: 108, length: 8)
        octal(0, at: 116, length: 8)
        octal(size, at: 124, length: 12)
        octal(Int(Date().timeIntervalSince1970), at: 136, length: 12)
        header[156] = UInt8(ascii: "0")
        put("ustar", at: 257, length: 6)
        put("00", at: 263, length: 2)
        put("gatewayd", at: 265, length: 32)
        put("gatewayd", at: 297, length: 32)
        put(prefix, at: 345, length: 155)
        for index in 148..<156 { header[index] = UInt8(ascii: " ") }
        let checksum = header.reduce(0) { $0 + Int($1) }
        octal(checksum, at: 148, length: 7)  // six digits, NUL, space
        header[154] = 0
        header[155] = UInt8(ascii: " ")
        return header
    }
}

/// Reads a backup's members in order, each body handed to `body` in pieces; checks every header's checksum.
package enum BackupTarReader {
    package static func read(
        path: String, member: (String, Int) throws -> Void, body: ([UInt8]) throws -> Void, end: () throws -> Void
    ) throws {
        guard let input = FileHandle(forReadingAtPath: path) else { throw BackupError.cannotRead(path: path) }
        defer { try? input.close() }
        while true {
            guard let block = try input.read(upToCount: 512), block.count == 512 else {
                throw BackupError.truncated(path: path)
            }
            let header = [UInt8](block)
            if header.allSatisfy({ $0 == 0 }) { return }
            let stored = Int(text(header[148..<156]).trimmingCharacters(in: .whitespaces), radix: 8)
            var check = header
            for index in 148..<156 { check[index] = UInt8(ascii: " ") }
            guard stored == check.reduce(0, { $0 + Int($1) }) else {
                throw BackupError.damaged(path: path, reason: "a member's header fails its checksum")
            }
            guard let size = Int(text(header[124..<136]).trimmingCharacters(in: .whitespaces), radix: 8) else {
                throw BackupError.damaged(path: path, reason: "a member's size is not a number")
            }
            let prefix = text(header[345..<500])
            let name = (prefix.isEmpty ? "" : prefix + "/") + text(header[0..<100])
            guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
                throw BackupError.damaged(path: path, reason: "member \(name) would leave the data directory")
            }
            try member(name, size)
            var left = size
            while left > 0 {
                guard let piece = try input.read(upToCount: min(1 << 20, left)), !piece.isEmpty else {
                    throw BackupError.truncated(path: path)
                }
                try body([UInt8](piece))
                left -= piece.count
            }
            try end()
            let padding = (512 - size % 512) % 512
            if padding > 0 { _ = try input.read(upToCount: padding) }
        }
    }

    private static func text(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// What a backup holds (its last member, MANIFEST.json): every other member's size and SHA-256, and where the data stood.
package struct BackupManifest: Codable {
    package struct Member: Codable, Equatable {
        package var name: String
        package var size: Int
        package var sha256: String

        package init(name: String, size: Int, sha256: String) {
            (self.name, self.size, self.sha256) = (name, size, sha256)
        }
    }

    package static let format = "gatewayd-backup 1"
    package static let memberName = "MANIFEST.json"
    package static let sealedKeysName = "keys.sealed"

    package var format = Self.format
    package var created: String
    package var gatewayID: String?
    /// The ledger's last entry in the copy: every batch up to it is in the backup, whole.
    package var ledgerEntries: Int
    package var storedReadings: Int
    /// Whether the keys (signing key, Bluetooth bonds, TLS key) are inside, sealed with a passphrase.
    package var keysSealed: Bool
    package var members: [Member]

    package init(
        created: String, gatewayID: String?, ledgerEntries: Int, storedReadings: Int, keysSealed: Bool,
        members: [Member]
    ) {
        (self.created, self.gatewayID, self.ledgerEntries, self.storedReadings) = (
            created, gatewayID, ledgerEntries, storedReadings
        )
        (self.keysSealed, self.members) = (keysSealed, members)
    }
}

package enum BackupError: Error, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String)
    case truncated(path: String)
    case damaged(path: String, reason: String)
    case nameTooLong(String)
    case changedWhileCopying(name: String)
    case verificationFailed(member: String, reason: String)
    case notEmpty(path: String)
    case keys(String)
    case notIntact(String)

    package var description: String {
        switch self {
        case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
        case .cannotRead(let path): "cannot read \(path)"
        case .truncated(let path): "\(path) ends in the middle of a member: the backup is incomplete"
        case .damaged(let path, let reason): "\(path) is damaged: \(reason)"
        case .nameTooLong(let name): "\(name): the path is too long for a tar member"
        case .changedWhileCopying(let name): "\(name) changed size while it was copied"
        case .verificationFailed(let member, let reason): "member \(member): \(reason)"
        case .notEmpty(let path):
            "\(path) holds data already: restore into a new or empty directory, so nothing is overwritten"
        case .keys(let problem): problem
        case .notIntact(let summary): "the restored data does not verify: \(summary)"
        }
    }
}
