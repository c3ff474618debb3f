import Provenance

/// What a measured quantity is called: its MDC code (IEEE 11073-10101) and, for vital signs and glucose, LOINC.
public struct MeasurementCode: Hashable, Sendable {
    public var codings: [Concept]
    public var text: String
}

/// The codes of each metric, confirmed against the PHD IG's examples and the 11073 nomenclature headers.
enum Nomenclature {
    /// The energy a heart-rate sensor has counted since it was last reset (kJ): LOINC's "Calories burned".
    static let energyExpended = MeasurementCode(codings: [.loinc("41981-2", "Calories burned")], text: "Energy expended")

    /// Where a heart-rate sensor is worn (Body Sensor Location) or a temperature was taken (Temperature Type), as SNOMED
    /// CT body structures; "other" has text only.
    static func bodySite(_ location: String?) -> FHIRJSON? {
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

    static let bloodPressure = MeasurementCode(
        codings: [
            .mdc(150020, "MDC_PRESS_BLD_NONINV"), .loinc("85354-9", "Blood pressure panel with all children optional"),
        ],
        text: "Blood pressure")

    static func code(of metric: Metric, glucoseSampleType: String?, unit: String) -> MeasurementCode? {
        switch metric {
        case .systolicPressure:
            MeasurementCode(
                codings: [.mdc(150021, "MDC_PRESS_BLD_NONINV_SYS"), .loinc("8480-6", "Systolic blood pressure")],
                text: "Systolic blood pressure")
        case .diastolicPressure:
            MeasurementCode(
                codings: [.mdc(150022, "MDC_PRESS_BLD_NONINV_DIA"), .loinc("8462-4", "Diastolic blood pressure")],
                text: "Diastolic blood pressure")
        case .meanArterialPressure:
            MeasurementCode(
                codings: [.mdc(150023, "MDC_PRESS_BLD_NONINV_MEAN"), .loinc("8478-0", "Mean blood pressure")],
                text: "Mean blood pressure")
        case .pulseRate:
            MeasurementCode(
                codings: [.mdc(149546, "MDC_PULS_RATE_NON_INV"), .loinc("8867-4", "Heart rate")], text: "Pulse rate")
        case .heartRate:
            MeasurementCode(
                codings: [.mdc(147842, "MDC_ECG_HEART_RATE"), .loinc("8867-4", "Heart rate")], text: "Heart rate")
        case .rrInterval:
            MeasurementCode(codings: [.mdc(147240, "MDC_ECG_TIME_PD_RR_GL")], text: "RR interval")
        case .glucose:
            glucose(sampleType: glucoseSampleType, unit: unit)
        case .bodyTemperature:
            MeasurementCode(
                codings: [.mdc(150364, "MDC_TEMP_BODY"), .loinc("8310-5", "Body temperature")], text: "Body temperature")
        case .energyExpended:
            nil
        }
    }

    /// The glucose concentration code of a sample type (MDC partition 2, SCADA: 29112 capillary whole blood …),
    /// with the LOINC code of the specimen in mass or moles per volume. Capillary samples from a meter are LOINC's
    /// "by Glucometer" codes whether the meter reports whole blood or plasma-equivalent; interstitial fluid and
    /// control solution have no LOINC here.
    static func glucose(sampleType: String?, unit: String) -> MeasurementCode {
        let molar = unit == "mol/L" || unit == "mmol/L"
        enum Specimen { case capillary, blood, plasma, none }
        let (mdc, specimen): (Concept, Specimen) =
            switch sampleType {
            case "capillary_whole_blood": (.mdc(160184, "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD"), .capillary)
            case "capillary_plasma": (.mdc(160188, "MDC_CONC_GLU_CAPILLARY_PLASMA"), .capillary)
            case "venous_whole_blood": (.mdc(160192, "MDC_CONC_GLU_VENOUS_WHOLEBLOOD"), .blood)
            case "venous_plasma": (.mdc(160196, "MDC_CONC_GLU_VENOUS_PLASMA"), .plasma)
            case "arterial_whole_blood": (.mdc(160200, "MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD"), .blood)
            case "arterial_plasma": (.mdc(160204, "MDC_CONC_GLU_ARTERIAL_PLASMA"), .plasma)
            case "undetermined_whole_blood": (.mdc(160364, "MDC_CONC_GLU_UNDETERMINED_WHOLEBLOOD"), .blood)
            case "undetermined_plasma": (.mdc(160368, "MDC_CONC_GLU_UNDETERMINED_PLASMA"), .plasma)
            case "interstitial_fluid": (.mdc(160212, "MDC_CONC_GLU_ISF"), .none)
            case "control_solution": (.mdc(160208, "MDC_CONC_GLU_CONTROL"), .none)
            default: (.mdc(160020, "MDC_CONC_GLU_GEN"), .blood)
            }
        let loinc: Concept? =
            switch (specimen, molar) {
            case (.capillary, false): .loinc("41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer")
            case (.capillary, true): .loinc("14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer")
            case (.blood, false): .loinc("2339-0", "Glucose [Mass/volume] in Blood")
            case (.blood, true): .loinc("15074-8", "Glucose [Moles/volume] in Blood")
            case (.plasma, false): .loinc("2345-7", "Glucose [Mass/volume] in Serum or Plasma")
            case (.plasma, true): .loinc("14749-6", "Glucose [Moles/volume] in Serum or Plasma")
            case (.none, _): nil
            }
        return MeasurementCode(codings: [mdc] + (loinc.map { [$0] } ?? []), text: "Glucose")
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
