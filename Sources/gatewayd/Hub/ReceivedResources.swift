import FHIR
import Foundation
import GRDB
import StreamEngine

/// The care-facility hub's store (DATA/hub.sqlite): resources home gateways uploaded in transaction Bundles, one row
/// per resource, found again by identifier (so a resend is recognised, never stored twice) and by subject and time
/// (so the API's searches use an index instead of reading everything).
final class ReceivedResources: Sendable {
    let queue: DatabaseQueue

    init(path: String) throws {
        queue = try DurableDatabase.open(path: path, busyTimeoutSeconds: 10)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: received resources") { db in
            try db.execute(sql: """
                CREATE TABLE received_resource (
                    resource_type TEXT NOT NULL, id TEXT NOT NULL, identifier_system TEXT NOT NULL, identifier_value TEXT NOT NULL,
                    subject TEXT NOT NULL, effective_micros INTEGER NOT NULL, version INTEGER NOT NULL,
                    last_updated_micros INTEGER NOT NULL, source TEXT NOT NULL, json BLOB NOT NULL,
                    PRIMARY KEY (resource_type, id));
                CREATE INDEX received_by_identifier ON received_resource(resource_type, identifier_value, identifier_system);
                CREATE INDEX received_by_subject_time ON received_resource(resource_type, subject, effective_micros);
                """)
        }
        try migrator.migrate(queue)
    }

    struct Stored: Sendable {
        var resource: FHIRResource
        var subject: String
        var effectiveMicros: Int64
    }

    /// Received resources of a type for these subjects ("" = resources without a subject, e.g. Devices) in [from, to).
    func resources(type: String, subjects: [String], from: Int64 = .min, to: Int64 = .max) throws -> [Stored] {
        guard !subjects.isEmpty else { return [] }
        return try queue.read { db in
            let marks = Array(repeating: "?", count: subjects.count).joined(separator: ",")
            var arguments: StatementArguments = [type]
            arguments += StatementArguments(subjects)
            arguments += [from, to]
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM received_resource WHERE resource_type = ? AND subject IN (\(marks))
                    AND effective_micros >= ? AND effective_micros < ? ORDER BY effective_micros, id
                    """, arguments: arguments
            ).compactMap(Self.stored)
        }
    }

    func resource(type: String, id: String) throws -> Stored? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM received_resource WHERE resource_type = ? AND id = ?", arguments: [type, id])
                .flatMap(Self.stored)
        }
    }

    /// Subjects with received resources.
    func subjects() throws -> [String] {
        try queue.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT subject FROM received_resource WHERE subject <> '' ORDER BY subject")
        }
    }

    /// How many resources of each type are stored (for tests and `status`).
    func counts() throws -> [String: Int] {
        try queue.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT resource_type, COUNT(*) AS n FROM received_resource GROUP BY resource_type") {
                counts[row["resource_type"]] = row["n"]
            }
            return counts
        }
    }

    private static func stored(_ row: Row) -> Stored? {
        guard let json = try? FHIRJSON.parse(Array(row["json"] as Data)) else { return nil }
        return Stored(
            resource: FHIRResource(resourceType: row["resource_type"], id: row["id"], json: json), subject: row["subject"],
            effectiveMicros: row["effective_micros"])
    }
}
