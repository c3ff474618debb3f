import Provenance

/// The Glucose Measurement Context characteristic (0x2A34): what was going on around one glucose record
/// (meal, carbohydrates, exercise, medication, HbA1c, who tested and how they felt).
///
/// It arrives after the Glucose Measurement whose flag bit 4 announced it, and is joined to that measurement
/// by the sequence number. Layout: flags (uint8), sequence number (uint16), then as the flags announce —
/// extended flags (uint8; note it comes FIRST, right after the sequence number, although it is flag bit 7),
/// carbohydrate ID (uint8) + carbohydrate (SFLOAT, kilograms), meal (uint8), tester-health (uint8),
/// exercise duration (uint16 seconds) + exercise intensity (uint8 percent), medication ID (uint8) +
/// medication (SFLOAT, kilograms or liters per flag bit 5), HbA1c (SFLOAT percent).
///
/// Flags: bit 0 carbohydrate; bit 1 meal; bit 2 tester-health; bit 3 exercise; bit 4 medication; bit 5
/// medication units (0 kilograms, 1 liters); bit 6 HbA1c; bit 7 extended flags present. Every flags bit is
/// defined, so the flags byte itself has nothing reserved; every bit of the extended flags byte is reserved: ignored
/// and kept. Enumerated fields holding a reserved value are kept as sent (named "reserved_N"), never refused.
public struct GlucoseMeasurementContext: CharacteristicValue, Hashable {
    public static let uuid = BluetoothUUID.glucoseMeasurementContext
    public static let name = "Glucose Measurement Context"

    /// Joins this context to the Glucose Measurement with the same sequence number.
    public var sequenceNumber: UInt16
    /// Flag bit 7: the extended flags byte is present.
    public var extendedFlagsPresent: Bool
    /// The extended flags byte as sent. All its bits are reserved for future use: ignored, never a reason to refuse
    /// the context (the Bluetooth rule for reserved parts), kept so the value re-encodes to the bytes sent; with one
    /// set, octets after the known fields (a field a newer meter may add) are ignored too.
    public var extendedFlags: UInt8 = 0
    public var carbohydrate: GlucoseCarbohydrate?
    /// The meal byte as sent: a reserved value (one a newer meter may use) is kept and re-encoded, never refused.
    public var mealByte: UInt8?
    /// The meal, or nil when absent or a reserved value (`mealByte` holds it).
    public var meal: GlucoseMeal? {
        get { mealByte.flatMap(GlucoseMeal.init(rawValue:)) }
        set { mealByte = newValue?.rawValue }
    }
    public var testerHealth: GlucoseTesterHealth?
    public var exercise: GlucoseExercise?
    public var medication: GlucoseMedication?
    /// Flag bit 5. It qualifies `medication`; kept even without a medication field (exact re-encoding).
    public var medicationUnits: GlucoseMedicationUnits
    /// Glycated haemoglobin, exact SFLOAT in percent.
    public var hba1c: MedicalFloat?

    public init(
        sequenceNumber: UInt16, extendedFlagsPresent: Bool = false, carbohydrate: GlucoseCarbohydrate? = nil,
        meal: GlucoseMeal? = nil, testerHealth: GlucoseTesterHealth? = nil, exercise: GlucoseExercise? = nil,
        medication: GlucoseMedication? = nil, medicationUnits: GlucoseMedicationUnits = .kilograms,
        hba1c: MedicalFloat? = nil
    ) {
        self.sequenceNumber = sequenceNumber
        self.extendedFlagsPresent = extendedFlagsPresent
        self.carbohydrate = carbohydrate
        self.mealByte = meal?.rawValue
        self.testerHealth = testerHealth
        self.exercise = exercise
        self.medication = medication
        self.medicationUnits = medicationUnits
        self.hba1c = hba1c
    }

    /// The flags byte this value encodes to.
    public var flags: UInt8 {
        var flags: UInt8 = 0
        if carbohydrate != nil { flags |= 0x01 }
        if mealByte != nil { flags |= 0x02 }
        if testerHealth != nil { flags |= 0x04 }
        if exercise != nil { flags |= 0x08 }
        if medication != nil { flags |= 0x10 }
        if medicationUnits == .liters { flags |= 0x20 }
        if hba1c != nil { flags |= 0x40 }
        if extendedFlagsPresent { flags |= 0x80 }
        return flags
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: Self.name)
        let flags = try reader.uint8("flags")
        sequenceNumber = try reader.uint16("sequence_number")
        extendedFlagsPresent = flags & 0x80 != 0
        if extendedFlagsPresent { extendedFlags = try reader.uint8("extended_flags") }
        // Enumerations (carbohydrate, meal, tester, health, medication) are kept as sent: a reserved value is a value
        // a newer meter may use, not a reason to refuse the context (and with it the meal of a measurement).
        if flags & 0x01 != 0 {
            let id = try reader.uint8("carbohydrate_id")
            let amount = try reader.sfloat("carbohydrate")
            carbohydrate = GlucoseCarbohydrate(idByte: id, amount: amount)
        } else {
            carbohydrate = nil
        }
        mealByte = flags & 0x02 != 0 ? try reader.uint8("meal") : nil
        testerHealth = flags & 0x04 != 0 ? GlucoseTesterHealth(byte: try reader.uint8("tester_health")) : nil
        if flags & 0x08 != 0 {
            let duration = try reader.uint16("exercise_duration")
            let intensity = try reader.uint8("exercise_intensity")
            exercise = GlucoseExercise(durationSeconds: duration, intensityPercent: intensity)
        } else {
            exercise = nil
        }
        if flags & 0x10 != 0 {
            let id = try reader.uint8("medication_id")
            let amount = try reader.sfloat("medication")
            medication = GlucoseMedication(idByte: id, amount: amount)
        } else {
            medication = nil
        }
        medicationUnits = flags & 0x20 != 0 ? .liters : .kilograms
        hba1c = try flags & 0x40 != 0 ? reader.sfloat("hba1c") : nil
        if extendedFlags == 0 { try reader.finish() }
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(flags)
        writer.uint16(sequenceNumber)
        if extendedFlagsPresent { writer.uint8(extendedFlags) }
        if let carbohydrate {
            writer.uint8(carbohydrate.idByte)
            writer.sfloat(carbohydrate.amount)
        }
        if let mealByte { writer.uint8(mealByte) }
        if let testerHealth { writer.uint8(testerHealth.byte) }
        if let exercise {
            writer.uint16(exercise.durationSeconds)
            writer.uint8(exercise.intensityPercent)
        }
        if let medication {
            writer.uint8(medication.idByte)
            writer.sfloat(medication.amount)
        }
        if let hba1c { writer.sfloat(hba1c) }
        return writer.bytes
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("flags", .integer(flags)),
            ("sequence_number", .integer(sequenceNumber)),
        ]
        if extendedFlagsPresent { members.append(("extended_flags", .integer(extendedFlags))) }
        if let carbohydrate {
            members.append(("carbohydrate_id", .string(carbohydrate.name)))
            members.append(("carbohydrate", carbohydrate.amount.json))
        }
        if let mealByte {
            members.append(("meal", .string(meal?.specName ?? GlucoseMeasurementContext.reservedName(mealByte))))
        }
        if let testerHealth {
            members.append(
                (
                    "tester_health",
                    .members([
                        ("tester", .string(testerHealth.testerName)),
                        ("health", .string(testerHealth.healthName)),
                    ])
                ))
        }
        if let exercise {
            members.append(
                (
                    "exercise_duration", exercise.isOverrun ? .string("overrun") : .integer(exercise.durationSeconds)
                ))
            members.append(("exercise_intensity", .integer(exercise.intensityPercent)))
        }
        if let medication {
            members.append(("medication_id", .string(medication.name)))
            members.append(("medication", medication.amount.json))
            members.append(("medication_value_units", .string(medicationUnits.specName)))
        }
        if let hba1c { members.append(("hba1c", hba1c.json)) }
        return .members(members)
    }

    /// How a reserved enumeration value is named where a name is expected ("reserved_9").
    public static func reservedName(_ value: UInt8) -> String { "reserved_\(value)" }
}

/// Carbohydrate ID + Carbohydrate: which meal the carbohydrates belong to and how much (kilograms).
public struct GlucoseCarbohydrate: Hashable, Sendable {
    /// The Carbohydrate ID as sent (a reserved value is kept).
    public var idByte: UInt8
    /// Exact SFLOAT in kilograms (50 g arrives as 50 × 10⁻³).
    public var amount: MedicalFloat

    /// The meal, or nil for a reserved value.
    public var id: GlucoseCarbohydrateID? { GlucoseCarbohydrateID(rawValue: idByte) }
    /// The specification's name, or "reserved_N".
    public var name: String { id?.specName ?? GlucoseMeasurementContext.reservedName(idByte) }

    public init(id: GlucoseCarbohydrateID, amount: MedicalFloat) { self.init(idByte: id.rawValue, amount: amount) }

    public init(idByte: UInt8, amount: MedicalFloat) {
        self.idByte = idByte
        self.amount = amount
    }
}

/// Carbohydrate ID values; 0 and 8–255 are reserved.
public enum GlucoseCarbohydrateID: UInt8, Hashable, Sendable, CaseIterable {
    case breakfast = 1
    case lunch = 2
    case dinner = 3
    case snack = 4
    case drink = 5
    case supper = 6
    case brunch = 7

    public var specName: String {
        switch self {
        case .breakfast: "breakfast"
        case .lunch: "lunch"
        case .dinner: "dinner"
        case .snack: "snack"
        case .drink: "drink"
        case .supper: "supper"
        case .brunch: "brunch"
        }
    }
}

/// Meal values: when the sample was taken relative to eating; 0 and 6–255 are reserved.
public enum GlucoseMeal: UInt8, Hashable, Sendable, CaseIterable {
    case preprandial = 1
    case postprandial = 2
    case fasting = 3
    case casual = 4
    case bedtime = 5

    public var specName: String {
        switch self {
        case .preprandial: "preprandial"
        case .postprandial: "postprandial"
        case .fasting: "fasting"
        case .casual: "casual"
        case .bedtime: "bedtime"
        }
    }
}

/// The Tester-Health byte: tester in the low nibble, health in the high nibble.
public struct GlucoseTesterHealth: Hashable, Sendable {
    /// The byte as sent: either nibble may hold a reserved value, kept (and re-encoded) rather than refused.
    public var byte: UInt8

    /// Who tested, or nil for a reserved value.
    public var tester: GlucoseTester? { GlucoseTester(rawValue: byte & 0x0F) }
    /// How they felt, or nil for a reserved value.
    public var health: GlucoseHealth? { GlucoseHealth(rawValue: byte >> 4) }
    public var testerName: String { tester?.specName ?? GlucoseMeasurementContext.reservedName(byte & 0x0F) }
    public var healthName: String { health?.specName ?? GlucoseMeasurementContext.reservedName(byte >> 4) }

    public init(tester: GlucoseTester, health: GlucoseHealth) { byte = tester.rawValue | health.rawValue << 4 }

    public init(byte: UInt8) { self.byte = byte }
}

/// Who performed the test; 0 and 4–14 are reserved.
public enum GlucoseTester: UInt8, Hashable, Sendable, CaseIterable {
    case `self` = 1
    case healthCareProfessional = 2
    case labTest = 3
    case notAvailable = 15

    public var specName: String {
        switch self {
        case .`self`: "self"
        case .healthCareProfessional: "health_care_professional"
        case .labTest: "lab_test"
        case .notAvailable: "not_available"
        }
    }
}

/// The tester's state of health at the time; 0 and 6–14 are reserved.
public enum GlucoseHealth: UInt8, Hashable, Sendable, CaseIterable {
    case minorHealthIssues = 1
    case majorHealthIssues = 2
    case duringMenses = 3
    case underStress = 4
    case noHealthIssues = 5
    case notAvailable = 15

    public var specName: String {
        switch self {
        case .minorHealthIssues: "minor_health_issues"
        case .majorHealthIssues: "major_health_issues"
        case .duringMenses: "during_menses"
        case .underStress: "under_stress"
        case .noHealthIssues: "no_health_issues"
        case .notAvailable: "not_available"
        }
    }
}

/// Exercise Duration + Exercise Intensity.
public struct GlucoseExercise: Hashable, Sendable {
    /// Seconds; 65535 means "overrun" (longer than the field can hold), not 65535 s — see `isOverrun`.
    public var durationSeconds: UInt16
    /// Percent of maximum effort as the device reports it (kept as sent, not range-checked).
    public var intensityPercent: UInt8

    public init(durationSeconds: UInt16, intensityPercent: UInt8) {
        self.durationSeconds = durationSeconds
        self.intensityPercent = intensityPercent
    }

    /// True when the duration is the overrun special value; the real duration is unknown but longer.
    public var isOverrun: Bool { durationSeconds == 0xFFFF }
}

/// Medication ID + Medication.
public struct GlucoseMedication: Hashable, Sendable {
    /// The Medication ID as sent (a reserved value is kept).
    public var idByte: UInt8
    /// Exact SFLOAT in `GlucoseMeasurementContext.medicationUnits` (kilograms or liters).
    public var amount: MedicalFloat

    /// The insulin type, or nil for a reserved value.
    public var id: GlucoseMedicationID? { GlucoseMedicationID(rawValue: idByte) }
    public var name: String { id?.specName ?? GlucoseMeasurementContext.reservedName(idByte) }

    public init(id: GlucoseMedicationID, amount: MedicalFloat) { self.init(idByte: id.rawValue, amount: amount) }

    public init(idByte: UInt8, amount: MedicalFloat) {
        self.idByte = idByte
        self.amount = amount
    }
}

/// Medication ID values (insulin types); 0 and 6–255 are reserved.
public enum GlucoseMedicationID: UInt8, Hashable, Sendable, CaseIterable {
    case rapidActingInsulin = 1
    case shortActingInsulin = 2
    case intermediateActingInsulin = 3
    case longActingInsulin = 4
    case preMixedInsulin = 5

    public var specName: String {
        switch self {
        case .rapidActingInsulin: "rapid_acting_insulin"
        case .shortActingInsulin: "short_acting_insulin"
        case .intermediateActingInsulin: "intermediate_acting_insulin"
        case .longActingInsulin: "long_acting_insulin"
        case .preMixedInsulin: "pre_mixed_insulin"
        }
    }
}

/// Flag bit 5 of the context: the unit of the Medication field.
public enum GlucoseMedicationUnits: Hashable, Sendable, CaseIterable {
    case kilograms
    case liters

    public var specName: String {
        switch self {
        case .kilograms: "kilograms"
        case .liters: "liters"
        }
    }

    /// The UCUM unit code.
    public var symbol: String {
        switch self {
        case .kilograms: "kg"
        case .liters: "L"
        }
    }
}
