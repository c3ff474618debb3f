import Provenance

extension ReadingKindMapping {
    /// A thermometer's reading: a numeric vital sign, MDC_TEMP_BODY + LOINC 8310-5 in UCUM Cel or [degF] (the FHIR
    /// vital-signs body temperature), the site it was taken at as the bodySite.
    static let bodyTemperature = ReadingKindMapping(
        kind: .bodyTemperature, shape: .numeric(.bodyTemperature), vitalSign: true,
        specialization: .mdc(528_392, "MDC_DEV_SPEC_PROFILE_TEMP"), specializationText: "Thermometer",
        code: { metric, _, _ in
            metric == .bodyTemperature
                ? MeasurementCode(
                    codings: [.mdc(150364, "MDC_TEMP_BODY"), .loinc("8310-5", "Body temperature")],
                    text: "Body temperature")
                : nil
        })
}
