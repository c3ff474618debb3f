import Foundation
import Provenance

extension HealthProfile {
    /// Pulse Oximeter (0x1822): spot-checks indicated (stored ones through the RACP), continuous measurements notified.
    public static let pulseOximeter = HealthProfile(
        id: "pulse_oximeter", serviceName: "Pulse Oximeter", service: .pulseOximeterService,
        deviceName: "pulse oximeter",
        appearanceCategories: [0x031],
        characteristics: [PLXSpotCheckMeasurement.self, PLXContinuousMeasurement.self, PLXFeatures.self],
        session: { client, _, options in PulseOximeterSession(client: client, options: options).run() },
        simulator: SimulatorRecipe(
            shortName: "plx", model: "PO-3", systemIDBase: 0x08_0100, recordSpacing: 4 * 3600, streams: false
        ) { settings in
            var configuration = SimulatedPulseOximeter.Configuration()
            if let identity = settings.identity { configuration.identity = identity }
            configuration.clock = settings.clock
            configuration.faults = settings.faults
            if let count = settings.count { configuration.continuousCount = count }
            configuration.continuousInterval = settings.interval
            return SimulatedPulseOximeter(configuration: configuration)
        })
}

/// The readings of one SpO2 and pulse-rate pair: the saturation (with the pulse amplitude index when sent) and the
/// pulse rate, as two readings — as a cuff's pressure and pulse are — each with the measurement's status.
private func oximetryReadings(
    _ pair: SpO2PR, pulseAmplitudeIndex: MedicalFloat?, measurementStatus: PLXMeasurementStatus?,
    sensorStatus: PLXDeviceAndSensorStatus?, deviceClockNotSet: Bool, timeStamp: DateTime?, _ mapping: ReadingMapping
) -> [Reading] {
    var mapping = mapping
    var labels: [String] = []
    if let measurementStatus {
        mapping.context.rawStatus = measurementStatus.rawValue
        labels += measurementStatus.names
        let doubtful: PLXMeasurementStatus = [
            .measurementOngoing, .earlyEstimatedData, .calibrationOngoing, .measurementUnavailable,
            .questionableMeasurementDetected, .invalidMeasurementDetected,
        ]
        if !measurementStatus.isDisjoint(with: doubtful) { mapping.flags.insert(.sensorAnnunciation) }
        if !measurementStatus.isDisjoint(with: [.dataForDemonstration, .dataForTesting]) {
            mapping.flags.insert(.testData)
        }
        if measurementStatus.reservedBits != 0 { mapping.flags.insert(.unknownStatus) }
    }
    if let sensorStatus {
        labels += sensorStatus.names
        if !sensorStatus.subtracting(.extendedDisplayUpdateOngoing).intersection(
            PLXDeviceAndSensorStatus(rawValue: 0xFFFF)
        ).isEmpty {
            mapping.flags.insert(.sensorAnnunciation)
        }
        if sensorStatus.reservedBits != 0 { mapping.flags.insert(.unknownStatus) }
    }
    if deviceClockNotSet { labels.append("device_clock_not_set") }
    if !labels.isEmpty { mapping.context.statusLabels = labels }
    let time = mapping.time(deviceTime: timeStamp)
    var saturation = [ReadingComponent(metric: .oxygenSaturation, value: ReadingMapping.value(pair.spO2), unit: "%")]
    if let pulseAmplitudeIndex {
        saturation.append(
            ReadingComponent(metric: .pulseAmplitudeIndex, value: ReadingMapping.value(pulseAmplitudeIndex), unit: "%"))
    }
    return [
        mapping.reading(.oxygenSaturation, saturation, time: time),
        mapping.reading(
            .oximetryPulseRate,
            [ReadingComponent(metric: .oximetryPulseRate, value: ReadingMapping.value(pair.pulseRate), unit: "/min")],
            time: time),
    ]
}

extension PLXSpotCheckMeasurement: HealthMeasurement {
    public var measurementJSON: ExactJSON { .members([("plx_spot_check_measurement", json)]) }

    public var summary: String {
        var text = "SpO2 \(value.spO2) %, pulse \(value.pulseRate)/min"
        if let pulseAmplitudeIndex { text += ", PAI \(pulseAmplitudeIndex) %" }
        if let timeStamp { text += ", at \(timeStamp) on the device clock" }
        if deviceClockNotSet { text += " (clock not set)" }
        let notes = (measurementStatus?.names ?? []) + (deviceAndSensorStatus?.names ?? [])
        if !notes.isEmpty { text += "; " + notes.joined(separator: ", ") }
        return text
    }

    /// A stored spot-check carries its time stamp; the device saying its clock was never set is kept as a label (the
    /// time rules judge the stamp against the clock comparison).
    public func readings(_ mapping: ReadingMapping) -> [Reading] {
        oximetryReadings(
            value, pulseAmplitudeIndex: pulseAmplitudeIndex, measurementStatus: measurementStatus,
            sensorStatus: deviceAndSensorStatus, deviceClockNotSet: deviceClockNotSet, timeStamp: timeStamp, mapping)
    }
}

extension PLXContinuousMeasurement: HealthMeasurement {
    public var measurementJSON: ExactJSON { .members([("plx_continuous_measurement", json)]) }

    public var summary: String {
        var text = "continuous SpO2 \(normal.spO2) %, pulse \(normal.pulseRate)/min"
        if let fast { text += " (fast \(fast.spO2) %, \(fast.pulseRate)/min)" }
        if let slow { text += " (slow \(slow.spO2) %, \(slow.pulseRate)/min)" }
        return text
    }

    /// The normal averaging is the measurement (the fast and slow ones stay in the kept bytes); no time stamp: the
    /// gateway's receive time.
    public func readings(_ mapping: ReadingMapping) -> [Reading] {
        oximetryReadings(
            normal, pulseAmplitudeIndex: pulseAmplitudeIndex, measurementStatus: measurementStatus,
            sensorStatus: deviceAndSensorStatus, deviceClockNotSet: false, timeStamp: nil, mapping)
    }
}
