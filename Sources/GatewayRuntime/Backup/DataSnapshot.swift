import Foundation
import GRDB
import StreamEngine

/// The secrets of a data directory: what a backup seals or leaves out, by their name in the backup.
package struct BackupKeys {
    package var files: [String: String] = [:]

    package init(data: String, signingKey: String?) {
        if let signingKey {
            files["signing.key"] = signingKey
            files["signing.key.pub"] = signingKey + ".pub"
        }
        files["bluetooth/bonds.json"] = BluetoothSettings.bondsFile(data: data)
        files["tls/key.pem"] = ListenerSecurity.generatedKeyFile(data: data)
        files = files.filter { FileManager.default.fileExists(atPath: $0.value) }
    }
}

/// Copies a data directory's files as of one moment between batches (the caller holds the ingest lock).
package enum DataSnapshot {
    /// SQLite's own side files and the lock: not data.
    package static func isData(_ name: String) -> Bool {
        !(name == IngestLock.fileName || name.hasSuffix("-wal") || name.hasSuffix("-shm") || name.hasSuffix("-journal"))
    }

    /// Every regular data file under `directory`, relative, sorted.
    package static func files(in directory: String) throws -> [String] {
        guard let names = FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] else {
            throw BackupError.cannotRead(path: directory)
        }
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory)
                && !isDirectory.boolValue
                && isData((name as NSString).lastPathComponent)
        }.sorted()
    }

    package static func copy(data: String, into staging: String, skipping: Set<String>) throws {
        let names = try files(in: data).filter { !skipping.contains(data + "/" + $0) }
        let databases = names.filter { $0.hasSuffix(".sqlite") }
        let chunks = names.filter { $0.hasPrefix("store/chunks/") }
        let rest = names.filter { !$0.hasSuffix(".sqlite") && !$0.hasPrefix("store/chunks/") }
        let manager = FileManager.default
        func target(_ name: String) throws -> String {
            let path = staging + "/" + name
            try manager.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            return path
        }
        // The store's log before its catalog, the catalog before the chunks (see BackupCommand).
        for name in rest where manager.fileExists(atPath: data + "/" + name) {
            try manager.copyItem(atPath: data + "/" + name, toPath: try target(name))
        }
        for name in databases {
            let source = try DatabaseQueue(path: data + "/" + name)
            let destination = try DatabaseQueue(path: try target(name))
            try source.backup(to: destination)
            try source.close()
            try destination.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            try destination.close()
        }
        for name in chunks where manager.fileExists(atPath: data + "/" + name) {
            try manager.copyItem(atPath: data + "/" + name, toPath: try target(name))
        }
    }
}
