import Foundation
import Provenance

/// How measurements become `Reading`s: who the gateway is, the setting, and the time-decision rules.
public struct ReadingMapperOptions: Sendable {
    public var gateway: GatewayRecord
    public var setting: String
    /// Turns the device's timestamp and the latest clock comparison into the reading's time provenance
    /// (the Provenance module's `TimeDecisionRules`, with the subject's policy).
    /// Every clock comparison of the connection is passed, so a record stamped before the gateway set the clock is
    /// judged against the comparison made before the set.
    public var decideTime:
        @Sendable (
            _ deviceTime: DeviceWallClock?, _ offsetMinutes: Int?, _ receivedMicros: Int64, _ clocks: [ClockComparison]
        ) -> TimeProvenance
    /// Readings from simulated devices are test data (FHIR `meta.security` HTEST), never a person's.
    public var testData: Bool

    public init(
        gateway: GatewayRecord, setting: String = "home", testData: Bool = false,
        decideTime: @escaping @Sendable (DeviceWallClock?, Int?, Int64, [ClockComparison]) -> TimeProvenance
    ) {
        self.gateway = gateway
        self.setting = setting
        self.testData = testData
        self.decideTime = decideTime
    }
}

/// Maps what a profile session decoded onto the Provenance reading model, keeping every value exact and
/// every status bit as a flag.
public enum ReadingMapper {
    public static func deviceRecord(_ identity: DeviceIdentity) -> DeviceRecord {
        var record = DeviceRecord(link: identity.link)
        record.systemID = identity.systemID?.eui64Text
        if identity.link.hasPrefix("l2cap:") { record.address = String(identity.link.dropFirst(6)) }
        record.manufacturer = identity.manufacturerName
        record.model = identity.modelNumber
        record.serialNumber = identity.serialNumber
        record.hardwareRevision = identity.hardwareRevision
        record.firmwareRevision = identity.firmwareRevision
        record.softwareRevision = identity.softwareRevision
        if let regulatory = identity.regulatoryCertification {
            record.regulatoryCertificationHex = HexBytes.text(regulatory.encoded())
            record.unregulated = regulatory.continuaRegulation?.unregulatedDevice
        }
        return record
    }

    public static func clockComparison(_ observation: ClockObservation) -> ClockComparison {
        ClockComparison(
            deviceTime: observation.deviceTime.dateTime,
            deviceUTCOffsetMinutes: observation.localTime?.utcOffsetMinutes,
            gatewayMicros: micros(observation.gatewayTime),
            roundTripMicros: Int64(observation.roundTrip.seconds * 1_000_000),
            afterSet: observation.kind == .afterSet)
    }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    static func value(_ float: MedicalFloat) -> ReadingValue {
        switch float {
        case .number(let mantissa, let exponent):
            .quantity(DecimalQuantity(mantissa: Int64(mantissa), exponent: exponent))
        case .nan: .absent(.notANumber)
        case .nres: .absent(.notAtThisResolution)
        case .positiveInfinity: .absent(.positiveInfinity)
        case .negativeInfinity: .absent(.negativeInfinity)
        case .reserved: .absent(.reserved)
        }
    }

    /// The readings one measurement carries, as its profile maps them (`HealthMeasurement.readings`).
    /// `connectionValues`: what the profile read once per connection (Body Sensor Location, a Feature).
    /// `device`: `deviceRecord(identity)` when the caller has it (a connection's readings then share its strings).
    public static func readings(
        from received: ReceivedMeasurement, identity: DeviceIdentity, clocks: [ClockObservation],
        options: ReadingMapperOptions,
        connectionValues: [any CharacteristicValue] = [], device: DeviceRecord? = nil
    ) -> [Reading] {
        let mapping = ReadingMapping(
            received: received, device: device ?? deviceRecord(identity), options: options,
            clocks: clocks.map(clockComparison),
            connectionValues: connectionValues)
        return received.measurement.value.readings(mapping)
    }
}
