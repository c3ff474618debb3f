import Provenance

/// A glucose meter's meal context and sample location, each as its own PhdCodedEnumerationObservation — the
/// PHD IG's meal-context example (MDC_CTXT_GLU_MEAL 8417864 with MDC_CTXT_GLU_MEAL_POSTPRANDIAL 8417872) — derived
/// from the glucose Observation they describe, so a reader can tell a fasting value from an after-meal one.
enum GlucoseContextObservations {
    /// MDC partition 128 (PHD disease management): 8388608 + term code.
    static let meal = (
        code: Concept.mdc(8_417_864, "MDC_CTXT_GLU_MEAL"), text: "Meal context",
        values: [
            "preprandial": Concept.mdc(8_417_868, "MDC_CTXT_GLU_MEAL_PREPRANDIAL"),
            "postprandial": Concept.mdc(8_417_872, "MDC_CTXT_GLU_MEAL_POSTPRANDIAL"),
            "fasting": Concept.mdc(8_417_876, "MDC_CTXT_GLU_MEAL_FASTING"),
            "casual": Concept.mdc(8_417_880, "MDC_CTXT_GLU_MEAL_CASUAL"),
            "bedtime": Concept.mdc(8_417_908, "MDC_CTXT_GLU_MEAL_BEDTIME"),
        ]
    )

    static let sampleLocation = (
        code: Concept.mdc(8_417_844, "MDC_CTXT_GLU_SAMPLELOCATION"), text: "Sample location",
        values: [
            "finger": Concept.mdc(8_417_848, "MDC_CTXT_GLU_SAMPLELOCATION_FINGER"),
            "alternate_site_test": Concept.mdc(8_417_852, "MDC_CTXT_GLU_SAMPLELOCATION_AST"),
            "earlobe": Concept.mdc(8_417_856, "MDC_CTXT_GLU_SAMPLELOCATION_EARLOBE"),
            "control_solution": Concept.mdc(8_417_860, "MDC_CTXT_GLU_SAMPLELOCATION_CTRLSOLUTION"),
        ]
    )

    static func observations(_ frame: ObservationFrame) -> [FHIRResource] {
        guard frame.reading.kind == .glucose, let context = frame.reading.context.glucose else { return [] }
        var resources: [FHIRResource] = []
        if let name = context.meal, let value = meal.values[name] {
            resources.append(
                coded(frame, kind: "meal", code: meal.code, text: meal.text, value: value, valueText: name))
        }
        // "not_available" is the meter saying it does not know: nothing to report.
        if let name = context.sampleLocation, let value = sampleLocation.values[name] {
            resources.append(
                coded(
                    frame, kind: "location", code: sampleLocation.code, text: sampleLocation.text, value: value,
                    valueText: name))
        }
        return resources
    }

    static func coded(
        _ frame: ObservationFrame, kind: String, code: Concept, text: String, value: Concept, valueText: String
    ) -> FHIRResource {
        frame.observation(
            id: ResourceIDs.derived(kind, of: frame.identity, reading: frame.reading), profiles: [FHIRCodes.codedProfile],
            identifier: frame.identity.hex + "-" + code.code, vitalSign: false,
            code: Element.codeable([code], text: text),
            value: (
                "valueCodeableConcept",
                Element.codeable([value], text: valueText.replacingOccurrences(of: "_", with: " "))
            ),
            derivedFrom: [frame.mainReference])
    }
}
