/// An exact decimal, mantissa × 10^exponent, as IEEE 11073 devices send it (DESIGN.md rule 1).
public struct DecimalQuantity: Hashable, Sendable, Codable, CustomStringConvertible {
    public var mantissa: Int64
    public var exponent: Int8

    public init(mantissa: Int64, exponent: Int8) {
        self.mantissa = mantissa
        self.exponent = exponent
    }

    /// The value times 10^`places`, exactly (the decimal point moves); nil when the exponent no longer fits.
    public func shifted(by places: Int) -> DecimalQuantity? {
        Int8(exactly: Int(exponent) + places).map { DecimalQuantity(mantissa: mantissa, exponent: $0) }
    }

    /// Exact text: "120.5", "0.00090", "-3".
    public var description: String {
        let negative = mantissa < 0
        var digits = String(mantissa.magnitude)
        if exponent >= 0 {
            if mantissa != 0 { digits += String(repeating: "0", count: Int(exponent)) }
        } else {
            let places = -Int(exponent)
            if digits.count <= places { digits = String(repeating: "0", count: places - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -places))
        }
        return negative ? "-" + digits : digits
    }
}

/// Why a reading has no number (a FHIR `dataAbsentReason`, never a value).
public enum AbsentValueReason: String, Hashable, Sendable, Codable, CaseIterable {
    case notANumber = "NaN"
    case notAtThisResolution = "NRes"
    case positiveInfinity = "+INFINITY"
    case negativeInfinity = "-INFINITY"
    case reserved
    /// The device sent a record without the value (a glucose record that only reports a strip error or a sample too
    /// small): kept as a reading, with its status, rather than dropped.
    case notReported = "not_reported"
}

/// A measured value: an exact number or the reason there is none.
public enum ReadingValue: Hashable, Sendable, Codable {
    case quantity(DecimalQuantity)
    case absent(AbsentValueReason)

    public var quantity: DecimalQuantity? {
        if case .quantity(let value) = self { return value }
        return nil
    }
}

/// What is measured; the raw value names the series' metric in the store.
public enum Metric: String, Hashable, Sendable, Codable, CaseIterable {
    case systolicPressure = "bp_systolic"
    case diastolicPressure = "bp_diastolic"
    case meanArterialPressure = "bp_mean"
    /// Pulse rate reported by a blood-pressure cuff.
    case pulseRate = "pulse_rate"
    /// Heart rate from a heart-rate sensor.
    case heartRate = "heart_rate"
    /// One RR interval, in seconds (exact: ticks/1024).
    case rrInterval = "rr_interval"
    case energyExpended = "energy_expended"
    case glucose = "glucose"
    case bodyTemperature = "body_temperature"
    /// Oxygen saturation from a pulse oximeter (SpO2, %), its pulse rate, and its pulse amplitude index (%).
    case oxygenSaturation = "spo2"
    case oximetryPulseRate = "spo2_pulse_rate"
    case pulseAmplitudeIndex = "pulse_amplitude_index"
    /// A scale's weight, height and BMI, and a body-composition analysis (body fat % with its other values).
    case bodyWeight = "body_weight"
    case bodyHeight = "body_height"
    case bodyMassIndex = "bmi"
    case bodyFat = "body_fat"
    case basalMetabolism = "basal_metabolism"
    case musclePercentage = "muscle_percentage"
    case muscleMass = "muscle_mass"
    case fatFreeMass = "fat_free_mass"
    case softLeanMass = "soft_lean_mass"
    case bodyWaterMass = "body_water_mass"
    case impedance = "impedance"

    /// The kind of reading whose component this metric is (the kind consent rules and summaries are about).
    public var readingKind: ReadingKind {
        switch self {
        case .systolicPressure, .diastolicPressure, .meanArterialPressure: .bloodPressure
        case .pulseRate: .pulseRate
        case .heartRate, .rrInterval, .energyExpended: .heartRate
        case .glucose: .glucose
        case .bodyTemperature: .bodyTemperature
        case .oxygenSaturation, .pulseAmplitudeIndex: .oxygenSaturation
        case .oximetryPulseRate: .oximetryPulseRate
        case .bodyWeight: .bodyWeight
        case .bodyHeight: .bodyHeight
        case .bodyMassIndex: .bodyMassIndex
        case .bodyFat, .basalMetabolism, .musclePercentage, .muscleMass, .fatFreeMass, .softLeanMass, .bodyWaterMass,
            .impedance:
            .bodyComposition
        }
    }
}

/// The kind of reading, which decides its components and its FHIR profile.
public enum ReadingKind: String, Hashable, Sendable, Codable, CaseIterable {
    /// Systolic, diastolic and mean arterial pressure together (a compound observation).
    case bloodPressure = "blood_pressure"
    case pulseRate = "pulse_rate"
    case heartRate = "heart_rate"
    case glucose = "glucose"
    case bodyTemperature = "body_temperature"
    case oxygenSaturation = "oxygen_saturation"
    /// The pulse rate a pulse oximeter reports with the saturation.
    case oximetryPulseRate = "oximetry_pulse_rate"
    case bodyWeight = "body_weight"
    case bodyHeight = "body_height"
    case bodyMassIndex = "body_mass_index"
    /// Body fat with the rest of a body-composition analysis as components.
    case bodyComposition = "body_composition"
}

/// One measured quantity of a reading, with its UCUM unit.
public struct ReadingComponent: Hashable, Sendable, Codable {
    public var metric: Metric
    public var value: ReadingValue
    /// UCUM code: "mm[Hg]", "kPa", "/min", "kg/L", "mol/L", "s", "kJ".
    public var unit: String

    public init(metric: Metric, value: ReadingValue, unit: String) {
        self.metric = metric
        self.value = value
        self.unit = unit
    }
}
