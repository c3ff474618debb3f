extension Measurement {
    /// One line a person can read ("120.5/80 mmHg (MAP 93.5), pulse 64, user 1, at 2000-01-01T00:00:01 on the
    /// device clock; doubtful: cuff fit too loose"). Values are printed exactly; special values by name.
    public var summary: String {
        switch self {
        case .bloodPressure(let value): Self.summary(value.record, cuff: false)
        case .intermediateCuffPressure(let value): Self.summary(value.record, cuff: true)
        case .glucose(let value, let context):
            {
                var text = "glucose #\(value.sequenceNumber)"
                if let concentration = value.concentration {
                    text += " \(concentration.value) \(value.concentrationUnits == .kilogramsPerLiter ? "kg/L" : "mol/L")"
                    text += " (\(concentration.type?.specName ?? "reserved type"), \(concentration.sampleLocation?.specName ?? "reserved location"))"
                }
                text += " at \(value.baseTime.isoText) on the device clock"
                if let offset = value.timeOffset, offset != 0 { text += " \(offset >= 0 ? "+" : "")\(offset) min" }
                if let meal = context?.meal { text += ", meal: \(meal.specName)" }
                if let status = value.sensorStatus, status.rawValue != 0 {
                    let names = GlucoseSensorStatus.named.filter { status.contains($0.0) }.map(\.1)
                    text += "; sensor: " + names.joined(separator: ", ")
                }
                return text
            }()
        case .heartRate(let value):
            {
                var text = "heart rate \(value.heartRate.intValue) bpm, contact \(value.sensorContact)"
                if let rr = value.rrIntervals, !rr.isEmpty { text += ", RR " + rr.map { $0.seconds + " s" }.joined(separator: " ") }
                if let energy = value.energyExpended { text += ", \(energy) kJ" }
                return text
            }()
        }
    }

    private static func summary(_ record: BloodPressureRecord, cuff: Bool) -> String {
        let unit = record.unit.displayName
        var text = cuff
            ? "cuff pressure \(record.systolic) \(unit)"
            : "\(record.systolic)/\(record.diastolic) \(unit) (MAP \(record.meanArterialPressure))"
        if let pulse = record.pulseRate { text += ", pulse \(pulse)" }
        if let user = record.userID { text += ", \(user)" }
        if let time = record.timeStamp { text += ", at \(time.isoText) on the device clock" }
        if let status = record.measurementStatus, status.hasConcern { text += "; doubtful: " + status.concerns.joined(separator: ", ") }
        return text
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
