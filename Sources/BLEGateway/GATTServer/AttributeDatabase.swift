/// One attribute of a GATT server: a handle, a type, and either a fixed value or one the server's handler
/// supplies on each read (measurements, the device clock, control points).
public struct Attribute: Sendable {
    public enum Value: Sendable {
        case fixed([UInt8])
        /// Read and written through the `GATTServerHandler`.
        case dynamic
        /// A Client Characteristic Configuration descriptor, kept per link by the server.
        case clientConfiguration(characteristicValueHandle: UInt16)
    }

    public var handle: UInt16
    public var type: BluetoothUUID
    public var value: Value
    public var readable: Bool
    public var writable: Bool
    /// For service declarations: the last handle of the service (the group end).
    public var groupEnd: UInt16?
}

/// The handles of one characteristic added to a database.
public struct CharacteristicHandles: Hashable, Sendable {
    public var declaration: UInt16
    public var value: UInt16
    public var cccd: UInt16?
}

/// A GATT attribute table built service by service, laid out exactly as Vol 3 Part G section 3 describes:
/// service declaration, then per characteristic its declaration, its value and its descriptors.
public struct AttributeDatabase: Sendable {
    public private(set) var attributes: [Attribute] = []
    private var openService: Int?

    public init() {}

    private var nextHandle: UInt16 { UInt16(attributes.count + 1) }

    /// Starts a primary service; the ones before it are closed.
    public mutating func addPrimaryService(_ uuid: BluetoothUUID) {
        closeService()
        openService = attributes.count
        attributes.append(
            Attribute(
                handle: nextHandle, type: .primaryService, value: .fixed(uuid.attBytes), readable: true, writable: false
            ))
    }

    /// Adds a characteristic to the open service, with a CCCD when it notifies or indicates.
    @discardableResult
    public mutating func addCharacteristic(
        _ uuid: BluetoothUUID, properties: CharacteristicProperties, value: Attribute.Value = .dynamic
    ) -> CharacteristicHandles {
        let declaration = nextHandle
        let valueHandle = declaration + 1
        var declarationValue = PayloadWriter()
        declarationValue.uint8(properties.rawValue)
        declarationValue.uint16(valueHandle)
        declarationValue.append(uuid.attBytes)
        attributes.append(
            Attribute(
                handle: declaration, type: .characteristic, value: .fixed(declarationValue.bytes), readable: true,
                writable: false))
        attributes.append(
            Attribute(
                handle: valueHandle, type: uuid, value: value, readable: properties.contains(.read),
                writable: properties.contains(.write) || properties.contains(.writeWithoutResponse)))
        var cccd: UInt16?
        if properties.contains(.notify) || properties.contains(.indicate) {
            cccd = nextHandle
            attributes.append(
                Attribute(
                    handle: nextHandle, type: .clientCharacteristicConfiguration,
                    value: .clientConfiguration(characteristicValueHandle: valueHandle), readable: true, writable: true)
            )
        }
        return CharacteristicHandles(declaration: declaration, value: valueHandle, cccd: cccd)
    }

    private mutating func closeService() {
        if let index = openService { attributes[index].groupEnd = UInt16(attributes.count) }
        openService = nil
    }

    /// Closes the last service; call once when done adding.
    public mutating func finish() { closeService() }

    /// Closes the last service after adding the Generic Attribute service a device that caches well has: Service
    /// Changed (indicated when the table changes) and the Database Hash of the finished table.
    public mutating func finishWithGenericAttribute() {
        addPrimaryService(.genericAttributeService)
        addCharacteristic(.serviceChanged, properties: [.indicate])
        let hash = addCharacteristic(.databaseHash, properties: [.read], value: .fixed([]))
        closeService()
        attributes[Int(hash.value) - 1].value = .fixed(databaseHash)
    }

    public func attribute(_ handle: UInt16) -> Attribute? {
        guard handle >= 1, Int(handle) <= attributes.count else { return nil }
        return attributes[Int(handle) - 1]
    }

    public func attributes(in range: HandleRange) -> ArraySlice<Attribute> {
        let lower = Int(range.start) - 1
        let upper = min(Int(range.end), attributes.count)
        guard lower < upper else { return [] }
        return attributes[lower..<upper]
    }

    /// The value handle of the first characteristic of type `uuid`.
    public func valueHandle(_ uuid: BluetoothUUID) -> UInt16? {
        attributes.first { $0.type == uuid }?.handle
    }
}
