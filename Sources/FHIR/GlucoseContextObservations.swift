import Provenance

/// A glucose meter's measurement context, each part its own Observation derived from the glucose Observation it
/// describes, so a reader can tell a fasting value from an after-meal one, or a nurse's test from the person's own.
/// Meal, sample location, tester and health are PhdCodedEnumerationObservations as in the PHD IG's meal-context
/// example (MDC_CTXT_GLU_MEAL 8417864 with MDC_CTXT_GLU_MEAL_POSTPRANDIAL 8417872); carbohydrate, medication,
/// exercise and HbA1c are PhdNumericObservations with the IEEE 11073-10417 codes of the same partition (128,
/// PHD disease management: 8388608 + term code). The IG has no example of those four; their codes are the
/// nomenclature's, the unit the one a person reads (g, mg or mL, %, s) rather than the Bluetooth field's kg or L.
enum GlucoseContextObservations {
    /// MDC partition 128 (PHD disease management): 8388608 + term code.
    static let meal = (
        code: Concept.mdc(8_417_864, "MDC_CTXT_GLU_MEAL"), text: "Meal context",
        values: [
            "preprandial": Concept.mdc(8_417_868, "MDC_CTXT_GLU_MEAL_PREPRANDIAL"),
            "postprandial": Concept.mdc(8_417_872, "MDC_CTXT_GLU_MEAL_POSTPRANDIAL"),
            "fasting": Concept.mdc(8_417_876, "MDC_CTXT_GLU_MEAL_FASTING"),
            "casual": Concept.mdc(8_417_880, "MDC_CTXT_GLU_MEAL_CASUAL"),
            // 29261: the current nomenclature's term. Older tables give 29300, which it assigns to
            // MDC_BATCHCODE_COAG — a code cannot mean both.
            "bedtime": Concept.mdc(8_417_869, "MDC_CTXT_GLU_MEAL_BEDTIME"),
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

    static let tester = (
        code: Concept.mdc(8_417_884, "MDC_CTXT_GLU_TESTER"), text: "Tester",
        values: [
            "self": Concept.mdc(8_417_888, "MDC_CTXT_GLU_TESTER_SELF"),
            "health_care_professional": Concept.mdc(8_417_892, "MDC_CTXT_GLU_TESTER_HCP"),
            "lab_test": Concept.mdc(8_417_896, "MDC_CTXT_GLU_TESTER_LAB"),
        ]
    )

    static let health = (
        code: Concept.mdc(8_417_820, "MDC_CTXT_GLU_HEALTH"), text: "Health",
        values: [
            "minor_health_issues": Concept.mdc(8_417_824, "MDC_CTXT_GLU_HEALTH_MINOR"),
            "major_health_issues": Concept.mdc(8_417_828, "MDC_CTXT_GLU_HEALTH_MAJOR"),
            "during_menses": Concept.mdc(8_417_832, "MDC_CTXT_GLU_HEALTH_MENSES"),
            "under_stress": Concept.mdc(8_417_836, "MDC_CTXT_GLU_HEALTH_STRESS"),
            "no_health_issues": Concept.mdc(8_417_840, "MDC_CTXT_GLU_HEALTH_NONE"),
        ]
    )

    /// Carbohydrate intake by meal; MDC_CTXT_GLU_CARB itself for an identifier this version does not know.
    static let carbohydrate = (
        code: Concept.mdc(8_417_764, "MDC_CTXT_GLU_CARB"),
        byMeal: [
            "breakfast": Concept.mdc(8_417_768, "MDC_CTXT_GLU_CARB_BREAKFAST"),
            "lunch": Concept.mdc(8_417_772, "MDC_CTXT_GLU_CARB_LUNCH"),
            "dinner": Concept.mdc(8_417_776, "MDC_CTXT_GLU_CARB_DINNER"),
            "snack": Concept.mdc(8_417_780, "MDC_CTXT_GLU_CARB_SNACK"),
            "drink": Concept.mdc(8_417_784, "MDC_CTXT_GLU_CARB_DRINK"),
            "supper": Concept.mdc(8_417_788, "MDC_CTXT_GLU_CARB_SUPPER"),
            "brunch": Concept.mdc(8_417_792, "MDC_CTXT_GLU_CARB_BRUNCH"),
        ]
    )

    static let medication = (
        code: Concept.mdc(8_417_796, "MDC_CTXT_MEDICATION"),
        byKind: [
            "rapid_acting_insulin": Concept.mdc(8_417_800, "MDC_CTXT_MEDICATION_RAPIDACTING"),
            "short_acting_insulin": Concept.mdc(8_417_804, "MDC_CTXT_MEDICATION_SHORTACTING"),
            "intermediate_acting_insulin": Concept.mdc(8_417_808, "MDC_CTXT_MEDICATION_INTERMEDIATEACTING"),
            "long_acting_insulin": Concept.mdc(8_417_812, "MDC_CTXT_MEDICATION_LONGACTING"),
            "pre_mixed_insulin": Concept.mdc(8_417_816, "MDC_CTXT_MEDICATION_PREMIX"),
        ]
    )

    static let exercise = Concept.mdc(8_417_760, "MDC_CTXT_GLU_EXERCISE")
    /// How long the exercise lasted: the 11073 Measure-Active-Period attribute (partition 1, term 2649).
    static let exerciseDuration = Concept.mdc(68_185, "MDC_ATTR_TIME_PD_MSMT_ACTIVE")
    /// Partition 2 (SCADA), term 29148.
    static let hba1c = Concept.mdc(160_220, "MDC_CONC_HBA1C")

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
        // "not_available" (15) is the meter not knowing who tested or how they felt: nothing to report.
        if let name = context.tester, let value = tester.values[name] {
            resources.append(
                coded(frame, kind: "tester", code: tester.code, text: tester.text, value: value, valueText: name))
        }
        if let name = context.health, let value = health.values[name] {
            resources.append(
                coded(frame, kind: "health", code: health.code, text: health.text, value: value, valueText: name))
        }
        if let amount = context.carbohydrateKilograms, let grams = amount.shifted(by: 3) {
            let name = context.carbohydrateID ?? "unknown"
            let code = carbohydrate.byMeal[name] ?? carbohydrate.code
            resources.append(
                numeric(
                    frame, kind: "carbohydrate", code: code,
                    text: "Carbohydrate (\(name.replacingOccurrences(of: "_", with: " ")))",
                    value: Element.quantity(number: grams.description, code: "g", unit: "g")))
        }
        if let amount = context.medicationQuantity, let unit = context.medicationUnit {
            let name = context.medicationID ?? "unknown"
            let code = medication.byKind[name] ?? medication.code
            // Kilograms of insulin are milligrams to a person; liters, millilitres.
            let shown =
                unit == "L" ? amount.shifted(by: 3).map { ($0, "mL") } : amount.shifted(by: 6).map { ($0, "mg") }
            if let (value, ucum) = shown {
                resources.append(
                    numeric(
                        frame, kind: "medication", code: code,
                        text: "Medication (\(name.replacingOccurrences(of: "_", with: " ")))",
                        value: Element.quantity(number: value.description, code: ucum, unit: ucum)))
            }
        }
        if let intensity = context.exerciseIntensityPercent {
            var duration: [ExactJSON] = []
            if let seconds = context.exerciseDurationSeconds {
                // 65535 is the field's overrun value: longer than it can hold, so "at least" that long.
                let quantity = ExactJSON.obj([
                    "value": .integer(seconds), "comparator": seconds == 0xFFFF ? .string(">=") : nil,
                    "unit": .string("s"),
                    "system": .string(FHIRCodes.ucum), "code": .string("s"),
                ])
                duration.append(
                    .obj([
                        "code": Element.codeable([exerciseDuration], text: "Exercise duration"),
                        "valueQuantity": quantity,
                    ]))
            }
            resources.append(
                numeric(
                    frame, kind: "exercise", code: exercise, text: "Exercise intensity",
                    value: Element.quantity(number: String(intensity), code: "%", unit: "%"), components: duration))
        }
        if let percent = context.hba1cPercent {
            resources.append(
                numeric(
                    frame, kind: "hba1c", code: hba1c, text: "HbA1c",
                    value: Element.quantity(number: percent.description, code: "%", unit: "%")))
        }
        return resources
    }

    static func numeric(
        _ frame: ObservationFrame, kind: String, code: Concept, text: String, value: ExactJSON,
        components: [ExactJSON] = []
    ) -> FHIRResource {
        frame.observation(
            id: ResourceIDs.derived(kind, of: frame.identity, reading: frame.reading),
            profiles: [FHIRCodes.numericProfile],
            identifier: frame.identity.hex + "-" + code.code, vitalSign: false,
            code: Element.codeable([code], text: text),
            value: ("valueQuantity", value), derivedFrom: [frame.mainReference], components: components)
    }

    static func coded(
        _ frame: ObservationFrame, kind: String, code: Concept, text: String, value: Concept, valueText: String
    ) -> FHIRResource {
        frame.observation(
            id: ResourceIDs.derived(kind, of: frame.identity, reading: frame.reading),
            profiles: [FHIRCodes.codedProfile],
            identifier: frame.identity.hex + "-" + code.code, vitalSign: false,
            code: Element.codeable([code], text: text),
            value: (
                "valueCodeableConcept",
                Element.codeable([value], text: valueText.replacingOccurrences(of: "_", with: " "))
            ),
            derivedFrom: [frame.mainReference])
    }
}
