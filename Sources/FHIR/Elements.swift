import Provenance

/// Builders for the FHIR data types the mappers share, so every Coding, Quantity and Reference is spelled one way.
public enum Element {
    static func coding(_ concept: Concept) -> ExactJSON {
        .obj([
            "system": .string(concept.system), "code": .string(concept.code),
            "display": concept.display.map(ExactJSON.string),
        ])
    }

    static func codeable(_ concepts: [Concept], text: String? = nil) -> ExactJSON {
        // FHIR has no empty arrays: a concept without a code (body impedance) is its text alone.
        .obj(["coding": concepts.isEmpty ? nil : .array(concepts.map(coding)), "text": text.map(ExactJSON.string)])
    }

    static func codeable(_ code: MeasurementCode) -> ExactJSON { codeable(code.codings, text: code.text) }

    static func reference(_ target: String, display: String? = nil) -> ExactJSON {
        .obj(["reference": .string(target), "display": display.map(ExactJSON.string)])
    }

    /// A Quantity with the exact decimal text; glucose is shown in mg/dL or mmol/L (an exact shift of the point).
    static func quantity(_ value: DecimalQuantity, ucum: String) -> ExactJSON {
        let presentation = UnitPresentation(ucum: ucum)
        if let shifted = presentation.shifted(value) {
            return quantity(number: shifted.description, code: presentation.code, unit: presentation.unit)
        }
        return quantity(number: value.description, code: ucum, unit: ucum)
    }

    static func quantity(number: String, code: String, unit: String) -> ExactJSON {
        .obj([
            "value": .number(number), "unit": .string(unit), "system": .string(FHIRCodes.ucum), "code": .string(code),
        ])
    }

    /// `valueQuantity`, or `dataAbsentReason` when the device sent a special value (never both: obs-6).
    static func value(_ value: ReadingValue, ucum: String) -> (key: String, json: ExactJSON) {
        switch value {
        case .quantity(let quantity): ("valueQuantity", self.quantity(quantity, ucum: ucum))
        case .absent(let reason): ("dataAbsentReason", dataAbsent(reason))
        }
    }

    /// The PHD IG's mapping of IEEE 11073 special values: NaN → not-a-number, ±INFINITY → positive-/negative-infinity,
    /// NRes and reserved → error; a record sent without its value (a status-only glucose record: the measurement
    /// failed) → error too. The text keeps the device's own word.
    static func dataAbsent(_ reason: AbsentValueReason) -> ExactJSON {
        let (code, display): (String, String) =
            switch reason {
            case .notANumber: ("not-a-number", "Not a Number (NaN)")
            case .positiveInfinity: ("positive-infinity", "Positive Infinity (PINF)")
            case .negativeInfinity: ("negative-infinity", "Negative Infinity (NINF)")
            case .notAtThisResolution, .reserved, .notReported: ("error", "Error")
            }
        return codeable([Concept(FHIRCodes.dataAbsentReason, code, display)], text: reason.rawValue)
    }

    static func dataAbsent(code: String, display: String, text: String) -> ExactJSON {
        codeable([Concept(FHIRCodes.dataAbsentReason, code, display)], text: text)
    }

    static func extensionReference(_ url: String, _ target: String) -> ExactJSON {
        .obj(["url": .string(url), "valueReference": reference(target)])
    }

    /// `meta`: the profiles claimed, and HTEST when the data is test data (control solution, simulated device).
    static func meta(profiles: [String], testData: Bool) -> ExactJSON {
        .obj([
            "profile": .list(profiles.map(ExactJSON.string)),
            "security": testData ? .array([coding(Concept(FHIRCodes.actReason, "HTEST", "test health data"))]) : nil,
        ])
    }

    /// The `meta` of a resource made of test data and claiming no profile (a test person's summaries, the API's
    /// statistics of them).
    public static let testDataMeta = meta(profiles: [], testData: true)

    static let vitalSignsCategory = codeable(
        [Concept(FHIRCodes.observationCategory, "vital-signs", "Vital Signs")], text: "Vital Signs")
    static let phdCategory = codeable([Concept(FHIRCodes.phdCategory, "phd", "PHD generated Observation")])
}
