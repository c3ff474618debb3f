import Provenance

/// The Glucose Feature characteristic (0x2A51): which annunciations and abilities the meter supports.
///
/// The gateway reads it once per connection to know which sensor status bits a meter can ever set (a bit the
/// meter cannot detect being clear says nothing) and whether it may be bonded to several collectors.
///
/// One uint16 bitfield: bits 0–10 defined (below); bits 11–15 reserved and refused, as the brief for this
/// module asks, so that a meter speaking a newer feature set is noticed rather than half-understood.
public struct GlucoseFeature: CharacteristicValue, OptionSet, Hashable {
    public static let uuid = BluetoothUUID.glucoseFeature
    public static let name = "Glucose Feature"

    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let lowBatteryDetection = GlucoseFeature(rawValue: 1 << 0)
    public static let sensorMalfunctionDetection = GlucoseFeature(rawValue: 1 << 1)
    public static let sensorSampleSize = GlucoseFeature(rawValue: 1 << 2)
    public static let sensorStripInsertionErrorDetection = GlucoseFeature(rawValue: 1 << 3)
    public static let sensorStripTypeErrorDetection = GlucoseFeature(rawValue: 1 << 4)
    public static let sensorResultHighLowDetection = GlucoseFeature(rawValue: 1 << 5)
    public static let sensorTemperatureHighLowDetection = GlucoseFeature(rawValue: 1 << 6)
    public static let sensorReadInterruptDetection = GlucoseFeature(rawValue: 1 << 7)
    public static let generalDeviceFault = GlucoseFeature(rawValue: 1 << 8)
    public static let timeFault = GlucoseFeature(rawValue: 1 << 9)
    public static let multipleBond = GlucoseFeature(rawValue: 1 << 10)

    /// Bits 0–10; the rest are reserved.
    public static let definedBits: UInt16 = 0x07FF

    /// The defined bits in order with their JSON names.
    public static let named: [(GlucoseFeature, String)] = [
        (.lowBatteryDetection, "low_battery_detection_during_measurement"),
        (.sensorMalfunctionDetection, "sensor_malfunction_detection"),
        (.sensorSampleSize, "sensor_sample_size"),
        (.sensorStripInsertionErrorDetection, "sensor_strip_insertion_error_detection"),
        (.sensorStripTypeErrorDetection, "sensor_strip_type_error_detection"),
        (.sensorResultHighLowDetection, "sensor_result_high_low_detection"),
        (.sensorTemperatureHighLowDetection, "sensor_temperature_high_low_detection"),
        (.sensorReadInterruptDetection, "sensor_read_interrupt_detection"),
        (.generalDeviceFault, "general_device_fault"),
        (.timeFault, "time_fault"),
        (.multipleBond, "multiple_bond"),
    ]

    /// Note: a value built with reserved bits set encodes them, and its bytes are then refused by the decoder.
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let raw = try reader.uint16("glucose_feature")
        try reader.checkReservedBits(
            UInt64(raw), allowed: UInt64(Self.definedBits), field: "glucose_feature", at: 0)
        try reader.finish()
        rawValue = raw
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint16(rawValue)
        return writer.bytes
    }

    /// The sensor status annunciations this meter can raise; a clear status bit outside this set is "cannot
    /// tell", not "fine".
    public var detectableSensorStatus: GlucoseSensorStatus {
        var status: GlucoseSensorStatus = []
        if contains(.lowBatteryDetection) { status.insert(.deviceBatteryLow) }
        if contains(.sensorMalfunctionDetection) { status.insert(.sensorMalfunction) }
        if contains(.sensorSampleSize) { status.insert(.sampleSizeInsufficient) }
        if contains(.sensorStripInsertionErrorDetection) { status.insert(.stripInsertionError) }
        if contains(.sensorStripTypeErrorDetection) { status.insert(.stripTypeIncorrect) }
        if contains(.sensorResultHighLowDetection) {
            status.formUnion([.resultHigherThanDeviceCanProcess, .resultLowerThanDeviceCanProcess])
        }
        if contains(.sensorTemperatureHighLowDetection) { status.formUnion([.temperatureTooHigh, .temperatureTooLow]) }
        if contains(.sensorReadInterruptDetection) { status.insert(.readInterrupted) }
        if contains(.generalDeviceFault) { status.insert(.generalDeviceFault) }
        if contains(.timeFault) { status.insert(.timeFault) }
        return status
    }

    public var json: ExactJSON {
        .members([
            ("glucose_feature", .integer(rawValue)),
            ("supported", .array(Self.named.filter { contains($0.0) }.map { .string($0.1) })),
        ])
    }
}
