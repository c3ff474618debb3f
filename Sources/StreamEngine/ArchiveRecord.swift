import GRDB

/// A row of one of the archive's tables as a value: its columns are the properties' names in snake case.
protocol ArchiveRecord: Codable, FetchableRecord, EncodableRecord {}

extension ArchiveRecord {
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
}
