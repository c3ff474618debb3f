import Provenance

// Device Information Service characteristics. These identify the sensor behind every reading (FHIR PhdDevice:
// manufacturer, model, serial, revisions, System ID → EUI-64), so they are decoded as strictly as readings.
//
// Facts used, and where they were confirmed:
// - System ID (GSS): a 40-bit manufacturer-defined identifier followed by a 24-bit OUI, sent least significant
//   octet first; the GSS notes that the IEEE form of the same EUI-64 is written most significant octet first and
//   starts with the OUI. So the EUI-64 octets are the eight payload bytes reversed. The HL7 PHD IG (PhdDevice,
//   identifier slice "systemIdIdentifier", system urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680) writes the
//   EUI-64 as eight upper-case hex bytes separated by dashes.
// - Regulatory Certification Data List: its value is an IEEE 11073-20601 RegCertDataList in MDER, i.e.
//   big-endian: count (uint16) and length (uint16, bytes of entries), then entries of auth-body (uint8),
//   auth-body-struc-type (uint8) and auth-body-data as an ANY (uint16 length + bytes). Continua (auth-body 2)
//   defines struc-type 1, continua-version-struct (major and minor IG version, uint8 each, then a
//   CertifiedDeviceClassList: count, length, uint16 entries) and struc-type 2, continua-reg-struct (a 16-bit
//   regulation bit field whose MDER bit 0, the most significant bit, means "unregulated device"). Confirmed from
//   the 11073-20601 ASN.1 as carried by open-source agents (Antidote's asn1 headers, CSR and Microchip PHDC
//   stacks, including an example list with both Continua structures), and the PHD IG's Continua PAN code table:
//   a certified device class entry is transport × 8192 + (specialization MDC code − 4096).
// - PnP ID (GSS): vendor ID source 1 = Bluetooth SIG company identifier, 2 = USB Implementer's Forum vendor ID,
//   other values reserved; then vendor ID, product ID, product version, uint16 each.

// MARK: - UTF-8 strings

/// What distinguishes one DIS string characteristic from another: its UUID, name and JSON field name.
public protocol DeviceInformationStringKind: Sendable {
    static var uuid: BluetoothUUID { get }
    static var name: String { get }
    /// The snake_case field name in JSON and errors, e.g. "manufacturer_name".
    static var fieldName: String { get }
}

/// One implementation for the six DIS string characteristics: the whole payload is the UTF-8 text, validated
/// (never repaired), kept byte for byte. Equality compares the UTF-8 bytes, not Unicode canonical equivalence,
/// so two serial numbers that differ in their bytes stay two serial numbers.
public struct DeviceInformationString<Kind: DeviceInformationStringKind>: CharacteristicValue, Hashable {
    public static var uuid: BluetoothUUID { Kind.uuid }
    public static var name: String { Kind.name }

    /// The text exactly as sent (including any trailing NULs some devices add).
    public var value: String

    public init(_ value: String) { self.value = value }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Kind.name)
        value = try reader.utf8String(Kind.fieldName)
        try reader.finish()
    }

    public func encoded() -> [UInt8] { Array(value.utf8) }

    /// The text without the trailing NUL terminators some firmware sends — what a person should be shown.
    public var displayValue: String {
        var scalars = value.unicodeScalars[...]
        while scalars.last == "\0" { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    public var json: ExactJSON { .members([(Kind.fieldName, .string(value))]) }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.value.utf8.elementsEqual(rhs.value.utf8) }

    public func hash(into hasher: inout Hasher) {
        for byte in value.utf8 { hasher.combine(byte) }
    }
}

/// The kinds of DIS string, one per characteristic.
public enum DeviceInformationStringKinds {
    public enum ManufacturerName: DeviceInformationStringKind {
        public static let uuid = BluetoothUUID.manufacturerNameString
        public static let name = "Manufacturer Name String"
        public static let fieldName = "manufacturer_name"
    }

    public enum ModelNumber: DeviceInformationStringKind {
        public static let uuid = BluetoothUUID.modelNumberString
        public static let name = "Model Number String"
        public static let fieldName = "model_number"
    }

    public enum SerialNumber: DeviceInformationStringKind {
        public static let uuid = BluetoothUUID.serialNumberString
        public static let name = "Serial Number String"
        public static let fieldName = "serial_number"
    }

    public enum HardwareRevision: DeviceInformationStringKind {
        public static let uuid = BluetoothUUID.hardwareRevisionString
        public static let name = "Hardware Revision String"
        public static let fieldName = "hardware_revision"
    }

    public enum FirmwareRevision: DeviceInformationStringKind {
        public static let uuid = BluetoothUUID.firmwareRevisionString
        public static let name = "Firmware Revision String"
        public static let fieldName = "firmware_revision"
    }

    public enum SoftwareRevision: DeviceInformationStringKind {
        public static let uuid = BluetoothUUID.softwareRevisionString
        public static let name = "Software Revision String"
        public static let fieldName = "software_revision"
    }
}

/// Manufacturer Name String (0x2A29).
public typealias ManufacturerNameString = DeviceInformationString<DeviceInformationStringKinds.ManufacturerName>
/// Model Number String (0x2A24).
public typealias ModelNumberString = DeviceInformationString<DeviceInformationStringKinds.ModelNumber>
/// Serial Number String (0x2A25).
public typealias SerialNumberString = DeviceInformationString<DeviceInformationStringKinds.SerialNumber>
/// Hardware Revision String (0x2A27).
public typealias HardwareRevisionString = DeviceInformationString<DeviceInformationStringKinds.HardwareRevision>
/// Firmware Revision String (0x2A26).
public typealias FirmwareRevisionString = DeviceInformationString<DeviceInformationStringKinds.FirmwareRevision>
/// Software Revision String (0x2A28).
public typealias SoftwareRevisionString = DeviceInformationString<DeviceInformationStringKinds.SoftwareRevision>

// MARK: - System ID

/// System ID (0x2A23): the device's EUI-64, the identifier FHIR's PhdDevice requires. Held as the 64-bit number
/// the characteristic carries (OUI in the top 24 bits, manufacturer-defined identifier in the low 40), so every
/// value is valid and the wire form and the EUI-64 form are two byte orders of the same number.
public struct SystemID: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.systemID
    public static let name = "System ID"

    /// OUI << 40 | manufacturer identifier.
    public var value: UInt64

    public init(value: UInt64) { self.value = value }

    /// nil when a part does not fit its width (40 and 24 bits).
    public init?(manufacturerIdentifier: UInt64, organizationallyUniqueIdentifier: UInt32) {
        guard manufacturerIdentifier < 1 << 40, organizationallyUniqueIdentifier < 1 << 24 else { return nil }
        value = UInt64(organizationallyUniqueIdentifier) << 40 | manufacturerIdentifier
    }

    /// From the EUI-64 in IEEE order (OUI first); nil unless exactly 8 bytes.
    public init?(eui64 bytes: [UInt8]) {
        guard bytes.count == 8 else { return nil }
        value = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let manufacturer = try reader.unsigned(5, "manufacturer_identifier")
        let oui = try reader.uint24("organizationally_unique_identifier")
        try reader.finish()
        value = UInt64(oui) << 40 | manufacturer
    }

    /// The low 40 bits: assigned by the manufacturer.
    public var manufacturerIdentifier: UInt64 { value & 0xFF_FFFF_FFFF }
    /// The top 24 bits: the IEEE-assigned company identifier.
    public var organizationallyUniqueIdentifier: UInt32 { UInt32(value >> 40) }

    /// The EUI-64 in IEEE order, most significant octet (the OUI's) first: the payload bytes reversed.
    public var eui64: [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }

    /// "12-34-56-FF-FE-9A-BC-DE", the form the PHD IG puts in Device.identifier.value.
    public var eui64Text: String { CharacteristicFormatting.hex(eui64, separator: "-") }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.unsigned(value, 8)
        return writer.bytes
    }

    public var json: ExactJSON {
        .members([
            ("manufacturer_identifier", .integer(manufacturerIdentifier)),
            ("organizationally_unique_identifier", .integer(organizationallyUniqueIdentifier)),
            ("eui_64", .string(eui64Text)),
        ])
    }
}

// MARK: - IEEE 11073-20601 Regulatory Certification Data List

extension PayloadReader {
    /// An IEEE 11073-20601 MDER INT-U16: big-endian, unlike every other field in GATT.
    mutating func mderUInt16(_ field: String) throws(CharacteristicDecodeError) -> UInt16 {
        let raw = try bytes(2, field)
        return UInt16(raw[0]) << 8 | UInt16(raw[1])
    }
}

extension PayloadWriter {
    mutating func mderUInt16(_ value: UInt16) {
        uint8(UInt8(value >> 8))
        uint8(UInt8(value & 0xFF))
    }
}

/// One Continua certified device class: a specialization certified over a transport.
public struct ContinuaCertifiedDeviceClass: Hashable, Sendable {
    /// transport × 8192 + (specialization MDC code − 4096).
    public var rawValue: UInt16

    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// 0 Continua 1.0 (no transport given), 1 USB, 2 Bluetooth HDP, 3 ZigBee, 4 Bluetooth LE, 5 NFC.
    public var transportCode: UInt8 { UInt8(rawValue >> 13) }
    /// The specialization's MDC_DEV_SPEC_PROFILE_* code, e.g. 4103 for blood pressure.
    public var specializationCode: UInt16 { (rawValue & 0x1FFF) + 4096 }

    public var transportName: String? {
        switch transportCode {
        case 0: "Continua version 1.0"
        case 1: "USB"
        case 2: "Bluetooth HDP"
        case 3: "ZigBee"
        case 4: "Bluetooth Low Energy"
        case 5: "NFC"
        default: nil
        }
    }

    var json: ExactJSON {
        .members([
            ("certified_device_class_entry", .integer(rawValue)),
            ("transport", transportName.map { .string($0) } ?? .integer(transportCode)),
            ("specialization", .integer(specializationCode)),
        ])
    }
}

/// Continua's version structure (auth-body 2, struc-type 1): which Continua guidelines version the device was
/// certified against and for which device classes — FHIR's Device.version "Continua version" and properties.
public struct ContinuaVersionStructure: Hashable, Sendable {
    public var majorIGVersion: UInt8
    public var minorIGVersion: UInt8
    public var certifiedDeviceClasses: [ContinuaCertifiedDeviceClass]

    public init(majorIGVersion: UInt8, minorIGVersion: UInt8, certifiedDeviceClasses: [ContinuaCertifiedDeviceClass]) {
        self.majorIGVersion = majorIGVersion
        self.minorIGVersion = minorIGVersion
        self.certifiedDeviceClasses = certifiedDeviceClasses
    }

    init(reading reader: inout PayloadReader, field: String) throws(CharacteristicDecodeError) {
        majorIGVersion = try reader.uint8(field + ".major_ig_version")
        minorIGVersion = try reader.uint8(field + ".minor_ig_version")
        let listField = field + ".certified_device_class_list"
        let count = try reader.mderUInt16(listField + ".count")
        let lengthOffset = reader.offset
        let length = try reader.mderUInt16(listField + ".length")
        guard Int(length) == 2 * Int(count) else {
            throw reader.error(
                listField + ".length",
                .invalidValue("is \(length) but \(count) two-byte entries need \(2 * Int(count))"), at: lengthOffset)
        }
        var classes: [ContinuaCertifiedDeviceClass] = []
        for index in 0..<Int(count) {
            classes.append(ContinuaCertifiedDeviceClass(rawValue: try reader.mderUInt16(listField + "[\(index)]")))
        }
        certifiedDeviceClasses = classes
    }

    func write(to writer: inout PayloadWriter) {
        writer.uint8(majorIGVersion)
        writer.uint8(minorIGVersion)
        writer.mderUInt16(UInt16(truncatingIfNeeded: certifiedDeviceClasses.count))
        writer.mderUInt16(UInt16(truncatingIfNeeded: 2 * certifiedDeviceClasses.count))
        for entry in certifiedDeviceClasses { writer.mderUInt16(entry.rawValue) }
    }

    var json: ExactJSON {
        .members([
            ("major_ig_version", .integer(majorIGVersion)),
            ("minor_ig_version", .integer(minorIGVersion)),
            ("certified_device_class_list", .array(certifiedDeviceClasses.map(\.json))),
        ])
    }
}

/// Continua's regulation structure (auth-body 2, struc-type 2): whether the device claims to be a regulated
/// medical device. The bit field is a status word, so undefined bits are kept, not refused.
public struct ContinuaRegulationStructure: Hashable, Sendable {
    /// MDER bit 0 (the most significant bit): set = unregulated device.
    public static let unregulatedDeviceBit: UInt16 = 0x8000

    public var regulationBitField: UInt16

    public init(regulationBitField: UInt16) { self.regulationBitField = regulationBitField }

    public var unregulatedDevice: Bool { regulationBitField & Self.unregulatedDeviceBit != 0 }

    var json: ExactJSON {
        .members([
            ("regulation_bit_field", .integer(regulationBitField)),
            ("unregulated_device", .bool(unregulatedDevice)),
        ])
    }
}

/// One RegCertData entry. The two Continua structures are decoded; any other authorising body or structure
/// type is kept as the bytes sent, so nothing the device said is lost.
public enum RegulatoryCertificationData: Hashable, Sendable {
    case continuaVersion(ContinuaVersionStructure)
    case continuaRegulation(ContinuaRegulationStructure)
    /// Any other (auth-body, auth-body-struc-type); the decoder never produces this for (2, 1) or (2, 2).
    case other(authBody: UInt8, structureType: UInt8, data: [UInt8])

    /// 11073-20601 AuthBody values.
    public static let authBodyContinua: UInt8 = 2

    public var authBody: UInt8 {
        switch self {
        case .continuaVersion, .continuaRegulation: Self.authBodyContinua
        case .other(let authBody, _, _): authBody
        }
    }

    public var structureType: UInt8 {
        switch self {
        case .continuaVersion: 1
        case .continuaRegulation: 2
        case .other(_, let structureType, _): structureType
        }
    }

    /// The auth-body-data bytes (without their length prefix), exactly as they go on the wire.
    public var data: [UInt8] {
        var writer = PayloadWriter()
        switch self {
        case .continuaVersion(let structure): structure.write(to: &writer)
        case .continuaRegulation(let structure): writer.mderUInt16(structure.regulationBitField)
        case .other(_, _, let data): writer.append(data)
        }
        return writer.bytes
    }

    /// The 11073-20601 name of the authorising body.
    public var authBodyName: String? {
        switch authBody {
        case 0: "auth-body-empty"
        case 1: "auth-body-ieee-11073"
        case 2: "auth-body-continua"
        case 254: "auth-body-experimental"
        case 255: "auth-body-reserved"
        default: nil
        }
    }

    init(reading reader: inout PayloadReader, field: String) throws(CharacteristicDecodeError) {
        let authBody = try reader.uint8(field + ".auth_body")
        let structureType = try reader.uint8(field + ".auth_body_struc_type")
        let dataField = field + ".auth_body_data"
        let length = try reader.mderUInt16(dataField + ".length")
        let dataOffset = reader.offset
        let data = try reader.bytes(Int(length), dataField)
        guard authBody == Self.authBodyContinua, structureType == 1 || structureType == 2 else {
            self = .other(authBody: authBody, structureType: structureType, data: data)
            return
        }
        // The structure is parsed inside its own length, so a short structure cannot borrow the next entry's
        // bytes; error offsets are moved back to payload offsets.
        var inner = PayloadReader(data, characteristic: reader.characteristic)
        do throws(CharacteristicDecodeError) {
            if structureType == 1 {
                self = .continuaVersion(try ContinuaVersionStructure(reading: &inner, field: dataField))
            } else {
                let bitField = try inner.mderUInt16(dataField + ".regulation_bit_field")
                self = .continuaRegulation(ContinuaRegulationStructure(regulationBitField: bitField))
            }
            guard inner.isAtEnd else {
                throw inner.error(dataField, .trailingBytes(count: inner.remaining))
            }
        } catch {
            var moved = error
            moved.offset += dataOffset
            throw moved
        }
    }

    func write(to writer: inout PayloadWriter) {
        let data = data
        writer.uint8(authBody)
        writer.uint8(structureType)
        writer.mderUInt16(UInt16(truncatingIfNeeded: data.count))
        writer.append(data)
    }

    var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("auth_body", .integer(authBody)),
            ("auth_body_name", authBodyName.map { .string($0) } ?? .null),
            ("auth_body_struc_type", .integer(structureType)),
        ]
        switch self {
        case .continuaVersion(let structure): members.append(("continua_version_struct", structure.json))
        case .continuaRegulation(let structure): members.append(("continua_reg_struct", structure.json))
        case .other: break
        }
        members.append(("auth_body_data", .string(CharacteristicFormatting.hex(data))))
        return .members(members)
    }
}

/// IEEE 11073-20601 Regulatory Certification Data List (0x2A2A): the device's regulatory and Continua
/// certification claims, which FHIR's PhdDevice reports as versions and properties.
public struct RegulatoryCertificationDataList: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.regulatoryCertificationDataList
    public static let name = "IEEE 11073-20601 Regulatory Certification Data List"

    public var entries: [RegulatoryCertificationData]

    public init(entries: [RegulatoryCertificationData]) { self.entries = entries }

    /// Refuses a list whose count or byte length disagrees with its entries, and bytes after the list: the
    /// counts are the only way to know where the structure ends.
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let count = try reader.mderUInt16("count")
        let lengthOffset = reader.offset
        let length = try reader.mderUInt16("length")
        let start = reader.offset
        var entries: [RegulatoryCertificationData] = []
        for index in 0..<Int(count) {
            entries.append(try RegulatoryCertificationData(reading: &reader, field: "reg_cert_data_list[\(index)]"))
        }
        let used = reader.offset - start
        guard used == Int(length) else {
            throw reader.error(
                "length", .invalidValue("says \(length) byte(s) but the \(count) entries occupy \(used)"),
                at: lengthOffset)
        }
        try reader.finish()
        self.entries = entries
    }

    public func encoded() -> [UInt8] {
        var body = PayloadWriter()
        for entry in entries { entry.write(to: &body) }
        var writer = PayloadWriter()
        writer.mderUInt16(UInt16(truncatingIfNeeded: entries.count))
        writer.mderUInt16(UInt16(truncatingIfNeeded: body.bytes.count))
        writer.append(body.bytes)
        return writer.bytes
    }

    /// The Continua version structure, if the device sent one.
    public var continuaVersion: ContinuaVersionStructure? {
        for entry in entries { if case .continuaVersion(let structure) = entry { return structure } }
        return nil
    }

    /// The Continua regulation structure, if the device sent one.
    public var continuaRegulation: ContinuaRegulationStructure? {
        for entry in entries { if case .continuaRegulation(let structure) = entry { return structure } }
        return nil
    }

    public var json: ExactJSON {
        .members([
            ("reg_cert_data_list", .array(entries.map(\.json))),
            ("raw", .string(CharacteristicFormatting.hex(encoded()))),
        ])
    }
}

// MARK: - PnP ID

/// PnP ID (0x2A50): vendor and product identifiers, a second way to know which model a device is.
public struct PnPID: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.pnpID
    public static let name = "PnP ID"

    /// Who assigned the vendor ID; other values are reserved and refused.
    public enum VendorIDSource: UInt8, Hashable, Sendable {
        /// A Bluetooth SIG company identifier.
        case bluetoothSIG = 1
        /// A USB Implementer's Forum vendor ID.
        case usbImplementersForum = 2

        var displayName: String {
            switch self {
            case .bluetoothSIG: "Bluetooth SIG"
            case .usbImplementersForum: "USB Implementer's Forum"
            }
        }
    }

    public var vendorIDSource: VendorIDSource
    public var vendorID: UInt16
    public var productID: UInt16
    public var productVersion: UInt16

    public init(vendorIDSource: VendorIDSource, vendorID: UInt16, productID: UInt16, productVersion: UInt16) {
        self.vendorIDSource = vendorIDSource
        self.vendorID = vendorID
        self.productID = productID
        self.productVersion = productVersion
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let raw = try reader.uint8("vendor_id_source")
        guard let source = VendorIDSource(rawValue: raw) else {
            throw reader.error("vendor_id_source", .reservedValue(UInt64(raw)), at: 0)
        }
        vendorIDSource = source
        vendorID = try reader.uint16("vendor_id")
        productID = try reader.uint16("product_id")
        productVersion = try reader.uint16("product_version")
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(vendorIDSource.rawValue)
        writer.uint16(vendorID)
        writer.uint16(productID)
        writer.uint16(productVersion)
        return writer.bytes
    }

    public var json: ExactJSON {
        .members([
            ("vendor_id_source", .string(vendorIDSource.displayName)),
            ("vendor_id", .integer(vendorID)),
            ("product_id", .integer(productID)),
            ("product_version", .integer(productVersion)),
        ])
    }
}
