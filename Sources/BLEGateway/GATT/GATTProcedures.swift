/// Characteristic properties (Vol 3, Part G, 3.3.1.1).
public struct CharacteristicProperties: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let broadcast = CharacteristicProperties(rawValue: 0x01)
    public static let read = CharacteristicProperties(rawValue: 0x02)
    public static let writeWithoutResponse = CharacteristicProperties(rawValue: 0x04)
    public static let write = CharacteristicProperties(rawValue: 0x08)
    public static let notify = CharacteristicProperties(rawValue: 0x10)
    public static let indicate = CharacteristicProperties(rawValue: 0x20)
    public static let authenticatedSignedWrites = CharacteristicProperties(rawValue: 0x40)
    public static let extendedProperties = CharacteristicProperties(rawValue: 0x80)
}

/// A characteristic found by discovery: where its value lives and which descriptors follow it.
public struct DiscoveredCharacteristic: Hashable, Sendable {
    public var uuid: BluetoothUUID
    public var declarationHandle: UInt16
    public var valueHandle: UInt16
    public var properties: CharacteristicProperties
    /// The last handle that belongs to this characteristic (its descriptors end here).
    public var endHandle: UInt16
    public var descriptors: [HandleType] = []

    /// The Client Characteristic Configuration descriptor, when the device has one.
    public var cccdHandle: UInt16? {
        descriptors.first { $0.type == .clientCharacteristicConfiguration }?.handle
    }
}

/// A primary service and its characteristics.
public struct DiscoveredService: Hashable, Sendable {
    public var uuid: BluetoothUUID
    public var handles: HandleRange
    public var characteristics: [DiscoveredCharacteristic] = []

    public func characteristic(_ uuid: BluetoothUUID) -> DiscoveredCharacteristic? {
        characteristics.first { $0.uuid == uuid }
    }
}

/// Everything discovery found on a device.
public struct DiscoveredDatabase: Hashable, Sendable {
    public var services: [DiscoveredService]

    public func service(_ uuid: BluetoothUUID) -> DiscoveredService? { services.first { $0.uuid == uuid } }

    /// The characteristic `uuid`, inside `service` when given, else in any service.
    public func characteristic(_ uuid: BluetoothUUID, in service: BluetoothUUID? = nil) -> DiscoveredCharacteristic? {
        for candidate in services where service == nil || candidate.uuid == service {
            if let found = candidate.characteristic(uuid) { return found }
        }
        return nil
    }
}

/// What to turn on in a Client Characteristic Configuration descriptor.
public enum CCCDValue: UInt16, Sendable {
    case off = 0x0000
    case notifications = 0x0001
    case indications = 0x0002
}

extension GATTClient {
    /// Exchanges MTUs (once per link); the result is the smaller of both, never below ATT's default 23.
    @discardableResult
    public func exchangeMTU() async throws(GATTError) -> Int {
        // The exchange happens at most once per link (Vol 3 F 3.4.2.1); later calls return the result.
        if mtuExchanged { return mtu }
        markMTUExchanged()
        let response = try await transaction(.exchangeMTURequest(clientRxMTU: options.preferredMTU))
        guard case .exchangeMTUResponse(let serverMTU) = response else { throw unexpectedResponse(response, to: 0x02) }
        let negotiated = max(23, min(Int(options.preferredMTU), Int(serverMTU)))
        setMTU(negotiated)
        return negotiated
    }

    /// Discover All Primary Services (Read By Group Type over `range`, by default the whole handle range).
    public func discoverPrimaryServices(in range: HandleRange = .all) async throws(GATTError) -> [DiscoveredService] {
        var services: [DiscoveredService] = []
        var start = range.start
        while start <= range.end {
            let response: ATTPDU
            do {
                response = try await transaction(
                    .readByGroupTypeRequest(HandleRange(start: start, end: range.end), type: .primaryService))
            } catch .errorResponse(_, _, .attributeNotFound) {
                break
            }
            guard case .readByGroupTypeResponse(let entries) = response else {
                throw unexpectedResponse(response, to: 0x10)
            }
            for entry in entries {
                guard let uuid = BluetoothUUID(attBytes: entry.value), entry.endGroupHandle >= entry.handle,
                    entry.handle >= start
                else {
                    throw .invalidResponse(
                        request: 0x10, reason: "service declaration at handle \(entry.handle) is malformed")
                }
                services.append(
                    DiscoveredService(uuid: uuid, handles: HandleRange(start: entry.handle, end: entry.endGroupHandle)))
            }
            guard let last = entries.last?.endGroupHandle, last < range.end else { break }
            start = last + 1
        }
        return services
    }

    /// Discover All Characteristics of a Service, then their descriptors.
    public func discoverCharacteristics(of service: DiscoveredService) async throws(GATTError)
        -> [DiscoveredCharacteristic]
    {
        var found: [DiscoveredCharacteristic] = []
        var start = service.handles.start
        while start <= service.handles.end {
            let response: ATTPDU
            do {
                response = try await transaction(
                    .readByTypeRequest(HandleRange(start: start, end: service.handles.end), type: .characteristic))
            } catch .errorResponse(_, _, .attributeNotFound) {
                break
            }
            guard case .readByTypeResponse(let entries) = response else { throw unexpectedResponse(response, to: 0x08) }
            for entry in entries {
                var reader = PayloadReader(entry.value, characteristic: "Characteristic Declaration")
                do throws(CharacteristicDecodeError) {
                    let properties = CharacteristicProperties(rawValue: try reader.uint8("properties"))
                    let valueHandle = try reader.uint16("value_handle")
                    guard let uuid = BluetoothUUID(attBytes: try reader.bytes(reader.remaining, "uuid")),
                        entry.handle >= start, valueHandle > entry.handle
                    else {
                        throw reader.error("uuid", .invalidValue("bad characteristic declaration"))
                    }
                    found.append(
                        DiscoveredCharacteristic(
                            uuid: uuid, declarationHandle: entry.handle, valueHandle: valueHandle,
                            properties: properties,
                            endHandle: service.handles.end))
                } catch {
                    throw .invalidResponse(request: 0x08, reason: error.description)
                }
            }
            guard let last = entries.last?.handle, last < service.handles.end else { break }
            start = last + 1
        }
        for index in found.indices where index + 1 < found.count {
            found[index].endHandle = found[index + 1].declarationHandle - 1
        }
        for index in found.indices where found[index].endHandle > found[index].valueHandle {
            found[index].descriptors = try await discoverDescriptors(
                HandleRange(start: found[index].valueHandle + 1, end: found[index].endHandle))
        }
        return found
    }

    /// Discover All Characteristic Descriptors in `range` (Find Information).
    public func discoverDescriptors(_ range: HandleRange) async throws(GATTError) -> [HandleType] {
        var found: [HandleType] = []
        var start = range.start
        while start <= range.end {
            let response: ATTPDU
            do {
                response = try await transaction(.findInformationRequest(HandleRange(start: start, end: range.end)))
            } catch .errorResponse(_, _, .attributeNotFound) {
                break
            }
            guard case .findInformationResponse(let entries) = response else {
                throw unexpectedResponse(response, to: 0x04)
            }
            found += entries
            guard let last = entries.last?.handle, last < range.end, last >= start else { break }
            start = last + 1
        }
        return found
    }

    /// Discovers every primary service with its characteristics and descriptors — once per link: picking the profile
    /// and the profile session's setup share the result (a battery device may give up a link that keeps it busy).
    /// With a cache slot, a database discovered on an earlier link is used when its Database Hash still matches (or,
    /// without a hash, when the device is bonded). After a Service Changed indication the next call discovers the
    /// changed handles again, keeping the services outside them.
    public func discoverAll() async throws(GATTError) -> DiscoveredDatabase {
        if let known = discoveredDatabase {
            guard let changed = takePendingChange() else { return known }
            let database = try await rediscover(changed, in: known)
            try await remember(database)
            return database
        }
        // A change announced before this link's first discovery is covered by it (and has forgotten the cached copy).
        _ = takePendingChange()
        if let slot = cacheSlot, let entry = slot.cache.entry(slot.key) {
            if let hash = entry.hash {
                if try await readDatabaseHash() == hash {
                    rememberDiscovered(entry.database, fromCache: true)
                    return entry.database
                }
                logger.info(
                    "the device's Database Hash changed; discovering again", metadata: ["device": "\(slot.key)"])
            } else if slot.bonded {
                rememberDiscovered(entry.database, fromCache: true)
                return entry.database
            }
        }
        var services = try await discoverPrimaryServices()
        for index in services.indices {
            services[index].characteristics = try await discoverCharacteristics(of: services[index])
        }
        let database = DiscoveredDatabase(services: services)
        try await remember(database)
        return database
    }

    /// Keeps what was discovered for this link, and for later links when there is a cache slot: with the device's
    /// Database Hash when it has one (any device may be cached then), else only for a bonded device.
    private func remember(_ database: DiscoveredDatabase) async throws(GATTError) {
        rememberDiscovered(database)
        guard let slot = cacheSlot else { return }
        var hash: [UInt8]?
        if let characteristic = database.characteristic(.databaseHash, in: .genericAttributeService) {
            do {
                hash = try await read(handle: characteristic.valueHandle)
            } catch .errorResponse {
                hash = nil  // not readable (yet): cached only as a bonded device's
            }
        }
        if hash != nil || slot.bonded {
            slot.cache.store(GATTDatabaseCache.Entry(database: database, hash: hash), for: slot.key)
        }
    }

    /// The device's Database Hash (Read Using Characteristic UUID: one request), nil when it has none.
    public func readDatabaseHash() async throws(GATTError) -> [UInt8]? {
        let response: ATTPDU
        do {
            response = try await transaction(.readByTypeRequest(.all, type: .databaseHash))
        } catch .errorResponse(_, _, let code)
            where code == .attributeNotFound || code == .readNotPermitted
            || code == .insufficientAuthentication || code == .insufficientEncryption
        {
            return nil
        }
        guard case .readByTypeResponse(let entries) = response else { throw unexpectedResponse(response, to: 0x08) }
        return entries.first?.value
    }

    /// Discovers the services in `changed` again (whole: a change may start or end inside a service) and keeps the
    /// services outside it as they were.
    func rediscover(_ changed: HandleRange, in known: DiscoveredDatabase) async throws(GATTError) -> DiscoveredDatabase
    {
        var range = changed
        for service in known.services where service.handles.overlaps(changed) { range = range.union(service.handles) }
        var services = known.services.filter { !$0.handles.overlaps(range) }
        var fresh = try await discoverPrimaryServices(in: range)
        for index in fresh.indices {
            fresh[index].characteristics = try await discoverCharacteristics(of: fresh[index])
        }
        services += fresh
        services.sort { $0.handles.start < $1.handles.start }
        return DiscoveredDatabase(services: services)
    }

    /// Reads a value, continuing with Read Blob while parts fill the MTU (long values up to 512 bytes).
    public func read(handle: UInt16) async throws(GATTError) -> [UInt8] {
        let response = try await transaction(.readRequest(handle: handle))
        guard case .readResponse(var value) = response else { throw unexpectedResponse(response, to: 0x0A) }
        while value.count >= mtu - 1, value.count < 512 {
            let part: ATTPDU
            do {
                part = try await transaction(.readBlobRequest(handle: handle, offset: UInt16(value.count)))
            } catch .errorResponse(_, _, let code) where code == .attributeNotLong || code == .invalidOffset {
                break
            }
            guard case .readBlobResponse(let bytes) = part else { throw unexpectedResponse(part, to: 0x0C) }
            value += bytes
            if bytes.count < mtu - 1 { break }
        }
        return value
    }

    /// Reads and decodes a characteristic value.
    public func read<Value: CharacteristicValue>(_ type: Value.Type, handle: UInt16) async throws(GATTError) -> Value {
        let bytes = try await read(handle: handle)
        do {
            return try Value(decoding: bytes)
        } catch {
            throw .invalidResponse(request: 0x0A, reason: error.description)
        }
    }

    /// Write Characteristic Value (Write Request, answered by a Write Response).
    public func write(handle: UInt16, value: [UInt8]) async throws(GATTError) {
        guard value.count <= mtu - 3 else { throw .valueTooLong(size: value.count, limit: mtu - 3) }
        let response = try await transaction(.writeRequest(handle: handle, value: value))
        guard case .writeResponse = response else { throw unexpectedResponse(response, to: 0x12) }
    }

    /// Turns notifications or indications of `characteristic` on or off through its CCCD.
    public func configure(_ characteristic: DiscoveredCharacteristic, _ value: CCCDValue) async throws(GATTError) {
        guard let cccd = characteristic.cccdHandle else {
            throw .missing("a Client Characteristic Configuration descriptor for \(characteristic.uuid)")
        }
        // Held before the write: the device may indicate as soon as it has answered.
        holdIndications(characteristic.valueHandle, value == .indications)
        try await write(handle: cccd, value: [UInt8(value.rawValue & 0xFF), UInt8(value.rawValue >> 8)])
    }

    private func unexpectedResponse(_ pdu: ATTPDU, to request: UInt8) -> GATTError {
        .invalidResponse(request: request, reason: "unexpected \(GATTError.opcodeName(pdu.opcode))")
    }
}
