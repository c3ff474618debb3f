/// LE advertising data / EIR, parsed (Core Specification Supplement part A): a sequence of AD structures, each
/// Length (1) then AD Type (1) and Length − 1 bytes of data. A zero Length ends the significant part. Device Found
/// hands us advertising data and scan response already joined, so one parse sees both.
///
/// Every structure is kept in `structures`, known or not; the typed fields below are what gatewayd uses to tell
/// a blood-pressure cuff from a glucose meter before connecting.
public struct AdvertisingData: Equatable, Sendable {
    /// AD type numbers from the Assigned Numbers document.
    public enum ADType {
        public static let flags: UInt8 = 0x01
        public static let incompleteServiceUUIDs16: UInt8 = 0x02
        public static let completeServiceUUIDs16: UInt8 = 0x03
        public static let incompleteServiceUUIDs32: UInt8 = 0x04
        public static let completeServiceUUIDs32: UInt8 = 0x05
        public static let incompleteServiceUUIDs128: UInt8 = 0x06
        public static let completeServiceUUIDs128: UInt8 = 0x07
        public static let shortenedLocalName: UInt8 = 0x08
        public static let completeLocalName: UInt8 = 0x09
        public static let txPowerLevel: UInt8 = 0x0A
        public static let serviceData16: UInt8 = 0x16
        public static let appearance: UInt8 = 0x19
        public static let manufacturerSpecific: UInt8 = 0xFF
    }

    /// One AD structure as found, with the offset of its Length byte.
    public struct Structure: Equatable, Sendable {
        public var type: UInt8
        public var data: [UInt8]
        public var offset: Int
    }

    /// The local name; names that are not valid UTF-8 keep their bytes, and the text shows U+FFFD where a byte
    /// was invalid, so a hostile or broken name can neither fail the parse nor be mistaken for another.
    public struct LocalName: Equatable, Sendable, CustomStringConvertible {
        public var text: String
        public var isComplete: Bool
        public var raw: [UInt8]
        public var isValidUTF8: Bool

        init(_ raw: [UInt8], isComplete: Bool) {
            var trimmed = raw
            while trimmed.last == 0 { trimmed.removeLast() }  // some devices pad the name with NULs
            self.raw = raw
            self.isComplete = isComplete
            isValidUTF8 = String(validating: trimmed, as: UTF8.self) != nil
            text = String(decoding: trimmed, as: UTF8.self)
        }

        public var description: String { text }
    }

    public struct ServiceData: Equatable, Sendable {
        public var uuid: BluetoothUUID
        public var data: [UInt8]
    }

    public struct ManufacturerData: Equatable, Sendable {
        /// The Bluetooth SIG company identifier.
        public var companyID: UInt16
        public var data: [UInt8]
    }

    public private(set) var structures: [Structure] = []
    public private(set) var flags: AdvertisingFlags?
    /// 16-, 32- and 128-bit service UUIDs from complete and incomplete lists, in order, without repeats.
    public private(set) var serviceUUIDs: [BluetoothUUID] = []
    /// Whether a list said it was complete (the device has no other services of that size).
    public private(set) var hasCompleteServiceList = false
    /// The complete name when one is present, otherwise the shortened one.
    public private(set) var localName: LocalName?
    public private(set) var txPower: Int8?
    public private(set) var serviceData: [ServiceData] = []
    public private(set) var appearance: Appearance?
    public private(set) var manufacturerData: [ManufacturerData] = []

    /// Parses `bytes`. A structure whose Length runs past the end is an error naming its offset; so are
    /// structures of a known type whose length cannot be right (an odd 16-bit UUID list, a 3-byte appearance).
    public init(parsing bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: "advertising data")
        while !reader.isAtEnd {
            let offset = reader.offset
            let length = Int(try reader.uint8("ad_length"))
            if length == 0 { break }
            guard reader.remaining >= length else {
                throw reader.error(
                    "ad_structure", .truncated(needed: length, available: reader.remaining), at: offset)
            }
            let type = try reader.uint8("ad_type")
            let data = try reader.bytes(length - 1, "ad_data")
            let structure = Structure(type: type, data: data, offset: offset)
            structures.append(structure)
            try interpret(structure, reader)
        }
    }

    private mutating func interpret(_ structure: Structure, _ reader: PayloadReader) throws(CharacteristicDecodeError) {
        let data = structure.data
        let dataOffset = structure.offset + 2
        func invalid(_ field: String, _ reason: String) -> CharacteristicDecodeError {
            reader.error(field, .invalidValue(reason), at: dataOffset)
        }
        switch structure.type {
        case ADType.flags:
            // The Flags data may be longer than one octet; only the first carries defined bits.
            flags = AdvertisingFlags(rawValue: data.first ?? 0)
        case ADType.incompleteServiceUUIDs16, ADType.completeServiceUUIDs16,
            ADType.incompleteServiceUUIDs32, ADType.completeServiceUUIDs32,
            ADType.incompleteServiceUUIDs128, ADType.completeServiceUUIDs128:
            let size: Int
            switch structure.type {
            case ADType.incompleteServiceUUIDs16, ADType.completeServiceUUIDs16: size = 2
            case ADType.incompleteServiceUUIDs32, ADType.completeServiceUUIDs32: size = 4
            default: size = 16
            }
            guard data.count % size == 0 else {
                throw invalid(
                    "service_uuids",
                    "a list of \(size * 8)-bit UUIDs has \(data.count) bytes, not a multiple of \(size)")
            }
            if structure.type & 1 == 1 { hasCompleteServiceList = true }  // 0x03, 0x05, 0x07 are the complete lists
            for start in stride(from: 0, to: data.count, by: size) {
                if let uuid = Self.uuid(Array(data[start..<start + size])), !serviceUUIDs.contains(uuid) {
                    serviceUUIDs.append(uuid)
                }
            }
        case ADType.shortenedLocalName:
            if localName == nil { localName = LocalName(data, isComplete: false) }
        case ADType.completeLocalName:
            if localName?.isComplete != true { localName = LocalName(data, isComplete: true) }
        case ADType.txPowerLevel:
            guard data.count == 1 else {
                throw invalid("tx_power_level", "\(data.count) bytes; the TX power level is 1 byte")
            }
            txPower = Int8(bitPattern: data[0])
        case ADType.serviceData16:
            guard data.count >= 2 else {
                throw invalid("service_data", "\(data.count) bytes cannot hold the 16-bit UUID")
            }
            serviceData.append(
                ServiceData(uuid: BluetoothUUID(UInt16(data[0]) | UInt16(data[1]) << 8), data: Array(data[2...])))
        case ADType.appearance:
            guard data.count == 2 else { throw invalid("appearance", "\(data.count) bytes; the appearance is 2 bytes") }
            appearance = Appearance(rawValue: UInt16(data[0]) | UInt16(data[1]) << 8)
        case ADType.manufacturerSpecific:
            guard data.count >= 2 else {
                throw invalid("manufacturer_data", "\(data.count) bytes cannot hold the company identifier")
            }
            manufacturerData.append(
                ManufacturerData(companyID: UInt16(data[0]) | UInt16(data[1]) << 8, data: Array(data[2...])))
        default:
            break  // kept in `structures`
        }
    }

    /// A little-endian 2-, 4- or 16-byte UUID; 32-bit ones sit on the base UUID like 16-bit ones.
    private static func uuid(_ littleEndian: [UInt8]) -> BluetoothUUID? {
        if littleEndian.count == 4 {
            var bytes = BluetoothUUID(0).bytes
            bytes.replaceSubrange(0..<4, with: littleEndian.reversed())
            return BluetoothUUID(bigEndian: bytes)
        }
        return BluetoothUUID(attBytes: littleEndian)
    }

    // MARK: Health devices

    /// The health profiles whose services are advertised, in the order advertised.
    public var healthProfiles: [HealthProfile] { serviceUUIDs.compactMap(HealthProfile.serving) }

    /// Which health profile the device speaks, from its services first, else its appearance; nil when neither says.
    public var healthProfile: HealthProfile? { healthProfiles.first ?? appearance?.healthProfile }

    // MARK: Encoding

    /// Builds advertising data for a simulated peripheral: Flags (when given), the complete list of 16-bit
    /// service UUIDs, the appearance, then the name — shortened to the bytes left when it does not fit whole.
    ///
    /// Leave `flags` nil when Add Advertising's discoverable flag is set: the kernel then adds Flags itself and
    /// refuses data that carries them.
    public static func encode(
        flags: AdvertisingFlags? = [.leGeneralDiscoverable, .brEdrNotSupported], services: [UInt16] = [],
        appearance: UInt16? = nil, name: String? = nil, limit: Int = 31
    ) throws(AdvertisingDataEncodeError) -> [UInt8] {
        var writer = PayloadWriter()
        if let flags {
            writer.append([2, ADType.flags, flags.rawValue])
        }
        if !services.isEmpty {
            writer.append([UInt8(truncatingIfNeeded: 1 + 2 * services.count), ADType.completeServiceUUIDs16])
            for service in services { writer.uint16(service) }
        }
        if let appearance {
            writer.append([3, ADType.appearance])
            writer.uint16(appearance)
        }
        guard writer.bytes.count <= limit, services.count <= 127 else {
            throw .doesNotFit(what: "flags, service UUIDs and appearance", needed: writer.bytes.count, limit: limit)
        }
        if let name, !name.isEmpty {
            let whole = Array(name.utf8)
            let room = limit - writer.bytes.count - 2
            if whole.count <= room {
                writer.append([UInt8(1 + whole.count), ADType.completeLocalName])
                writer.append(whole)
            } else {
                let shortened = Self.prefix(of: name, maximumBytes: room)
                guard !shortened.isEmpty else {
                    throw .doesNotFit(what: "the name \"\(name)\"", needed: writer.bytes.count + 3, limit: limit)
                }
                writer.append([UInt8(1 + shortened.count), ADType.shortenedLocalName])
                writer.append(shortened)
            }
        }
        return writer.bytes
    }

    /// The longest prefix of `text` in whole characters that fits in `maximumBytes` of UTF-8.
    private static func prefix(of text: String, maximumBytes: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for character in text {
            let next = Array(String(character).utf8)
            guard bytes.count + next.count <= maximumBytes else { break }
            bytes += next
        }
        return bytes
    }
}

/// Why advertising data could not be built.
public enum AdvertisingDataEncodeError: Error, Equatable, Sendable, CustomStringConvertible {
    case doesNotFit(what: String, needed: Int, limit: Int)

    public var description: String {
        switch self {
        case .doesNotFit(let what, let needed, let limit):
            "\(what) need \(needed) bytes of advertising data but only \(limit) are available; advertise fewer services or a shorter name"
        }
    }
}

/// The Flags AD structure's bits.
public struct AdvertisingFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let leLimitedDiscoverable = Self(rawValue: 1 << 0)
    public static let leGeneralDiscoverable = Self(rawValue: 1 << 1)
    public static let brEdrNotSupported = Self(rawValue: 1 << 2)
    public static let simultaneousLEAndBrEdrController = Self(rawValue: 1 << 3)
    public static let simultaneousLEAndBrEdrHost = Self(rawValue: 1 << 4)
}

/// The GAP Appearance value: a 10-bit category and a 6-bit subcategory (Assigned Numbers 2.6).
public struct Appearance: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let genericHeartRateSensor = Self(rawValue: 0x0340)
    public static let heartRateBelt = Self(rawValue: 0x0341)
    public static let genericBloodPressure = Self(rawValue: 0x0380)
    public static let bloodPressureArm = Self(rawValue: 0x0381)
    public static let bloodPressureWrist = Self(rawValue: 0x0382)
    public static let genericGlucoseMeter = Self(rawValue: 0x0400)

    public var category: UInt16 { rawValue >> 6 }
    public var subcategory: UInt8 { UInt8(rawValue & 0x3F) }

    /// The health profile whose devices advertise this category (Heart Rate Sensor 0x00D, Blood Pressure 0x00E,
    /// Glucose Meter 0x010, …), whatever the subcategory.
    public var healthProfile: HealthProfile? {
        HealthProfile.all.first { $0.appearanceCategories.contains(category) }
    }

    public var description: String {
        let kind = healthProfile.map { " (\($0.deviceName))" } ?? ""
        return "0x\(ManagementFormat.hex(rawValue))\(kind)"
    }
}
