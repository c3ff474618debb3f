import Foundation
import Provenance

extension HealthProfile {
    /// Health Thermometer (0x1809): a thermometer indicates each Temperature Measurement, kept until confirmed.
    public static let healthThermometer = HealthProfile(
        id: "health_thermometer", serviceName: "Health Thermometer", service: .healthThermometerService,
        deviceName: "thermometer", appearanceCategories: [0x003],
        characteristics: [
            TemperatureMeasurement.self, TemperatureType.self, IntermediateTemperature.self, MeasurementInterval.self,
        ],
        session: { client, _, options in HealthThermometerSession(client: client, options: options).run() },
        simulator: SimulatorRecipe(
            shortName: "thermo", model: "TH-2", systemIDBase: 0x09_0100, recordSpacing: 8 * 3600, streams: false
        ) { settings in
            var configuration = SimulatedThermometer.Configuration()
            if let identity = settings.identity { configuration.identity = identity }
            configuration.clock = settings.clock
            configuration.faults = settings.faults
            return SimulatedThermometer(configuration: configuration)
        })
}

extension TemperatureMeasurement: HealthMeasurement {
    public var measurementJSON: ExactJSON { .members([("temperature_measurement", json)]) }
    public var summary: String { "temperature " + record.summary }

    /// One body-temperature reading in the unit sent (°C or °F, exact); where it was taken comes from the measurement,
    /// else from the thermometer's Temperature Type. A special value (NaN: the measurement did not finish) is kept as a
    /// reading without a number.
    public func readings(_ mapping: ReadingMapping) -> [Reading] {
        var mapping = mapping
        let site = record.site ?? mapping.connectionValue(TemperatureType.self)?.site
        mapping.context.bodySensorLocation = site?.siteKey
        let time = mapping.time(deviceTime: record.timeStamp)
        return [
            mapping.reading(
                .bodyTemperature,
                [
                    ReadingComponent(
                        metric: .bodyTemperature, value: ReadingMapping.value(record.value), unit: record.unit.ucum)
                ],
                time: time)
        ]
    }
}

extension IntermediateTemperature: HealthMeasurement {
    public var measurementJSON: ExactJSON { .members([("intermediate_temperature", json)]) }
    public var summary: String { "settling " + record.summary }
    /// The thermometer settling, not a result: no reading.
    public func readings(_ mapping: ReadingMapping) -> [Reading] { [] }
    public var isIntermediate: Bool { true }
}
