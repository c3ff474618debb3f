import Provenance

// Pulse Oximeter Service characteristics, as the GATT Specification Supplement lays them out:
// - PLX Spot-Check Measurement (0x2A5E, indicated): flags (bit 0 Timestamp, 1 Measurement Status, 2 Device and Sensor
//   Status, 3 Pulse Amplitude Index present, 4 Device Clock is Not Set; 5-7 reserved), SpO2 and PR (SFLOAT), then the
//   flagged fields in that order (Date Time, uint16, uint24, SFLOAT).
// - PLX Continuous Measurement (0x2A5F, notified): flags (bit 0 SpO2PR-Fast, 1 SpO2PR-Slow, 2 Measurement Status,
//   3 Device and Sensor Status, 4 Pulse Amplitude Index present; 5-7 reserved), SpO2PR-Normal, then the flagged fields.
// - PLX Features (0x2A60, read): Supported Features (uint16, bits 0-7; 8-15 reserved), then Measurement Status Support
//   (uint16) when bit 0 is set and Device and Sensor Status Support (uint24) when bit 1 is set.
// Measurement Status bits 5-15 are defined (0-4 reserved); Device and Sensor Status bits 0-15 (16-23 reserved).

extension BluetoothUUID {
    public static let pulseOximeterService = BluetoothUUID(0x1822)
    public static let plxSpotCheckMeasurement = BluetoothUUID(0x2A5E)
    public static let plxContinuousMeasurement = BluetoothUUID(0x2A5F)
    public static let plxFeatures = BluetoothUUID(0x2A60)
}

/// PLX Measurement Status (uint16): what kind of data a measurement is. Reserved bits 0-4 are kept as sent.
public struct PLXMeasurementStatus: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let measurementOngoing = PLXMeasurementStatus(rawValue: 1 << 5)
    public static let earlyEstimatedData = PLXMeasurementStatus(rawValue: 1 << 6)
    public static let validatedData = PLXMeasurementStatus(rawValue: 1 << 7)
    public static let fullyQualifiedData = PLXMeasurementStatus(rawValue: 1 << 8)
    public static let dataFromMeasurementStorage = PLXMeasurementStatus(rawValue: 1 << 9)
    public static let dataForDemonstration = PLXMeasurementStatus(rawValue: 1 << 10)
    public static let dataForTesting = PLXMeasurementStatus(rawValue: 1 << 11)
    public static let calibrationOngoing = PLXMeasurementStatus(rawValue: 1 << 12)
    public static let measurementUnavailable = PLXMeasurementStatus(rawValue: 1 << 13)
    public static let questionableMeasurementDetected = PLXMeasurementStatus(rawValue: 1 << 14)
    public static let invalidMeasurementDetected = PLXMeasurementStatus(rawValue: 1 << 15)

    static let definedBits: UInt16 = 0xFFE0

    /// The set bits by their snake_case names, in bit order.
    public static let named: [(PLXMeasurementStatus, String)] = [
        (.measurementOngoing, "measurement_ongoing"), (.earlyEstimatedData, "early_estimated_data"),
        (.validatedData, "validated_data"), (.fullyQualifiedData, "fully_qualified_data"),
        (.dataFromMeasurementStorage, "data_from_measurement_storage"),
        (.dataForDemonstration, "data_for_demonstration"),
        (.dataForTesting, "data_for_testing"), (.calibrationOngoing, "calibration_ongoing"),
        (.measurementUnavailable, "measurement_unavailable"),
        (.questionableMeasurementDetected, "questionable_measurement_detected"),
        (.invalidMeasurementDetected, "invalid_measurement_detected"),
    ]

    public var names: [String] { Self.named.filter { contains($0.0) }.map(\.1) }
    public var reservedBits: UInt16 { rawValue & ~Self.definedBits }

    var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("raw", .integer(rawValue)), ("set", .array(names.map(ExactJSON.string))),
        ]
        if reservedBits != 0 { members.append(("reserved_bits", .integer(reservedBits))) }
        return .members(members)
    }
}

/// PLX Device and Sensor Status (uint24): what the device and its sensor noticed. Reserved bits 16-23 are kept.
public struct PLXDeviceAndSensorStatus: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue & 0xFF_FFFF }

    public static let extendedDisplayUpdateOngoing = PLXDeviceAndSensorStatus(rawValue: 1 << 0)
    public static let equipmentMalfunctionDetected = PLXDeviceAndSensorStatus(rawValue: 1 << 1)
    public static let signalProcessingIrregularityDetected = PLXDeviceAndSensorStatus(rawValue: 1 << 2)
    public static let inadequateSignalDetected = PLXDeviceAndSensorStatus(rawValue: 1 << 3)
    public static let poorSignalDetected = PLXDeviceAndSensorStatus(rawValue: 1 << 4)
    public static let lowPerfusionDetected = PLXDeviceAndSensorStatus(rawValue: 1 << 5)
    public static let erraticSignalDetected = PLXDeviceAndSensorStatus(rawValue: 1 << 6)
    public static let nonpulsatileSignalDetected = PLXDeviceAndSensorStatus(rawValue: 1 << 7)
    public static let questionablePulseDetected = PLXDeviceAndSensorStatus(rawValue: 1 << 8)
    public static let signalAnalysisOngoing = PLXDeviceAndSensorStatus(rawValue: 1 << 9)
    public static let sensorInterferenceDetected = PLXDeviceAndSensorStatus(rawValue: 1 << 10)
    public static let sensorUnconnectedToUser = PLXDeviceAndSensorStatus(rawValue: 1 << 11)
    public static let unknownSensorConnected = PLXDeviceAndSensorStatus(rawValue: 1 << 12)
    public static let sensorDisplaced = PLXDeviceAndSensorStatus(rawValue: 1 << 13)
    public static let sensorMalfunctioning = PLXDeviceAndSensorStatus(rawValue: 1 << 14)
    public static let sensorDisconnected = PLXDeviceAndSensorStatus(rawValue: 1 << 15)

    static let definedBits: UInt32 = 0xFFFF

    public static let named: [(PLXDeviceAndSensorStatus, String)] = [
        (.extendedDisplayUpdateOngoing, "extended_display_update_ongoing"),
        (.equipmentMalfunctionDetected, "equipment_malfunction_detected"),
        (.signalProcessingIrregularityDetected, "signal_processing_irregularity_detected"),
        (.inadequateSignalDetected, "inadequate_signal_detected"), (.poorSignalDetected, "poor_signal_detected"),
        (.lowPerfusionDetected, "low_perfusion_detected"), (.erraticSignalDetected, "erratic_signal_detected"),
        (.nonpulsatileSignalDetected, "nonpulsatile_signal_detected"),
        (.questionablePulseDetected, "questionable_pulse_detected"),
        (.signalAnalysisOngoing, "signal_analysis_ongoing"),
        (.sensorInterferenceDetected, "sensor_interference_detected"),
        (.sensorUnconnectedToUser, "sensor_unconnected_to_user"), (.unknownSensorConnected, "unknown_sensor_connected"),
        (.sensorDisplaced, "sensor_displaced"), (.sensorMalfunctioning, "sensor_malfunctioning"),
        (.sensorDisconnected, "sensor_disconnected"),
    ]

    public var names: [String] { Self.named.filter { contains($0.0) }.map(\.1) }
    public var reservedBits: UInt32 { rawValue & ~Self.definedBits }

    var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("raw", .integer(rawValue)), ("set", .array(names.map(ExactJSON.string))),
        ]
        if reservedBits != 0 { members.append(("reserved_bits", .integer(reservedBits))) }
        return .members(members)
    }
}

/// One SpO2 and pulse-rate pair (SpO2PR): percent saturation and beats per minute, each an SFLOAT.
public struct SpO2PR: Hashable, Sendable {
    public var spO2: MedicalFloat
    public var pulseRate: MedicalFloat

    public init(spO2: MedicalFloat, pulseRate: MedicalFloat) {
        self.spO2 = spO2
        self.pulseRate = pulseRate
    }

    init(reading reader: inout PayloadReader, _ prefix: String) throws(CharacteristicDecodeError) {
        spO2 = try reader.sfloat(prefix + ".spo2")
        pulseRate = try reader.sfloat(prefix + ".pr")
    }

    func write(to writer: inout PayloadWriter) {
        writer.sfloat(spO2)
        writer.sfloat(pulseRate)
    }

    var json: ExactJSON { .members([("spo2", spO2.json), ("pr", pulseRate.json)]) }
}

extension PayloadReader {
    mutating func plxMeasurementStatus(_ field: String) throws(CharacteristicDecodeError) -> PLXMeasurementStatus {
        PLXMeasurementStatus(rawValue: try uint16(field))
    }

    mutating func plxDeviceAndSensorStatus(_ field: String) throws(CharacteristicDecodeError)
        -> PLXDeviceAndSensorStatus
    {
        PLXDeviceAndSensorStatus(rawValue: try uint24(field))
    }
}

/// PLX Spot-Check Measurement (0x2A5E): one finished SpO2 and pulse-rate measurement, indicated; stored ones are
/// reported through the RACP and carry "data from measurement storage".
public struct PLXSpotCheckMeasurement: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.plxSpotCheckMeasurement
    public static let name = "PLX Spot-Check Measurement"
    static let knownFlags: UInt8 = 0x1F

    public var value: SpO2PR
    /// The device's wall clock; out-of-range components are kept as sent (the time rules refuse such a stamp).
    public var timeStamp: DateTime?
    public var measurementStatus: PLXMeasurementStatus?
    public var deviceAndSensorStatus: PLXDeviceAndSensorStatus?
    /// Pulse amplitude index, percent.
    public var pulseAmplitudeIndex: MedicalFloat?
    /// The device says its clock was never set (flags bit 4): the time stamp is not a date and time to trust.
    public var deviceClockNotSet: Bool
    public var reservedFlags: UInt8 = 0

    public init(
        value: SpO2PR, timeStamp: DateTime? = nil, measurementStatus: PLXMeasurementStatus? = nil,
        deviceAndSensorStatus: PLXDeviceAndSensorStatus? = nil, pulseAmplitudeIndex: MedicalFloat? = nil,
        deviceClockNotSet: Bool = false
    ) {
        (self.value, self.timeStamp, self.measurementStatus) = (value, timeStamp, measurementStatus)
        (self.deviceAndSensorStatus, self.pulseAmplitudeIndex, self.deviceClockNotSet) =
            (deviceAndSensorStatus, pulseAmplitudeIndex, deviceClockNotSet)
    }

    /// Reserved flag bits are kept; with one set, octets after the known fields (a newer device's field) are ignored.
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let flags = try reader.uint8("flags")
        reservedFlags = flags & ~Self.knownFlags
        value = try SpO2PR(reading: &reader, "spo2pr_spot_check")
        timeStamp = try flags & 0x01 != 0 ? DateTime(reading: &reader, field: "timestamp", reservedValues: .keep) : nil
        measurementStatus = try flags & 0x02 != 0 ? reader.plxMeasurementStatus("measurement_status") : nil
        deviceAndSensorStatus =
            try flags & 0x04 != 0 ? reader.plxDeviceAndSensorStatus("device_and_sensor_status") : nil
        pulseAmplitudeIndex = try flags & 0x08 != 0 ? reader.sfloat("pulse_amplitude_index") : nil
        deviceClockNotSet = flags & 0x10 != 0
        if reservedFlags == 0 { try reader.finish() }
    }

    public var flags: UInt8 {
        var flags = reservedFlags
        if timeStamp != nil { flags |= 0x01 }
        if measurementStatus != nil { flags |= 0x02 }
        if deviceAndSensorStatus != nil { flags |= 0x04 }
        if pulseAmplitudeIndex != nil { flags |= 0x08 }
        if deviceClockNotSet { flags |= 0x10 }
        return flags
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(flags)
        value.write(to: &writer)
        timeStamp?.write(to: &writer)
        if let measurementStatus { writer.uint16(measurementStatus.rawValue) }
        if let deviceAndSensorStatus { writer.uint24(deviceAndSensorStatus.rawValue) }
        if let pulseAmplitudeIndex { writer.sfloat(pulseAmplitudeIndex) }
        return writer.bytes
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [("spo2pr_spot_check", value.json)]
        if let timeStamp { members.append(("timestamp", timeStamp.json)) }
        if let measurementStatus { members.append(("measurement_status", measurementStatus.json)) }
        if let deviceAndSensorStatus { members.append(("device_and_sensor_status", deviceAndSensorStatus.json)) }
        if let pulseAmplitudeIndex { members.append(("pulse_amplitude_index", pulseAmplitudeIndex.json)) }
        members.append(("device_clock_not_set", .bool(deviceClockNotSet)))
        if reservedFlags != 0 { members.append(("reserved_flags", .integer(reservedFlags))) }
        return .members(members)
    }
}

/// PLX Continuous Measurement (0x2A5F): SpO2 and pulse rate as the oximeter tracks them, notified about once a
/// second; the normal averaging always, fast and slow averaging when flagged.
public struct PLXContinuousMeasurement: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.plxContinuousMeasurement
    public static let name = "PLX Continuous Measurement"
    static let knownFlags: UInt8 = 0x1F

    public var normal: SpO2PR
    public var fast: SpO2PR?
    public var slow: SpO2PR?
    public var measurementStatus: PLXMeasurementStatus?
    public var deviceAndSensorStatus: PLXDeviceAndSensorStatus?
    public var pulseAmplitudeIndex: MedicalFloat?
    public var reservedFlags: UInt8 = 0

    public init(
        normal: SpO2PR, fast: SpO2PR? = nil, slow: SpO2PR? = nil, measurementStatus: PLXMeasurementStatus? = nil,
        deviceAndSensorStatus: PLXDeviceAndSensorStatus? = nil, pulseAmplitudeIndex: MedicalFloat? = nil
    ) {
        (self.normal, self.fast, self.slow, self.measurementStatus) = (normal, fast, slow, measurementStatus)
        (self.deviceAndSensorStatus, self.pulseAmplitudeIndex) = (deviceAndSensorStatus, pulseAmplitudeIndex)
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let flags = try reader.uint8("flags")
        reservedFlags = flags & ~Self.knownFlags
        normal = try SpO2PR(reading: &reader, "spo2pr_normal")
        fast = try flags & 0x01 != 0 ? SpO2PR(reading: &reader, "spo2pr_fast") : nil
        slow = try flags & 0x02 != 0 ? SpO2PR(reading: &reader, "spo2pr_slow") : nil
        measurementStatus = try flags & 0x04 != 0 ? reader.plxMeasurementStatus("measurement_status") : nil
        deviceAndSensorStatus =
            try flags & 0x08 != 0 ? reader.plxDeviceAndSensorStatus("device_and_sensor_status") : nil
        pulseAmplitudeIndex = try flags & 0x10 != 0 ? reader.sfloat("pulse_amplitude_index") : nil
        if reservedFlags == 0 { try reader.finish() }
    }

    public var flags: UInt8 {
        var flags = reservedFlags
        if fast != nil { flags |= 0x01 }
        if slow != nil { flags |= 0x02 }
        if measurementStatus != nil { flags |= 0x04 }
        if deviceAndSensorStatus != nil { flags |= 0x08 }
        if pulseAmplitudeIndex != nil { flags |= 0x10 }
        return flags
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(flags)
        normal.write(to: &writer)
        fast?.write(to: &writer)
        slow?.write(to: &writer)
        if let measurementStatus { writer.uint16(measurementStatus.rawValue) }
        if let deviceAndSensorStatus { writer.uint24(deviceAndSensorStatus.rawValue) }
        if let pulseAmplitudeIndex { writer.sfloat(pulseAmplitudeIndex) }
        return writer.bytes
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [("spo2pr_normal", normal.json)]
        if let fast { members.append(("spo2pr_fast", fast.json)) }
        if let slow { members.append(("spo2pr_slow", slow.json)) }
        if let measurementStatus { members.append(("measurement_status", measurementStatus.json)) }
        if let deviceAndSensorStatus { members.append(("device_and_sensor_status", deviceAndSensorStatus.json)) }
        if let pulseAmplitudeIndex { members.append(("pulse_amplitude_index", pulseAmplitudeIndex.json)) }
        if reservedFlags != 0 { members.append(("reserved_flags", .integer(reservedFlags))) }
        return .members(members)
    }
}

/// PLX Features (0x2A60): what the oximeter supports, and which status bits it can set. Reserved feature bits are kept
/// (they announce no field).
public struct PLXFeatures: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.plxFeatures
    public static let name = "PLX Features"

    public struct Supported: OptionSet, Hashable, Sendable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let measurementStatus = Supported(rawValue: 1 << 0)
        public static let deviceAndSensorStatus = Supported(rawValue: 1 << 1)
        public static let spotCheckStorage = Supported(rawValue: 1 << 2)
        public static let spotCheckTimestamp = Supported(rawValue: 1 << 3)
        public static let fastMetric = Supported(rawValue: 1 << 4)
        public static let slowMetric = Supported(rawValue: 1 << 5)
        public static let pulseAmplitudeIndex = Supported(rawValue: 1 << 6)
        public static let multipleBonds = Supported(rawValue: 1 << 7)

        static let named: [(Supported, String)] = [
            (.measurementStatus, "measurement_status"), (.deviceAndSensorStatus, "device_and_sensor_status"),
            (.spotCheckStorage, "spot_check_measurement_storage"), (.spotCheckTimestamp, "spot_check_timestamp"),
            (.fastMetric, "spo2pr_fast"), (.slowMetric, "spo2pr_slow"), (.pulseAmplitudeIndex, "pulse_amplitude_index"),
            (.multipleBonds, "multiple_bonds"),
        ]
    }

    public var supported: Supported
    /// Present when `supported` has `.measurementStatus` (the bits the device can set).
    public var measurementStatusSupport: PLXMeasurementStatus?
    /// Present when `supported` has `.deviceAndSensorStatus`.
    public var deviceAndSensorStatusSupport: PLXDeviceAndSensorStatus?

    public init(
        supported: Supported, measurementStatusSupport: PLXMeasurementStatus? = nil,
        deviceAndSensorStatusSupport: PLXDeviceAndSensorStatus? = nil
    ) {
        var supported = supported
        if measurementStatusSupport != nil {
            supported.insert(.measurementStatus)
        } else {
            supported.remove(.measurementStatus)
        }
        if deviceAndSensorStatusSupport != nil {
            supported.insert(.deviceAndSensorStatus)
        } else {
            supported.remove(.deviceAndSensorStatus)
        }
        (self.supported, self.measurementStatusSupport, self.deviceAndSensorStatusSupport) =
            (supported, measurementStatusSupport, deviceAndSensorStatusSupport)
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        supported = Supported(rawValue: try reader.uint16("supported_features"))
        measurementStatusSupport =
            try supported.contains(.measurementStatus) ? reader.plxMeasurementStatus("measurement_status_support") : nil
        deviceAndSensorStatusSupport =
            try supported.contains(.deviceAndSensorStatus)
            ? reader.plxDeviceAndSensorStatus("device_and_sensor_status_support") : nil
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint16(supported.rawValue)
        if let measurementStatusSupport { writer.uint16(measurementStatusSupport.rawValue) }
        if let deviceAndSensorStatusSupport { writer.uint24(deviceAndSensorStatusSupport.rawValue) }
        return writer.bytes
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("supported_features", .array(Supported.named.filter { supported.contains($0.0) }.map { .string($0.1) }))
        ]
        let reserved = supported.rawValue & 0xFF00
        if reserved != 0 { members.append(("reserved_feature_bits", .integer(reserved))) }
        if let measurementStatusSupport {
            members.append(("measurement_status_support", measurementStatusSupport.json))
        }
        if let deviceAndSensorStatusSupport {
            members.append(("device_and_sensor_status_support", deviceAndSensorStatusSupport.json))
        }
        return .members(members)
    }
}
