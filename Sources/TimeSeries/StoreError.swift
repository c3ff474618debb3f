/// What the store refuses, in words an operator can act on.
public enum StoreError: Error, CustomStringConvertible {
    case closed
    case unknownSeries(SeriesKey)
    case invalidArgument(name: String, problem: String)
    case catalog(String)
    case io(StoreIOError)
    case rollupCannotAnswer(String)
    /// Another process (a running gatewayd) has the store open for writing.
    case inUse(String)
    /// A read-only snapshot was asked to change something.
    case readOnly(String)
    /// There is no store in the directory.
    case missing(String)

    public var description: String {
        switch self {
        case .closed: "the store is closed"
        case .unknownSeries(let key): "no series \(key) in this store"
        case .invalidArgument(let name, let problem): "\(name): \(problem)"
        case .catalog(let message): "catalog: \(message)"
        case .io(let error): "\(error)"
        case .rollupCannotAnswer(let message): message
        case .inUse(let directory):
            "the store \(directory) is open in another process (a running gatewayd?); ask that one (its API, /metrics) or stop it first"
        case .readOnly(let directory):
            "the store \(directory) was opened read-only (a snapshot beside a running gatewayd) and cannot be changed here"
        case .missing(let directory): "there is no store in \(directory) (no catalog.sqlite)"
        }
    }
}

/// A chunk that failed its checksum or could not be decoded: reported with its series and time range, skipped,
/// and the rest of the query still answered.
public struct CorruptChunkReport: Hashable, Sendable, CustomStringConvertible {
    public var series: SeriesKey
    public var chunkID: Int64
    public var fromMicros: Int64
    public var toMicros: Int64
    public var reason: String

    public var description: String {
        "chunk \(chunkID) of \(series) covering \(TimeFormat.iso8601(fromMicros))…\(TimeFormat.iso8601(toMicros)) "
            + "is corrupt and was skipped: \(reason)"
    }
}
