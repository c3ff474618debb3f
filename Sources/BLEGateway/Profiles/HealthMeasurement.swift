import Foundation
import Provenance

/// A typed, exact measurement as one health profile delivers it. Each profile's measurement says how it is shown and
/// which readings it gives, so nothing outside the profile's folder switches on what kind of measurement it is.
public protocol HealthMeasurement: Hashable, Sendable {
    /// For `gatewayd connect`: one object keyed by the characteristic's snake_case name.
    var measurementJSON: ExactJSON { get }
    /// One line a person can read ("120.5/80 mmHg (MAP 93.5), pulse 64, …"); values exact, special values by name.
    var summary: String { get }
    /// The readings it gives: none for progress values (Intermediate Cuff Pressure, Intermediate Temperature).
    func readings(_ mapping: ReadingMapping) -> [Reading]
    /// Progress while measuring (a cuff inflating, a thermometer settling), not a result: a connection's report does
    /// not count it as a reading received.
    var isIntermediate: Bool { get }
}

extension HealthMeasurement {
    public var isIntermediate: Bool { false }
}

/// A measurement of any profile. Equal when the same profile's values are equal.
public struct Measurement: Hashable, Sendable {
    public let value: any HealthMeasurement

    public init(_ value: any HealthMeasurement) { self.value = value }

    public var json: ExactJSON { value.measurementJSON }
    public var summary: String { value.summary }

    public static func == (lhs: Measurement, rhs: Measurement) -> Bool {
        AnyHashable(lhs.value) == AnyHashable(rhs.value)
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(AnyHashable(value)) }

    /// The measurement as the profile's own type, when it is one.
    public func `as`<Value: HealthMeasurement>(_ type: Value.Type) -> Value? { value as? Value }
}

/// What mapping one received measurement onto `Reading`s needs: the connection's device and clock comparisons, the
/// characteristic values the profile read once per connection (a strap's Body Sensor Location, a thermometer's
/// Temperature Type), and the gateway's options. A profile fills `context` and `flags`, then calls `reading`.
public struct ReadingMapping: Sendable {
    public let received: ReceivedMeasurement
    public let device: DeviceRecord
    public let options: ReadingMapperOptions
    public let clocks: [ClockComparison]
    public let connectionValues: [any CharacteristicValue]
    /// The reading's context so far: the setting; a profile adds what it knows.
    public var context: MeasurementContext
    /// The reading's flags so far (test data); a profile adds its status bits.
    public var flags: ReadingFlags

    public init(
        received: ReceivedMeasurement, device: DeviceRecord, options: ReadingMapperOptions, clocks: [ClockComparison],
        connectionValues: [any CharacteristicValue]
    ) {
        (self.received, self.device, self.options, self.clocks, self.connectionValues) =
            (received, device, options, clocks, connectionValues)
        context = MeasurementContext()
        context.setting = options.setting
        flags = options.testData ? [.testData] : []
    }

    /// The connection's value of type `Value`, when the profile read one.
    public func connectionValue<Value: CharacteristicValue>(_ type: Value.Type) -> Value? {
        connectionValues.lazy.compactMap { $0 as? Value }.last
    }

    /// The reading's time provenance under the gateway's rules, from the device's stamp (nil: none) and an offset in
    /// minutes added to it (a glucose record's Time Offset).
    public func time(deviceTime: DateTime?, offsetMinutes: Int? = nil) -> TimeProvenance {
        options.decideTime(
            deviceTime, offsetMinutes, ReadingMapper.micros(received.receivedAt), clocks)
    }

    /// One reading of `kind` with the mapping's context and flags; a component without a number marks it value-absent,
    /// and the time decision marks it refused or corrected.
    public func reading(
        _ kind: ReadingKind, _ components: [ReadingComponent], time: TimeProvenance, sequence: UInt16? = nil
    ) -> Reading {
        var flags = flags
        if components.contains(where: { if case .absent = $0.value { true } else { false } }) {
            flags.insert(.valueAbsent)
        }
        switch time.decision {
        case .refused: flags.insert(.timeRefused)
        case .mapped: flags.insert(.timeCorrected)
        default: break
        }
        return Reading(
            kind: kind, components: components, subject: nil, device: device, gateway: options.gateway,
            context: context,
            time: time, flags: flags, characteristic: received.characteristic.description,
            rawPayloads: received.rawPayloads,
            sequenceNumber: sequence)
    }

    /// An IEEE-11073 SFLOAT or FLOAT as an exact reading value, or the reason there is none.
    public static func value(_ float: MedicalFloat) -> ReadingValue { ReadingMapper.value(float) }
}
