import Provenance

extension ReadingKindMapping {
    /// A strap's heart rate (numeric), its RR intervals in beat order and the energy it counted as components; a
    /// heart-rate-only ECG sub-specialization.
    static let heartRate = ReadingKindMapping(
        kind: .heartRate, shape: .numeric(.heartRate), vitalSign: true,
        specialization: .mdc(528_525, "MDC_DEV_SUB_SPEC_PROFILE_HR"), specializationText: "Heart Rate Monitor",
        code: { metric, _, _ in
            switch metric {
            case .heartRate:
                MeasurementCode(
                    codings: [.mdc(147842, "MDC_ECG_HEART_RATE"), .loinc("8867-4", "Heart rate")], text: "Heart rate")
            case .rrInterval: MeasurementCode(codings: [.mdc(147240, "MDC_ECG_TIME_PD_RR_GL")], text: "RR interval")
            default: nil
            }
        },
        // The energy counted since the sensor was last reset (kJ): LOINC's "Calories burned".
        componentCode: { metric in
            metric == .energyExpended
                ? MeasurementCode(codings: [.loinc("41981-2", "Calories burned")], text: "Energy expended") : nil
        })
}
