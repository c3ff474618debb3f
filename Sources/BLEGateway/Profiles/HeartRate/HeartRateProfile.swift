import Foundation
import Provenance

extension HealthProfile {
    /// Heart Rate (0x180D): a strap notifies while worn; nothing is stored on it, nothing acknowledged.
    public static let heartRate = HealthProfile(
        id: "heart_rate", serviceName: "Heart Rate", service: .heartRateService, deviceName: "heart-rate sensor",
        appearanceCategories: [0x00D],
        characteristics: [HeartRateMeasurement.self, BodySensorLocation.self, HeartRateControlPoint.self],
        session: { client, _, options in HeartRateSession(client: client, options: options).run() },
        notificationCadence: .seconds(1),
        simulator: SimulatorRecipe(
            shortName: "hr", model: "HR-5", systemIDBase: 0x01_0200, recordSpacing: 0, streams: true
        ) { settings in
            var configuration = SimulatedHeartRateStrap.Configuration()
            if let identity = settings.identity { configuration.identity = identity }
            configuration.interval = settings.interval
            configuration.count = settings.count
            configuration.seed = settings.seed
            configuration.faults = settings.faults
            return SimulatedHeartRateStrap(configuration: configuration)
        })
}

extension SimulatedHeartRateStrap: SimulatedHealthDevice {
    /// A strap measures while it is worn and connected; it keeps nothing to download.
    public func measure(count: Int, users: [UInt8], seed: UInt64, end: Date?, spacing: TimeInterval) async {}
}

extension HeartRateMeasurement: HealthMeasurement {
    public var measurementJSON: ExactJSON { .members([("heart_rate_measurement", json)]) }

    public var summary: String {
        var text = "heart rate \(heartRate.intValue) bpm, contact \(sensorContact)"
        if let rr = rrIntervals, !rr.isEmpty { text += ", RR " + rr.map { $0.seconds + " s" }.joined(separator: " ") }
        if let energyExpended { text += ", \(energyExpended) kJ" }
        return text
    }

    /// The rate with its RR intervals (exact: ticks/1024 s) and the energy counted; where the strap is worn comes
    /// from the connection's Body Sensor Location. Straps have no clock: the time is the gateway's.
    public func readings(_ mapping: ReadingMapping) -> [Reading] {
        var mapping = mapping
        mapping.context.sensorContact = sensorContact.displayName.replacingOccurrences(of: " ", with: "_")
        mapping.context.bodySensorLocation = mapping.connectionValue(BodySensorLocation.self).map {
            $0.displayName.lowercased().replacingOccurrences(of: " ", with: "_")
        }
        if sensorContact == .notDetected { mapping.flags.insert(.noSensorContact) }
        let time = mapping.time(deviceTime: nil)
        var components = [
            ReadingComponent(
                metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: Int64(heartRate.intValue), exponent: 0)),
                unit: "/min")
        ]
        for interval in rrIntervals ?? [] {
            // ticks / 1024 s = ticks × 9765625 × 10⁻¹⁰ s, exactly.
            components.append(
                ReadingComponent(
                    metric: .rrInterval,
                    value: .quantity(DecimalQuantity(mantissa: Int64(interval.ticks) * 9_765_625, exponent: -10)),
                    unit: "s"))
        }
        if let energyExpended {
            components.append(
                ReadingComponent(
                    metric: .energyExpended,
                    value: .quantity(DecimalQuantity(mantissa: Int64(energyExpended), exponent: 0)), unit: "kJ"))
        }
        return [mapping.reading(.heartRate, components, time: time)]
    }
}

extension HeartRateMeasurement.Value {
    var intValue: Int {
        switch self {
        case .uint8(let value): Int(value)
        case .uint16(let value): Int(value)
        }
    }
}
