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
    public var decideTime: @Sendable (_ deviceTime: DeviceWallClock?, _ offsetMinutes: Int?, _ receivedMicros: Int64, _ clocks: [ClockComparison]) -> TimeProvenance
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

    public static func wallClock(_ time: DateTime) -> DeviceWallClock {
        DeviceWallClock(year: time.year, month: time.month, day: time.day, hour: time.hours, minute: time.minutes, second: time.seconds)
    }

    public static func clockComparison(_ observation: ClockObservation) -> ClockComparison {
        ClockComparison(
            deviceTime: wallClock(observation.deviceTime.dateTime), deviceUTCOffsetMinutes: observation.localTime?.utcOffsetMinutes,
            gatewayMicros: micros(observation.gatewayTime), roundTripMicros: Int64(observation.roundTrip.seconds * 1_000_000),
            afterSet: observation.kind == .afterSet)
    }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    static func value(_ float: MedicalFloat) -> ReadingValue {
        switch float {
        case .number(let mantissa, let exponent): .quantity(DecimalQuantity(mantissa: Int64(mantissa), exponent: exponent))
        case .nan: .absent(.notANumber)
        case .nres: .absent(.notAtThisResolution)
        case .positiveInfinity: .absent(.positiveInfinity)
        case .negativeInfinity: .absent(.negativeInfinity)
        case .reserved: .absent(.reserved)
        }
    }

    /// The readings one measurement carries: a BP measurement gives the pressure and (when sent) the pulse
    /// rate; Intermediate Cuff Pressure gives none (it is progress, not a result).
    /// `sensorLocation`: where a heart-rate sensor says it is worn (Body Sensor Location, read once per connection).
    /// `device`: `deviceRecord(identity)` when the caller has it (a connection's readings then share its strings).
    public static func readings(
        from received: ReceivedMeasurement, identity: DeviceIdentity, clocks: [ClockObservation], options: ReadingMapperOptions,
        sensorLocation: BodySensorLocation? = nil, device: DeviceRecord? = nil
    ) -> [Reading] {
        let device = device ?? deviceRecord(identity)
        let comparison = clocks.map(clockComparison)
        let receivedMicros = micros(received.receivedAt)
        var context = MeasurementContext()
        context.setting = options.setting
        var baseFlags: ReadingFlags = options.testData ? [.testData] : []

        func make(_ kind: ReadingKind, _ components: [ReadingComponent], _ flags: ReadingFlags, time: TimeProvenance, sequence: UInt16? = nil) -> Reading {
            var flags = flags
            if components.contains(where: { if case .absent = $0.value { true } else { false } }) { flags.insert(.valueAbsent) }
            switch time.decision {
            case .refused: flags.insert(.timeRefused)
            case .mapped: flags.insert(.timeCorrected)
            default: break
            }
            return Reading(
                kind: kind, components: components, subject: nil, device: device, gateway: options.gateway, context: context,
                time: time, flags: flags, characteristic: received.characteristic.description, rawPayloads: received.rawPayloads,
                sequenceNumber: sequence)
        }

        switch received.measurement {
        case .intermediateCuffPressure:
            return []
        case .bloodPressure(let measurement):
            let record = measurement.record
            let unit = record.unit.ucum
            context.userID = record.userID?.raw
            if let status = record.measurementStatus {
                context.rawStatus = status.rawValue
                context.statusLabels = status.concerns.map { $0.replacingOccurrences(of: " ", with: "_") }
                context.pulseRateRange = status.pulseRateRange.displayName.replacingOccurrences(of: " ", with: "_")
                if status.bodyMovementDetected { baseFlags.insert(.bodyMovement) }
                if status.cuffTooLoose { baseFlags.insert(.cuffTooLoose) }
                if status.irregularPulseDetected { baseFlags.insert(.irregularPulse) }
                switch status.pulseRateRange {
                case .withinRange: break
                case .exceedsUpperLimit, .lessThanLowerLimit: baseFlags.insert(.pulseRateOutOfRange)
                // A reserved value: the reading is kept, the range unknown, and the reading doubtful.
                case .reserved: baseFlags.insert(.unknownStatus)
                }
                if status.improperMeasurementPosition { baseFlags.insert(.improperPosition) }
                if status.reservedBits != 0 { baseFlags.insert(.unknownStatus) }
            }
            let time = options.decideTime(record.timeStamp.map(wallClock), nil, receivedMicros, comparison)
            var readings = [
                make(.bloodPressure, [
                    ReadingComponent(metric: .systolicPressure, value: value(record.systolic), unit: unit),
                    ReadingComponent(metric: .diastolicPressure, value: value(record.diastolic), unit: unit),
                    ReadingComponent(metric: .meanArterialPressure, value: value(record.meanArterialPressure), unit: unit),
                ], baseFlags, time: time)
            ]
            if let pulse = record.pulseRate {
                readings.append(make(.pulseRate, [ReadingComponent(metric: .pulseRate, value: value(pulse), unit: "/min")], baseFlags, time: time))
            }
            return readings
        case .glucose(let measurement, let glucoseContext):
            var glucose = GlucoseContext(sequenceNumber: measurement.sequenceNumber)
            glucose.contextMissing = received.contextMissing
            if let concentration = measurement.concentration {
                glucose.sampleType = concentration.type?.specName
                glucose.sampleLocation = concentration.sampleLocation?.specName
                if concentration.hasReservedValue { baseFlags.insert(.unknownStatus) }
                if measurement.isControlSolution { baseFlags.insert(.testData) }
            }
            if let extra = glucoseContext {
                glucose.meal = extra.mealByte.map { extra.meal?.specName ?? GlucoseMeasurementContext.reservedName($0) }
                glucose.carbohydrateID = extra.carbohydrate?.name
                glucose.carbohydrateKilograms = extra.carbohydrate.flatMap { value($0.amount).quantity }
                glucose.tester = extra.testerHealth?.testerName
                glucose.health = extra.testerHealth?.healthName
                glucose.exerciseDurationSeconds = extra.exercise.map { Int($0.durationSeconds) }
                glucose.exerciseIntensityPercent = extra.exercise.map { Int($0.intensityPercent) }
                glucose.medicationID = extra.medication?.name
                glucose.medicationQuantity = extra.medication.flatMap { value($0.amount).quantity }
                glucose.medicationUnit = extra.medication == nil ? nil : (extra.medicationUnits == .kilograms ? "kg" : "L")
                glucose.hba1cPercent = extra.hba1c.flatMap { value($0).quantity }
            }
            context.glucose = glucose
            if let status = measurement.sensorStatus, status.rawValue != 0 {
                context.rawStatus = status.rawValue
                context.statusLabels = GlucoseSensorStatus.named.filter { status.contains($0.0) }.map(\.1)
                baseFlags.insert(.sensorAnnunciation)
            }
            let time = options.decideTime(wallClock(measurement.baseTime), measurement.timeOffset.map(Int.init), receivedMicros, comparison)
            let unit = measurement.concentrationUnits == .kilogramsPerLiter ? "kg/L" : "mol/L"
            // A status-only record (a strip error, a sample too small) is still a record the meter handed over: kept as a
            // reading without a value (dataAbsentReason in FHIR), its annunciations with it, never dropped.
            let concentration = measurement.concentration.map { value($0.value) } ?? .absent(.notReported)
            return [make(.glucose, [ReadingComponent(metric: .glucose, value: concentration, unit: unit)], baseFlags,
                         time: time, sequence: measurement.sequenceNumber)]
        case .heartRate(let measurement):
            context.sensorContact = measurement.sensorContact.displayName.replacingOccurrences(of: " ", with: "_")
            context.bodySensorLocation = sensorLocation.map { $0.displayName.lowercased().replacingOccurrences(of: " ", with: "_") }
            if measurement.sensorContact == .notDetected { baseFlags.insert(.noSensorContact) }
            let time = options.decideTime(nil, nil, receivedMicros, comparison)
            var components = [ReadingComponent(metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: Int64(measurement.heartRate.intValue), exponent: 0)), unit: "/min")]
            for interval in measurement.rrIntervals ?? [] {
                // ticks / 1024 s = ticks × 9765625 × 10⁻¹⁰ s, exactly.
                components.append(ReadingComponent(
                    metric: .rrInterval, value: .quantity(DecimalQuantity(mantissa: Int64(interval.ticks) * 9_765_625, exponent: -10)), unit: "s"))
            }
            if let energy = measurement.energyExpended {
                components.append(ReadingComponent(metric: .energyExpended, value: .quantity(DecimalQuantity(mantissa: Int64(energy), exponent: 0)), unit: "kJ"))
            }
            return [make(.heartRate, components, baseFlags, time: time)]
        }
    }
}
