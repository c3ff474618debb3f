import Provenance

// Health Thermometer Service characteristics, as the GATT Specification Supplement lays them out: Temperature
// Measurement (0x2A1C, indicated) and Intermediate Temperature (0x2A1E, notified) share one layout — flags (bit 0
// units °C/°F, bit 1 Time Stamp present, bit 2 Temperature Type present, bits 3-7 reserved), the value as an
// IEEE-11073 32-bit FLOAT, then the Date Time and the type when flagged; Temperature Type (0x2A1D) is one octet
// (1 armpit … 9 tympanum; 0 and 10-255 reserved); Measurement Interval (0x2A21) is a uint16 of seconds, 0 = none.

extension BluetoothUUID {
    public static let healthThermometerService = BluetoothUUID(0x1809)
    public static let temperatureMeasurement = BluetoothUUID(0x2A1C)
    public static let temperatureType = BluetoothUUID(0x2A1D)
    public static let intermediateTemperature = BluetoothUUID(0x2A1E)
    public static let measurementInterval = BluetoothUUID(0x2A21)
}

/// The unit a thermometer reports in (flags bit 0).
public enum TemperatureUnit: Hashable, Sendable {
    case celsius
    case fahrenheit

    /// UCUM: "Cel", "[degF]".
    public var ucum: String { self == .celsius ? "Cel" : "[degF]" }
    public var displayName: String { self == .celsius ? "°C" : "°F" }
}

/// Where on the body the temperature was taken (Temperature Type). A reserved value is kept as sent, with no site:
/// the measurement stays, only where it was taken is unknown.
public struct TemperatureSite: Hashable, Sendable, CustomStringConvertible {
    public var raw: UInt8

    public init(raw: UInt8) { self.raw = raw }

    public static let armpit = TemperatureSite(raw: 1)
    public static let body = TemperatureSite(raw: 2)
    public static let ear = TemperatureSite(raw: 3)
    public static let finger = TemperatureSite(raw: 4)
    public static let gastrointestinalTract = TemperatureSite(raw: 5)
    public static let mouth = TemperatureSite(raw: 6)
    public static let rectum = TemperatureSite(raw: 7)
    public static let toe = TemperatureSite(raw: 8)
    public static let tympanum = TemperatureSite(raw: 9)

    private static let names = [
        1: "Armpit", 2: "Body (general)", 3: "Ear (usually earlobe)", 4: "Finger", 5: "Gastro-intestinal Tract",
        6: "Mouth",
        7: "Rectum", 8: "Toe", 9: "Tympanum (ear drum)",
    ]
    private static let keys = [
        1: "armpit", 2: "body", 3: "ear_lobe", 4: "finger", 5: "gastrointestinal_tract", 6: "mouth", 7: "rectum",
        8: "toe",
        9: "tympanum",
    ]

    public var isReserved: Bool { Self.names[Int(raw)] == nil }
    /// The specification's name, or "reserved (12)".
    public var description: String { Self.names[Int(raw)] ?? "reserved (\(raw))" }
    /// The body site as readings name it ("armpit", "ear_lobe"); nil for "body (general)" and reserved values.
    public var siteKey: String? { raw == 2 ? nil : Self.keys[Int(raw)] }

    var json: ExactJSON { isReserved ? .members([("reserved", .integer(raw))]) : .string(description) }
}

/// The fields Temperature Measurement and Intermediate Temperature share.
public struct TemperatureRecord: Hashable, Sendable {
    /// Flag bits 0-2; bits 3-7 are reserved: ignored and kept as sent. With one set, octets after the known fields are
    /// ignored (a field a newer device may add).
    static let knownFlags: UInt8 = 0x07

    public var unit: TemperatureUnit
    /// Exact, or a special value (NaN, NRes, ±INFINITY) that is never a number.
    public var value: MedicalFloat
    /// The device's wall clock; out-of-range components are kept as sent (the time rules refuse such a stamp).
    public var timeStamp: DateTime?
    public var site: TemperatureSite?
    public var reservedFlags: UInt8 = 0

    public init(
        unit: TemperatureUnit = .celsius, value: MedicalFloat, timeStamp: DateTime? = nil, site: TemperatureSite? = nil
    ) {
        (self.unit, self.value, self.timeStamp, self.site) = (unit, value, timeStamp, site)
    }

    init(decoding bytes: [UInt8], characteristic: String, valueField: String) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: characteristic)
        let flags = try reader.uint8("flags")
        reservedFlags = flags & ~Self.knownFlags
        unit = flags & 0x01 == 0 ? .celsius : .fahrenheit
        value = try reader.float(valueField)
        timeStamp = try flags & 0x02 != 0 ? DateTime(reading: &reader, field: "time_stamp", reservedValues: .keep) : nil
        site = try flags & 0x04 != 0 ? TemperatureSite(raw: reader.uint8("temperature_type")) : nil
        if reservedFlags == 0 { try reader.finish() }
    }

    /// The flags byte the present fields imply.
    public var flags: UInt8 {
        var flags = (unit == .fahrenheit ? 0x01 : 0) | reservedFlags
        if timeStamp != nil { flags |= 0x02 }
        if site != nil { flags |= 0x04 }
        return flags
    }

    func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(flags)
        writer.float(value)
        timeStamp?.write(to: &writer)
        if let site { writer.uint8(site.raw) }
        return writer.bytes
    }

    func json(valueField: String) -> ExactJSON {
        var members: [(String, ExactJSON)] = [("units", .string(unit.displayName)), (valueField, value.json)]
        if let timeStamp { members.append(("time_stamp", timeStamp.json)) }
        if let site { members.append(("temperature_type", site.json)) }
        if reservedFlags != 0 { members.append(("reserved_flags", .integer(reservedFlags))) }
        return .members(members)
    }

    /// "36.8 °C (Mouth), at 2026-12-07T07:10:00 on the device clock".
    var summary: String {
        var text = "\(value) \(unit.displayName)"
        if let site { text += " (\(site))" }
        if let timeStamp { text += ", at \(timeStamp) on the device clock" }
        return text
    }
}

/// A characteristic whose value is one `TemperatureRecord`: the decoder, encoder and JSON both Temperature Measurement
/// and Intermediate Temperature use.
public protocol TemperatureRecordCharacteristic: CharacteristicValue, Hashable {
    var record: TemperatureRecord { get }
    init(record: TemperatureRecord)
}

extension TemperatureRecordCharacteristic {
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        self.init(
            record: try TemperatureRecord(
                decoding: bytes, characteristic: Self.name, valueField: "temperature_measurement_value"))
    }

    public func encoded() -> [UInt8] { record.encoded() }
    public var json: ExactJSON { record.json(valueField: "temperature_measurement_value") }
}

/// Temperature Measurement (0x2A1C): a finished measurement, indicated; the thermometer keeps it until confirmed.
public struct TemperatureMeasurement: TemperatureRecordCharacteristic {
    public static let uuid = BluetoothUUID.temperatureMeasurement
    public static let name = "Temperature Measurement"
    public var record: TemperatureRecord
    public init(record: TemperatureRecord) { self.record = record }
}

/// Intermediate Temperature (0x2A1E): values while the thermometer settles, notified; not a result.
public struct IntermediateTemperature: TemperatureRecordCharacteristic {
    public static let uuid = BluetoothUUID.intermediateTemperature
    public static let name = "Intermediate Temperature"
    public var record: TemperatureRecord
    public init(record: TemperatureRecord) { self.record = record }
}

/// Temperature Type (0x2A1D): where the thermometer measures, for a device whose measurements do not carry it.
public struct TemperatureType: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.temperatureType
    public static let name = "Temperature Type"

    public var site: TemperatureSite

    public init(site: TemperatureSite) { self.site = site }

    /// A reserved value is kept (the site unknown), not refused: the measurements that follow stay usable.
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        site = TemperatureSite(raw: try reader.uint8("temperature_type"))
        try reader.finish()
    }

    public func encoded() -> [UInt8] { [site.raw] }
    public var json: ExactJSON { .members([("temperature_type", site.json)]) }
}

/// Measurement Interval (0x2A21): seconds between periodic measurements; 0 means the thermometer measures only when
/// asked (a spot-check thermometer).
public struct MeasurementInterval: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.measurementInterval
    public static let name = "Measurement Interval"

    public var seconds: UInt16

    public init(seconds: UInt16) { self.seconds = seconds }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        seconds = try reader.uint16("measurement_interval")
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint16(seconds)
        return writer.bytes
    }

    public var json: ExactJSON {
        .members([("measurement_interval", seconds == 0 ? .string("no periodic measurement") : .integer(seconds))])
    }
}
