import FHIR
import Foundation
import GRDB
import Provenance
import StreamEngine
import TimeSeries

/// The care-facility hub's store (DATA/hub.sqlite): resources home gateways uploaded in transaction Bundles, one row
/// per resource, found again by identifier (so a resend is recognised, never stored twice) and by subject and time
/// (so the API's searches use an index instead of reading everything).
package final class ReceivedResources: Sendable {
    package let queue: DatabasePool

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
            var request = PatientIdentifierRecord.filter(Column("value") == value)
            if let system { request = request.filter(Column("system") == system) }
            return try request.select(Column("patient_id"), as: String.self).distinct().fetchAll(db)
        }
        let columns = ReceivedResourceRecord.Columns.self
        var request = ReceivedResourceRecord.filter(columns.resourceType == type && columns.identifierValue == value)
        if let system { request = request.filter([system, ""].contains(columns.identifierSystem)) }
        return try request.select(columns.id, as: String.self).fetchAll(db)
    }

    /// The version stored for a resource, if any: its number, its text and when it was written.
    package func existing(type: String, id: String, _ db: Database) throws -> (
        version: Int, json: Data, lastUpdated: Int64
    )? {
        try ReceivedResourceRecord.find(type: type, id: id)
            .select(Column("version"), Column("json"), Column("last_updated_micros"))
            .asRequest(of: ReceivedVersionRecord.self)
            .fetchOne(db)
            .map { ($0.version, $0.json, $0.lastUpdatedMicros) }
    }

    /// Stores a resource's version (a Patient's identifiers with it).
    package func put(
        type: String, id: String, system: String, value: String, subject: String, effectiveMicros: Int64, version: Int,
        nowMicros: Int64,
        source: String, json: Data, identifiers: [(system: String, value: String)], _ db: Database
    ) throws {
        try ReceivedResourceRecord(
            resourceType: type, id: id, identifierSystem: system, identifierValue: value, subject: subject,
            effectiveMicros: effectiveMicros, version: version, lastUpdatedMicros: nowMicros, source: source, json: json
        ).insert(db, onConflict: .replace)
        guard type == "Patient" else { return }
        try PatientIdentifierRecord.filter(Column("patient_id") == id).deleteAll(db)
        for identifier in identifiers where !identifier.system.isEmpty {
            try PatientIdentifierRecord(system: identifier.system, value: identifier.value, patientId: id)
                .insert(db, onConflict: .ignore)
        }
    }

    package func identifiers(patient: String, _ db: Database) throws -> [PatientIdentifier] {
        try PatientIdentifierRecord.filter(Column("patient_id") == patient).fetchAll(db).map {
            PatientIdentifier(system: $0.system, value: $0.value)
        }
    }

    package func uploaders(patient: String, _ db: Database) throws -> Set<String> {
        Set(try PatientUploaderRecord.filter(Column("patient_id") == patient).fetchAll(db).map(\.uploader))
    }

    package func addUploader(_ uploader: String, patient: String, _ db: Database) throws {
        try PatientUploaderRecord(patientId: patient, uploader: uploader).insert(db, onConflict: .ignore)
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
        let columns = ReceivedResourceRecord.Columns.self
        return try queue.read { db in
            try ReceivedResourceRecord.filter(
                columns.resourceType == type && subjects.contains(columns.subject) && columns.effectiveMicros >= from
                    && columns.effectiveMicros < to
            )
            .order(columns.effectiveMicros, columns.id)
            .fetchAll(db)
            .compactMap(Self.stored)
        }
    }

    package func resource(type: String, id: String) throws -> Stored? {
        try queue.read { db in
            try ReceivedResourceRecord.find(type: type, id: id).fetchOne(db).flatMap(Self.stored)
        }
    }

    /// Received Patients with this identifier (no system: the value in any system).
    package func patients(identifiedBy system: String?, value: String) throws -> [Stored] {
        try queue.read { db in
            try matches(type: "Patient", system: system, value: value, db).compactMap { id in
                try ReceivedResourceRecord.find(type: "Patient", id: id).fetchOne(db).flatMap(Self.stored)
            }
        }
    }

    /// Subjects with received resources.
    package func subjects() throws -> [String] {
        try queue.read { db in
            let subject = ReceivedResourceRecord.Columns.subject
            return try ReceivedResourceRecord.filter(subject != "").select(subject, as: String.self).distinct()
                .order(subject).fetchAll(db)
        }
    }

    /// How many resources of each type are stored (for tests and `status`).
    package func counts() throws -> [String: Int] {
        try queue.read { db in
            let type = ReceivedResourceRecord.Columns.resourceType
            let tallies = try ReceivedResourceRecord.select(type, count(type).forKey("count")).group(type)
                .asRequest(of: ReceivedTypeCount.self).fetchAll(db)
            return Dictionary(uniqueKeysWithValues: tallies.map { ($0.resourceType, $0.count) })
        }
    }

    private static func stored(_ record: ReceivedResourceRecord) -> Stored? {
        guard let json = try? ExactJSON.parse(Array(record.json)) else { return nil }
        return Stored(
            resource: FHIRResource(resourceType: record.resourceType, id: record.id, json: json),
            subject: record.subject, effectiveMicros: record.effectiveMicros)
    }
}
