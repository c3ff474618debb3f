import Foundation
import Provenance

extension HealthProfile {
    /// Blood Pressure (0x1810): a cuff indicates each Blood Pressure Measurement, kept until confirmed.
    public static let bloodPressure = HealthProfile(
        id: "blood_pressure", serviceName: "Blood Pressure", service: .bloodPressureService,
        deviceName: "blood-pressure monitor", appearanceCategories: [0x00E],
        characteristics: [BloodPressureMeasurement.self, IntermediateCuffPressure.self, BloodPressureFeature.self],
        session: { client, _, options in BloodPressureSession(client: client, options: options).run() },
        simulator: SimulatorRecipe(
            shortName: "bp", model: "BP-7", systemIDBase: 0x04_1700, recordSpacing: 12 * 3600, streams: false
        ) { settings in
            var configuration = SimulatedBloodPressureMonitor.Configuration()
            if let identity = settings.identity { configuration.identity = identity }
            configuration.clock = settings.clock
            configuration.resendsStoredReadings = settings.resendStored
            configuration.faults = settings.faults
            return SimulatedBloodPressureMonitor(configuration: configuration)
        })
}

extension SimulatedBloodPressureMonitor: SimulatedHealthDevice {
    public func measure(count: Int, users: [UInt8], seed: UInt64, end: Date?, spacing: TimeInterval) async {
        await SimulatedReadings.fill(self, count: count, users: users, seed: seed, end: end, spacing: spacing)
    }
}

extension BloodPressureMeasurement: HealthMeasurement {
    public var measurementJSON: ExactJSON { .members([("blood_pressure_measurement", json)]) }
    public var summary: String { record.summary(cuff: false) }

    /// The pressure, and the pulse rate when the cuff sent one; every status bit a flag, a reserved pulse-rate range
    /// or reserved status bit marks the reading doubtful (kept, never dropped).
    public func readings(_ mapping: ReadingMapping) -> [Reading] {
        var mapping = mapping
        let unit = record.unit.ucum
        mapping.context.userID = record.userID?.raw
        if let status = record.measurementStatus {
            mapping.context.rawStatus = status.rawValue
            mapping.context.statusLabels = status.concerns.map { $0.replacingOccurrences(of: " ", with: "_") }
            mapping.context.pulseRateRange = status.pulseRateRange.displayName.replacingOccurrences(of: " ", with: "_")
            if status.bodyMovementDetected { mapping.flags.insert(.bodyMovement) }
            if status.cuffTooLoose { mapping.flags.insert(.cuffTooLoose) }
            if status.irregularPulseDetected { mapping.flags.insert(.irregularPulse) }
            switch status.pulseRateRange {
            case .withinRange: break
            case .exceedsUpperLimit, .lessThanLowerLimit: mapping.flags.insert(.pulseRateOutOfRange)
            case .reserved: mapping.flags.insert(.unknownStatus)
            }
            if status.improperMeasurementPosition { mapping.flags.insert(.improperPosition) }
            if status.reservedBits != 0 { mapping.flags.insert(.unknownStatus) }
        }
        let time = mapping.time(deviceTime: record.timeStamp)
        var readings = [
            mapping.reading(
                .bloodPressure,
                [
                    ReadingComponent(
                        metric: .systolicPressure, value: ReadingMapping.value(record.systolic), unit: unit),
                    ReadingComponent(
                        metric: .diastolicPressure, value: ReadingMapping.value(record.diastolic), unit: unit),
                    ReadingComponent(
                        metric: .meanArterialPressure, value: ReadingMapping.value(record.meanArterialPressure),
                        unit: unit),
                ], time: time)
        ]
        if let pulse = record.pulseRate {
            readings.append(
                mapping.reading(
                    .pulseRate,
                    [ReadingComponent(metric: .pulseRate, value: ReadingMapping.value(pulse), unit: "/min")], time: time
                ))
        }
        return readings
    }
}

extension IntermediateCuffPressure: HealthMeasurement {
    public var measurementJSON: ExactJSON { .members([("intermediate_cuff_pressure", json)]) }
    public var summary: String { record.summary(cuff: true) }
    /// Progress while the cuff inflates, not a result: no reading.
    public func readings(_ mapping: ReadingMapping) -> [Reading] { [] }
    public var isIntermediate: Bool { true }
}

extension BloodPressureRecord {
    /// "120.5/80 mmHg (MAP 93.5), pulse 64, user 1, at 2000-01-01T00:00:01 on the device clock; doubtful: cuff fit too
    /// loose", or "cuff pressure 84 mmHg" while inflating.
    func summary(cuff: Bool) -> String {
        let unit = unit.displayName
        var text =
            cuff
            ? "cuff pressure \(systolic) \(unit)" : "\(systolic)/\(diastolic) \(unit) (MAP \(meanArterialPressure))"
        if let pulseRate { text += ", pulse \(pulseRate)" }
        if let userID { text += ", \(userID)" }
        if let timeStamp { text += ", at \(timeStamp) on the device clock" }
        if let status = measurementStatus, status.hasConcern {
            text += "; doubtful: " + status.concerns.joined(separator: ", ")
        }
        return text
    }
}
