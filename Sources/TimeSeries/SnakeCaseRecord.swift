import GRDB

/// A row of one of the gateway's tables as a Codable value: its columns are the properties' names in snake case
/// (`resource_key` is `resourceKey`). The store catalog's, the archive's, the outbox's and the hub's records share it, so
/// every database names its columns one way.
public protocol SnakeCaseRecord: Codable, FetchableRecord, EncodableRecord {}

extension SnakeCaseRecord {
    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    public static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
}
