import Foundation
import Provenance

extension HealthProfile {
    /// Glucose (0x1808): a meter keeps records, downloaded through the RACP from the durable cursor on.
    public static let glucose = HealthProfile(
        id: "glucose", serviceName: "Glucose", service: .glucoseService, deviceName: "glucose meter",
        appearanceCategories: [0x010],
        characteristics: [
            GlucoseMeasurement.self, GlucoseMeasurementContext.self, GlucoseFeature.self, RecordAccessControlPoint.self,
        ],
        session: { client, cursor, options in GlucoseSession(client: client, cursor: cursor, options: options).run() },
        simulator: SimulatorRecipe(
            shortName: "glucose", model: "GL-3", systemIDBase: 0x22_0100, recordSpacing: 6 * 3600, streams: false
        ) { settings in
            var configuration = SimulatedGlucoseMeter.Configuration()
            if let identity = settings.identity { configuration.identity = identity }
            configuration.clock = settings.clock
            configuration.ignoresRecordFilter = settings.resendStored
            configuration.deletesAfterTransfer = settings.deleteAfterTransfer
            configuration.disconnectAfterRecords = settings.disconnectAfter
            configuration.faults = settings.faults
            return SimulatedGlucoseMeter(configuration: configuration)
        })
}

extension SimulatedGlucoseMeter: SimulatedHealthDevice {
    public func measure(count: Int, users: [UInt8], seed: UInt64, end: Date?, spacing: TimeInterval) async {
        await SimulatedReadings.fill(self, count: count, seed: seed, end: end, spacing: spacing)
    }
}

/// A glucose record and the context the meter linked to it by sequence number (nil when none followed, or when the
/// meter announced one and never sent it — see `ReceivedMeasurement.contextMissing`).
public struct GlucoseRecord: HealthMeasurement {
    public var measurement: GlucoseMeasurement
    public var context: GlucoseMeasurementContext?

    public init(measurement: GlucoseMeasurement, context: GlucoseMeasurementContext?) {
        self.measurement = measurement
        self.context = context
    }

    public var measurementJSON: ExactJSON {
        .members([("glucose_measurement", measurement.json), ("glucose_measurement_context", context?.json ?? .null)])
    }

    public var summary: String {
        let value = measurement
        var text = "glucose #\(value.sequenceNumber)"
        if let concentration = value.concentration {
            text += " \(concentration.value) \(value.concentrationUnits == .kilogramsPerLiter ? "kg/L" : "mol/L")"
            text +=
                " (\(concentration.type?.specName ?? "reserved type"), \(concentration.sampleLocation?.specName ?? "reserved location"))"
        }
        text += " at \(value.baseTime) on the device clock"
        if let offset = value.timeOffset, offset != 0 { text += " \(offset >= 0 ? "+" : "")\(offset) min" }
        if let meal = context?.meal { text += ", meal: \(meal.specName)" }
        if let status = value.sensorStatus, status.rawValue != 0 {
            let names = GlucoseSensorStatus.named.filter { status.contains($0.0) }.map(\.1)
            text += "; sensor: " + names.joined(separator: ", ")
        }
        return text
    }

    /// One reading per record, with its context; a status-only record (a strip error, a sample too small) is still a
    /// record the meter handed over: kept without a value (dataAbsentReason in FHIR), its annunciations with it.
    public func readings(_ mapping: ReadingMapping) -> [Reading] {
        var mapping = mapping
        var glucose = GlucoseContext(sequenceNumber: measurement.sequenceNumber)
        glucose.contextMissing = mapping.received.contextMissing
        if let concentration = measurement.concentration {
            glucose.sampleType = concentration.type?.specName
            glucose.sampleLocation = concentration.sampleLocation?.specName
            if concentration.hasReservedValue { mapping.flags.insert(.unknownStatus) }
            if measurement.isControlSolution { mapping.flags.insert(.testData) }
        }
        if let extra = context {
            glucose.meal = extra.mealByte.map { extra.meal?.specName ?? GlucoseMeasurementContext.reservedName($0) }
            glucose.carbohydrateID = extra.carbohydrate?.name
            glucose.carbohydrateKilograms = extra.carbohydrate.flatMap { ReadingMapping.value($0.amount).quantity }
            glucose.tester = extra.testerHealth?.testerName
            glucose.health = extra.testerHealth?.healthName
            glucose.exerciseDurationSeconds = extra.exercise.map { Int($0.durationSeconds) }
            glucose.exerciseIntensityPercent = extra.exercise.map { Int($0.intensityPercent) }
            glucose.medicationID = extra.medication?.name
            glucose.medicationQuantity = extra.medication.flatMap { ReadingMapping.value($0.amount).quantity }
            glucose.medicationUnit = extra.medication == nil ? nil : (extra.medicationUnits == .kilograms ? "kg" : "L")
            glucose.hba1cPercent = extra.hba1c.flatMap { ReadingMapping.value($0).quantity }
        }
        mapping.context.glucose = glucose
        if let status = measurement.sensorStatus, status.rawValue != 0 {
            mapping.context.rawStatus = status.rawValue
            mapping.context.statusLabels = GlucoseSensorStatus.named.filter { status.contains($0.0) }.map(\.1)
            mapping.flags.insert(.sensorAnnunciation)
        }
        let time = mapping.time(deviceTime: measurement.baseTime, offsetMinutes: measurement.timeOffset.map(Int.init))
        let unit = measurement.concentrationUnits == .kilogramsPerLiter ? "kg/L" : "mol/L"
        let concentration = measurement.concentration.map { ReadingMapping.value($0.value) } ?? .absent(.notReported)
        return [
            mapping.reading(
                .glucose, [ReadingComponent(metric: .glucose, value: concentration, unit: unit)], time: time,
                sequence: measurement.sequenceNumber)
        ]
    }
}
