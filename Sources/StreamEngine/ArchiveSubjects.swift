import Foundation
import GRDB
import TimeSeries

/// Whose readings a device (and a user slot of it) takes: explicit, never inferred (DESIGN.md rule 6). A row of
/// `subject_map`; a device without user slots is slot −1.
struct SubjectMapRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "subject_map"

    enum Columns {
        static let deviceKey = Column("device_key")
        static let userID = Column("user_id")
    }

    var deviceKey: String
    var userId: Int
    var subject: String

    var mapping: ReadingArchive.SubjectMapping {
        ReadingArchive.SubjectMapping(
            deviceKey: deviceKey, userID: userId < 0 ? nil : UInt8(clamping: userId), subject: subject)
    }
}

extension ReadingArchive {
    /// The user slot key of the subject map: the BP User ID, or −1 for a device without user slots.
    static func userKey(_ userID: UInt8?) -> Int { userID.map(Int.init) ?? -1 }

    /// Maps (device, user slot) to a subject. Explicit: nothing is ever inferred (DESIGN.md rule 6).
    public func mapSubject(deviceKey: String, userID: UInt8?, subject: String) throws {
        try queue.write { db in
            try SubjectMapRecord(deviceKey: deviceKey, userId: Self.userKey(userID), subject: subject).upsert(db)
        }
    }

    public func forgetSubjectMapping(deviceKey: String, userID: UInt8?) throws {
        _ = try queue.write { db in
            try SubjectMapRecord.deleteOne(
                db, key: ["device_key": deviceKey, "user_id": Self.userKey(userID)])
        }
    }

    public struct SubjectMapping: Hashable, Sendable {
        public var deviceKey: String
        public var userID: UInt8?
        public var subject: String
    }

    public func subjectMappings() throws -> [SubjectMapping] {
        try queue.read { db in
            try SubjectMapRecord.order(SubjectMapRecord.Columns.deviceKey, SubjectMapRecord.Columns.userID)
                .fetchAll(db).map(\.mapping)
        }
    }
}
