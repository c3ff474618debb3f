import Provenance

/// What a measured quantity is called: its MDC code (IEEE 11073-10101) and, for vital signs and glucose, LOINC.
public struct MeasurementCode: Hashable, Sendable {
    public var codings: [Concept]
    public var text: String
}

/// What every kind shares: the code of a metric (each kind's own codes are in `Kinds/`), the body site, units.
enum Nomenclature {
    /// Where a heart-rate sensor is worn (Body Sensor Location) or a temperature was taken (Temperature Type), as SNOMED
    /// CT body structures; "other" has text only.
    static func bodySite(_ location: String?) -> ExactJSON? {
        guard let location else { return nil }
        let structures: [String: (String, String)] = [
            "chest": ("51185008", "Thoracic structure"), "wrist": ("8205005", "Wrist region structure"),
            "finger": ("7569003", "Finger structure"), "hand": ("85562004", "Hand structure"),
            "ear_lobe": ("48800003", "Ear lobule structure"), "foot": ("56459004", "Foot structure"),
            "armpit": ("91470000", "Axillary region structure"), "mouth": ("74262004", "Oral cavity structure"),
            "rectum": ("34402009", "Rectum structure"), "toe": ("29707007", "Toe structure"),
            "tympanum": ("42859004", "Tympanic membrane structure"),
            "gastrointestinal_tract": ("122865005", "Gastrointestinal tract structure"),
        ]
        let text = location.replacingOccurrences(of: "_", with: " ")
        guard let (code, display) = structures[location] else { return .obj(["text": .string(text)]) }
        return Element.codeable([Concept(FHIRCodes.snomed, code, display)], text: text)
    }

    /// The searchable code of `metric`, from its kind's mapping (`ReadingKindMapping`).
    static func code(of metric: Metric, glucoseSampleType: String?, unit: String) -> MeasurementCode? {
        ReadingKindMapping.of(metric.readingKind).code(metric, glucoseSampleType, unit)
    }

    /// The metric a store series is named by ("bp_systolic"), with its codes; glucose series have no sample type.
    static func code(ofSeriesMetric name: String, unit: String) -> MeasurementCode? {
        Metric(rawValue: name).flatMap { code(of: $0, glucoseSampleType: nil, unit: unit) }
    }
}

/// How a UCUM unit is presented in FHIR. Glucose arrives in SI base units (80 mg/dL is sent as 0.00080 kg/L);
/// it is shown in mg/dL or mmol/L by moving the decimal point, which is exact — no digit is rounded or invented.
struct UnitPresentation: Hashable {
    /// UCUM code written in `Quantity.code`.
    var code: String
    /// Human-readable `Quantity.unit`.
    var unit: String
    /// Power of ten the value is multiplied by (kg/L → mg/dL: 5).
    var exponentShift: Int

    init(ucum: String) {
        switch ucum {
        case "kg/L": self = UnitPresentation(code: "mg/dL", unit: "mg/dL", exponentShift: 5)
        case "mol/L": self = UnitPresentation(code: "mmol/L", unit: "mmol/L", exponentShift: 3)
        case "mm[Hg]": self = UnitPresentation(code: "mm[Hg]", unit: "mmHg", exponentShift: 0)
        case "/min": self = UnitPresentation(code: "/min", unit: "beats/minute", exponentShift: 0)
        case "Cel": self = UnitPresentation(code: "Cel", unit: "°C", exponentShift: 0)
        case "[degF]": self = UnitPresentation(code: "[degF]", unit: "°F", exponentShift: 0)
        default: self = UnitPresentation(code: ucum, unit: ucum, exponentShift: 0)
        }
    }

    private init(code: String, unit: String, exponentShift: Int) {
        self.code = code
        self.unit = unit
        self.exponentShift = exponentShift
    }

    /// The value in the presented unit, or nil when the shifted exponent no longer fits (then the caller keeps
    /// the original unit rather than lose the number).
    func shifted(_ value: DecimalQuantity) -> DecimalQuantity? { value.shifted(by: exponentShift) }
}
