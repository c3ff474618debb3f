/// A Bluetooth UUID: a 16-bit assigned number (e.g. 0x2A35) or a full 128-bit UUID.
///
/// ATT carries either form; the 16-bit form is shorthand for 0000nnnn-0000-1000-8000-00805F9B34FB (nnnn the 16 bits), and the
/// two spellings of the same UUID compare equal.
public struct BluetoothUUID: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes, most significant first.
    public let bytes: [UInt8]

    private static let base: [UInt8] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0x80, 0x5F, 0x9B, 0x34, 0xFB,
    ]

    public init(_ short: UInt16) {
        var bytes = Self.base
        bytes[2] = UInt8(short >> 8)
        bytes[3] = UInt8(short & 0xFF)
        self.bytes = bytes
    }

    /// From 16 bytes most significant first; nil for any other length.
    public init?(bigEndian bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// From ATT's little-endian wire form, 2 or 16 bytes; nil for any other length.
    public init?(attBytes: [UInt8]) {
        switch attBytes.count {
        case 2: self.init(UInt16(attBytes[0]) | UInt16(attBytes[1]) << 8)
        case 16: self.init(bigEndian: attBytes.reversed())
        default: return nil
        }
    }

    /// Parses "2A35", "0x2A35" or "00002a35-0000-1000-8000-00805f9b34fb".
    public init?(parsing text: String) {
        var hex = text.lowercased()
        if hex.hasPrefix("0x") { hex.removeFirst(2) }
        if hex.count == 4, let short = UInt16(hex, radix: 16) {
            self.init(short)
            return
        }
        hex.removeAll { $0 == "-" }
        guard hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bigEndian: bytes)
    }

    /// The 16-bit assigned number when this UUID is on the Bluetooth base UUID.
    public var shortValue: UInt16? {
        guard bytes[0] == 0, bytes[1] == 0, Array(bytes[4...]) == Array(Self.base[4...]) else { return nil }
        return UInt16(bytes[2]) << 8 | UInt16(bytes[3])
    }

    /// ATT's little-endian wire form: 2 bytes for an assigned number, 16 otherwise.
    public var attBytes: [UInt8] {
        if let short = shortValue { return [UInt8(short & 0xFF), UInt8(short >> 8)] }
        return bytes.reversed()
    }

    public var description: String {
        if let short = shortValue { return "0x" + Self.hex(UInt64(short), digits: 4) }
        let hex = bytes.map { Self.hex(UInt64($0), digits: 2) }.joined()
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(
                hex[
                    hex.index(
                        hex.startIndex, offsetBy: range.lowerBound)..<hex.index(
                            hex.startIndex, offsetBy: range.upperBound)])
        }
        return parts.joined(separator: "-")
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}

/// Assigned numbers this gateway uses (Bluetooth Assigned Numbers, "16-bit UUIDs").
extension BluetoothUUID {
    // GATT declarations and descriptors
    public static let primaryService = BluetoothUUID(0x2800)
    public static let secondaryService = BluetoothUUID(0x2801)
    public static let include = BluetoothUUID(0x2802)
    public static let characteristic = BluetoothUUID(0x2803)
    public static let clientCharacteristicConfiguration = BluetoothUUID(0x2902)

    // Services
    public static let genericAccessService = BluetoothUUID(0x1800)
    public static let genericAttributeService = BluetoothUUID(0x1801)
    public static let currentTimeService = BluetoothUUID(0x1805)
    public static let glucoseService = BluetoothUUID(0x1808)
    public static let deviceInformationService = BluetoothUUID(0x180A)
    public static let heartRateService = BluetoothUUID(0x180D)
    public static let batteryService = BluetoothUUID(0x180F)
    public static let bloodPressureService = BluetoothUUID(0x1810)

    // Characteristics
    public static let deviceName = BluetoothUUID(0x2A00)
    /// Generic Attribute's Service Changed: indicated (to a bonded client, right after it reconnects) with the
    /// handle range whose attributes changed.
    public static let serviceChanged = BluetoothUUID(0x2A05)
    /// Generic Attribute's Database Hash: an AES-CMAC over the attribute database's structure; the same value means
    /// a cached discovery still holds.
    public static let databaseHash = BluetoothUUID(0x2B2A)
    public static let localTimeInformation = BluetoothUUID(0x2A0F)
    public static let dateTime = BluetoothUUID(0x2A08)
    public static let glucoseMeasurement = BluetoothUUID(0x2A18)
    public static let batteryLevel = BluetoothUUID(0x2A19)
    public static let systemID = BluetoothUUID(0x2A23)
    public static let modelNumberString = BluetoothUUID(0x2A24)
    public static let serialNumberString = BluetoothUUID(0x2A25)
    public static let firmwareRevisionString = BluetoothUUID(0x2A26)
    public static let hardwareRevisionString = BluetoothUUID(0x2A27)
    public static let softwareRevisionString = BluetoothUUID(0x2A28)
    public static let manufacturerNameString = BluetoothUUID(0x2A29)
    public static let regulatoryCertificationDataList = BluetoothUUID(0x2A2A)
    public static let currentTime = BluetoothUUID(0x2A2B)
    public static let glucoseMeasurementContext = BluetoothUUID(0x2A34)
    public static let bloodPressureMeasurement = BluetoothUUID(0x2A35)
    public static let intermediateCuffPressure = BluetoothUUID(0x2A36)
    public static let heartRateMeasurement = BluetoothUUID(0x2A37)
    public static let bodySensorLocation = BluetoothUUID(0x2A38)
    public static let heartRateControlPoint = BluetoothUUID(0x2A39)
    public static let bloodPressureFeature = BluetoothUUID(0x2A49)
    public static let pnpID = BluetoothUUID(0x2A50)
    public static let glucoseFeature = BluetoothUUID(0x2A51)
    public static let recordAccessControlPoint = BluetoothUUID(0x2A52)
}
