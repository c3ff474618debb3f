import Foundation
import GRDB
import StreamEngine
import TimeSeries

/// One version of a resource an uploader sent, as the hub keeps it. A row of `received_resource`.
struct ReceivedResourceRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "received_resource"

    enum Columns {
        static let resourceType = Column("resource_type")
        static let id = Column("id")
        static let identifierSystem = Column("identifier_system")
        static let identifierValue = Column("identifier_value")
        static let subject = Column("subject")
        static let effectiveMicros = Column("effective_micros")
    }

    var resourceType: String
    var id: String
    var identifierSystem: String
    var identifierValue: String
    var subject: String
    var effectiveMicros: Int64
    var version: Int
    var lastUpdatedMicros: Int64
    var source: String
    var json: Data

    /// The resource with this type and id.
    static func find(type: String, id: String) -> QueryInterfaceRequest<ReceivedResourceRecord> {
        filter(Columns.resourceType == type && Columns.id == id)
    }
}

/// What a transaction needs of a resource already stored: its version, its text and when it was written.
struct ReceivedVersionRecord: SnakeCaseRecord {
    var version: Int
    var json: Data
    var lastUpdatedMicros: Int64
}

/// One identifier of a received Patient (R4 token search matches any of them). A row of `patient_identifier`.
struct PatientIdentifierRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "patient_identifier"

    var system: String
    var value: String
    var patientId: String
}

/// An uploader that writes for a Patient. A row of `patient_uploader`.
struct PatientUploaderRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "patient_uploader"

    var patientId: String
    var uploader: String
}

/// How many resources of one type the hub holds.
struct ReceivedTypeCount: SnakeCaseRecord {
    var resourceType: String
    var count: Int
}
