import Foundation
import Provenance

extension HealthProfile {
    /// Continuous Glucose Monitoring (0x181F): records every few minutes on the session's timeline, downloaded through
    /// the RACP by Time Offset from the durable cursor on.
    public static let continuousGlucose = HealthProfile(
        id: "cgm", serviceName: "Continuous Glucose Monitoring", service: .continuousGlucoseMonitoringService,
        deviceName: "continuous glucose monitor", appearanceCategories: [],
        characteristics: [
            CGMMeasurement.self, CGMFeature.self, CGMSessionStartTime.self, CGMSpecificOpsControlPoint.self,
            CGMStatus.self, CGMSessionRunTime.self,
        ],
        session: { client, cursor, options in CGMSession(client: client, cursor: cursor, options: options).run() },
        simulator: SimulatorRecipe(
            shortName: "cgm", model: "CG-2", systemIDBase: 0x0F_0100, recordSpacing: 5 * 60, streams: false
        ) { settings in
            var configuration = SimulatedCGM.Configuration()
            if let identity = settings.identity { configuration.identity = identity }
            configuration.clock = settings.clock
            configuration.faults = settings.faults
            return SimulatedCGM(configuration: configuration)
        })
}

extension CGMRecord: HealthMeasurement {
    public var measurementJSON: ExactJSON { .members([("cgm_measurement", json)]) }

    public var summary: String {
        var text = "CGM \(glucose) mg/dL at session minute \(timeOffset)"
        if let trend { text += ", trend \(trend) mg/dL/min" }
        if let quality { text += ", quality \(quality) %" }
        if !annunciation.names.isEmpty { text += "; " + annunciation.names.joined(separator: ", ") }
        return text
    }

    /// A glucose reading in kg/L (mg/dL × 10⁻⁵, exact), of the sensor's sample type and location (CGM Feature), timed
    /// as the session's start on the sensor's clock plus the record's Time Offset; without the start time the reading
    /// keeps its receive time and says so (doubtful).
    public func readings(_ mapping: ReadingMapping) -> [Reading] {
        var mapping = mapping
        var context = GlucoseContext(sequenceNumber: timeOffset)
        if let feature = mapping.connectionValue(CGMFeature.self) {
            context.sampleType = GlucoseSampleType(rawValue: feature.typeAndLocation & 0x0F)?.specName
            context.sampleLocation = GlucoseSampleLocation(rawValue: feature.typeAndLocation >> 4)?.specName
        }
        mapping.context.glucose = context
        var labels = annunciation.names
        let doubtful = annunciation.subtracting([
            .deviceBatteryLow, .belowPatientLow, .abovePatientHigh, .belowHypo, .aboveHyper,
        ])
        if !doubtful.isEmpty { mapping.flags.insert(.sensorAnnunciation) }
        if annunciation.reservedBits != 0 || reservedFlags != 0 { mapping.flags.insert(.unknownStatus) }
        let start = mapping.connectionValue(CGMSessionStartTime.self)
        if start == nil {
            labels.append("session_start_time_unknown")
            mapping.flags.insert(.unknownStatus)
        }
        if !labels.isEmpty { mapping.context.statusLabels = labels }
        let time = mapping.time(deviceTime: start?.start, offsetMinutes: start == nil ? nil : Int(timeOffset))
        // An SFLOAT's exponent is -8…7, so moving the point five places always fits.
        let value: ReadingValue =
            if case .number(let mantissa, let exponent) = glucose {
                .quantity(DecimalQuantity(mantissa: Int64(mantissa), exponent: exponent - 5))
            } else {
                ReadingMapping.value(glucose)
            }
        return [
            mapping.reading(
                .glucose, [ReadingComponent(metric: .glucose, value: value, unit: "kg/L")], time: time,
                sequence: timeOffset)
        ]
    }
}
