import FHIR
import Foundation
import GRDB
import Provenance
import StreamEngine

/// The care-facility hub's store (DATA/hub.sqlite): resources home gateways uploaded in transaction Bundles, one row
/// per resource, found again by identifier (so a resend is recognised, never stored twice) and by subject and time
/// (so the API's searches use an index instead of reading everything).
package final class ReceivedResources: Sendable {
    package let queue: DatabaseQueue

    package init(path: String) throws {
        queue = try DurableDatabase.open(path: path, busyTimeoutSeconds: 10)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: received resources") { db in
            try db.execute(
                sql: """
                    CREATE TABLE received_resource (
                        resource_type TEXT NOT NULL, id TEXT NOT NULL, identifier_system TEXT NOT NULL, identifier_value TEXT NOT NULL,
                        subject TEXT NOT NULL, effective_micros INTEGER NOT NULL, version INTEGER NOT NULL,
                        last_updated_micros INTEGER NOT NULL, source TEXT NOT NULL, json BLOB NOT NULL,
                        PRIMARY KEY (resource_type, id));
                    CREATE INDEX received_by_identifier ON received_resource(resource_type, identifier_value, identifier_system);
                    CREATE INDEX received_by_subject_time ON received_resource(resource_type, subject, effective_micros);
                    """)
        }
        // Patients are matched on any of their identifiers (R4 token search), and remember which uploaders write for them.
        migrator.registerMigration("v2: patients") { db in
            try db.execute(
                sql: """
                    CREATE TABLE patient_identifier (
                        system TEXT NOT NULL, value TEXT NOT NULL, patient_id TEXT NOT NULL, PRIMARY KEY (system, value, patient_id));
                    CREATE INDEX patient_identifier_by_value ON patient_identifier(value);
                    CREATE INDEX patient_identifier_by_patient ON patient_identifier(patient_id);
                    CREATE TABLE patient_uploader (patient_id TEXT NOT NULL, uploader TEXT NOT NULL, PRIMARY KEY (patient_id, uploader));
                    """)
        }
        try migrator.migrate(queue)
    }

    // MARK: Inside a transaction (HubTransaction)

    /// The ids of the resources of `type` a conditional request's identifier matches: any identifier of a Patient, the
    /// identifier other resources were stored under. No system: the value in any system. A resource stored without a
    /// system (sent by a gateway before its identifiers had one) matches the same value with a system too, so the
    /// resend of an upgraded gateway updates it instead of storing it twice.
    package func matches(type: String, system: String?, value: String, _ db: Database) throws -> [String] {
        if type == "Patient" {
            return try String.fetchAll(
                db,
                sql: "SELECT DISTINCT patient_id FROM patient_identifier WHERE value = ? AND (? IS NULL OR system = ?)",
                arguments: [value, system, system])
        }
        return try String.fetchAll(
            db,
            sql: """
                SELECT id FROM received_resource WHERE resource_type = ? AND identifier_value = ?
                AND (? IS NULL OR identifier_system = ? OR identifier_system = '')
                """, arguments: [type, value, system, system])
    }

    package func row(type: String, id: String, _ db: Database) throws -> Row? {
        try Row.fetchOne(
            db,
            sql: "SELECT version, json, last_updated_micros FROM received_resource WHERE resource_type = ? AND id = ?",
            arguments: [type, id])
    }

    /// Stores a resource's version (a Patient's identifiers with it).
    package func put(
        type: String, id: String, system: String, value: String, subject: String, effectiveMicros: Int64, version: Int,
        nowMicros: Int64,
        source: String, json: Data, identifiers: [(system: String, value: String)], _ db: Database
    ) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO received_resource (resource_type, id, identifier_system, identifier_value, subject,
                    effective_micros, version, last_updated_micros, source, json)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [type, id, system, value, subject, effectiveMicros, version, nowMicros, source, json])
        guard type == "Patient" else { return }
        try db.execute(sql: "DELETE FROM patient_identifier WHERE patient_id = ?", arguments: [id])
        for identifier in identifiers where !identifier.system.isEmpty {
            try db.execute(
                sql: "INSERT OR IGNORE INTO patient_identifier (system, value, patient_id) VALUES (?, ?, ?)",
                arguments: [identifier.system, identifier.value, id])
        }
    }

    package func identifiers(patient: String, _ db: Database) throws -> [PatientIdentifier] {
        try Row.fetchAll(
            db, sql: "SELECT system, value FROM patient_identifier WHERE patient_id = ?", arguments: [patient]
        ).map { row in
            PatientIdentifier(system: row["system"], value: row["value"])
        }
    }

    package func uploaders(patient: String, _ db: Database) throws -> Set<String> {
        Set(
            try String.fetchAll(
                db, sql: "SELECT uploader FROM patient_uploader WHERE patient_id = ?", arguments: [patient]))
    }

    package func addUploader(_ uploader: String, patient: String, _ db: Database) throws {
        try db.execute(
            sql: "INSERT OR IGNORE INTO patient_uploader (patient_id, uploader) VALUES (?, ?)",
            arguments: [patient, uploader])
    }

    // MARK: Reading (the API)

    package struct Stored: Sendable {
        package var resource: FHIRResource
        package var subject: String
        package var effectiveMicros: Int64
    }

    /// Received resources of a type for these subjects ("" = resources without a subject, e.g. Devices) in [from, to).
    package func resources(type: String, subjects: [String], from: Int64 = .min, to: Int64 = .max) throws -> [Stored] {
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

    package func resource(type: String, id: String) throws -> Stored? {
        try queue.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM received_resource WHERE resource_type = ? AND id = ?", arguments: [type, id]
            )
            .flatMap(Self.stored)
        }
    }

    /// Received Patients with this identifier (no system: the value in any system).
    package func patients(identifiedBy system: String?, value: String) throws -> [Stored] {
        try queue.read { db in
            try matches(type: "Patient", system: system, value: value, db).compactMap { id in
                try Row.fetchOne(
                    db, sql: "SELECT * FROM received_resource WHERE resource_type = 'Patient' AND id = ?",
                    arguments: [id]
                )
                .flatMap(Self.stored)
            }
        }
    }

    /// Subjects with received resources.
    package func subjects() throws -> [String] {
        try queue.read { db in
            try String.fetchAll(
                db, sql: "SELECT DISTINCT subject FROM received_resource WHERE subject <> '' ORDER BY subject")
        }
    }

    /// How many resources of each type are stored (for tests and `status`).
    package func counts() throws -> [String: Int] {
        try queue.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT resource_type, COUNT(*) AS n FROM received_resource GROUP BY resource_type")
            {
                counts[row["resource_type"]] = row["n"]
            }
            return counts
        }
    }

    private static func stored(_ row: Row) -> Stored? {
        guard let json = try? ExactJSON.parse(Array(row["json"] as Data)) else { return nil }
        return Stored(
            resource: FHIRResource(resourceType: row["resource_type"], id: row["id"], json: json),
            subject: row["subject"],
            effectiveMicros: row["effective_micros"])
    }
}
