import Synchronization

/// Discovered attribute databases that outlive their link (Core Vol 3 Part G 2.5.2, attribute caching), so a device
/// that reconnects many times a day is not walked through discovery every time — radio time a battery device may
/// end the link over.
///
/// A cached database is used again only when the specification allows it: the device's Database Hash (0x2B2A) still
/// reads the same, or — for a device without one — the device is bonded (it must then indicate Service Changed when
/// its database changes, and that indication forgets the entry).
public final class GATTDatabaseCache: Sendable {
    /// What one device showed, with its Database Hash when it has one.
    public struct Entry: Hashable, Sendable {
        public var database: DiscoveredDatabase
        public var hash: [UInt8]?
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    public func entry(_ key: String) -> Entry? { entries.withLock { $0[key] } }
    func store(_ entry: Entry, for key: String) { entries.withLock { $0[key] = entry } }
    func forget(_ key: String) { _ = entries.withLock { $0.removeValue(forKey: key) } }
    public var count: Int { entries.withLock { $0.count } }
}

/// One link's place in a cache: which device it is (its identity address), and whether it is bonded.
public struct GATTCacheSlot: Sendable {
    public var cache: GATTDatabaseCache
    public var key: String
    public var bonded: Bool

    public init(cache: GATTDatabaseCache, key: String, bonded: Bool) {
        (self.cache, self.key, self.bonded) = (cache, key, bonded)
    }
}
