import Provenance

extension ReadingKindMapping {
    /// A pulse oximeter's saturation: a numeric vital sign, MDC_PULS_OXIM_SAT_O2 with LOINC 59408-5 (by pulse
    /// oximetry) and 2708-6 (the FHIR vital-signs oxygen saturation code), in %; the pulse amplitude index rides along
    /// as a component (MDC_PULS_OXIM_PERF_REL).
    static let oxygenSaturation = ReadingKindMapping(
        kind: .oxygenSaturation, shape: .numeric(.oxygenSaturation), vitalSign: true,
        specialization: .mdc(528_388, "MDC_DEV_SPEC_PROFILE_PULS_OXIM"), specializationText: "Pulse Oximeter",
        code: { metric, _, _ in
            switch metric {
            case .oxygenSaturation:
                MeasurementCode(
                    codings: [
                        .mdc(150456, "MDC_PULS_OXIM_SAT_O2"),
                        .loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
                        .loinc("2708-6", "Oxygen saturation in Arterial blood"),
                    ],
                    text: "Oxygen saturation (SpO2)")
            case .pulseAmplitudeIndex:
                MeasurementCode(codings: [.mdc(150448, "MDC_PULS_OXIM_PERF_REL")], text: "Pulse amplitude index")
            default: nil
            }
        })

    /// The pulse rate a pulse oximeter reports: MDC_PULS_OXIM_PULS_RATE + LOINC 8867-4, its own numeric Observation.
    static let oximetryPulseRate = ReadingKindMapping(
        kind: .oximetryPulseRate, shape: .numeric(.oximetryPulseRate), vitalSign: true,
        specialization: .mdc(528_388, "MDC_DEV_SPEC_PROFILE_PULS_OXIM"), specializationText: "Pulse Oximeter",
        code: { metric, _, _ in
            metric == .oximetryPulseRate
                ? MeasurementCode(
                    codings: [.mdc(149530, "MDC_PULS_OXIM_PULS_RATE"), .loinc("8867-4", "Heart rate")],
                    text: "Pulse rate")
                : nil
        })
}
