import Provenance

extension ReadingKindMapping {
    /// A scale's weight: MDC_MASS_BODY_ACTUAL + LOINC 29463-7, in kg or [lb_av] exactly as weighed (a vital sign).
    static let bodyWeight = single(
        .bodyWeight, .bodyWeight,
        MeasurementCode(
            codings: [.mdc(188736, "MDC_MASS_BODY_ACTUAL"), .loinc("29463-7", "Body weight")], text: "Body weight"))
    /// MDC_LEN_BODY_ACTUAL + LOINC 8302-2, in m or [in_i].
    static let bodyHeight = single(
        .bodyHeight, .bodyHeight,
        MeasurementCode(
            codings: [.mdc(188740, "MDC_LEN_BODY_ACTUAL"), .loinc("8302-2", "Body height")], text: "Body height"))
    /// MDC_RATIO_MASS_BODY_LEN_SQ + LOINC 39156-5, kg/m2.
    static let bodyMassIndex = single(
        .bodyMassIndex, .bodyMassIndex,
        MeasurementCode(
            codings: [.mdc(188752, "MDC_RATIO_MASS_BODY_LEN_SQ"), .loinc("39156-5", "Body mass index (BMI) [Ratio]")],
            text: "Body mass index"))

    /// Body fat (MDC_BODY_FAT + LOINC 41982-0, %) with the analysis's other values as components, each by its MDC code
    /// where 11073-10420 has one (impedance has none: text only). Not a vital sign.
    static let bodyComposition = ReadingKindMapping(
        kind: .bodyComposition, shape: .numeric(.bodyFat), vitalSign: false,
        specialization: .mdc(528_404, "MDC_DEV_SPEC_PROFILE_BCA"), specializationText: "Body Composition Analyzer",
        code: { metric, _, _ in
            switch metric {
            case .bodyFat:
                MeasurementCode(
                    codings: [.mdc(188748, "MDC_BODY_FAT"), .loinc("41982-0", "Percentage of body fat Measured")],
                    text: "Body fat")
            case .fatFreeMass: MeasurementCode(codings: [.mdc(188756, "MDC_MASS_BODY_FAT_FREE")], text: "Fat free mass")
            case .softLeanMass:
                MeasurementCode(codings: [.mdc(188760, "MDC_MASS_BODY_SOFT_LEAN")], text: "Soft lean mass")
            case .bodyWaterMass: MeasurementCode(codings: [.mdc(188764, "MDC_BODY_WATER")], text: "Body water mass")
            case .basalMetabolism:
                MeasurementCode(codings: [.mdc(188768, "MDC_BASAL_METABOLISM")], text: "Basal metabolism")
            case .musclePercentage:
                MeasurementCode(codings: [.mdc(188772, "MDC_BODY_MUSCLE")], text: "Muscle percentage")
            case .muscleMass: MeasurementCode(codings: [.mdc(188776, "MDC_MASS_BODY_MUSCLE")], text: "Muscle mass")
            case .impedance: MeasurementCode(codings: [], text: "Body impedance")
            default: nil
            }
        })

    /// A kind of one metric from a scale (the weighing scale specialization, MDC_DEV_SPEC_PROFILE_SCALE).
    private static func single(_ kind: ReadingKind, _ metric: Metric, _ code: MeasurementCode) -> ReadingKindMapping {
        ReadingKindMapping(
            kind: kind, shape: .numeric(metric), vitalSign: true,
            specialization: .mdc(528_399, "MDC_DEV_SPEC_PROFILE_SCALE"),
            specializationText: "Weighing Scale", code: { candidate, _, _ in candidate == metric ? code : nil })
    }
}
