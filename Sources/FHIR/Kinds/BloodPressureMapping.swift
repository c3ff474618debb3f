import Provenance

extension ReadingKindMapping {
    /// A cuff's pressures: one compound Observation (MDC_PRESS_BLD_NONINV + the LOINC panel), one component each.
    static let bloodPressure = ReadingKindMapping(
        kind: .bloodPressure,
        shape: .compound(
            MeasurementCode(
                codings: [
                    .mdc(150020, "MDC_PRESS_BLD_NONINV"),
                    .loinc("85354-9", "Blood pressure panel with all children optional"),
                ],
                text: "Blood pressure"),
            components: [.systolicPressure, .diastolicPressure, .meanArterialPressure]),
        vitalSign: true, specialization: .mdc(528_391, "MDC_DEV_SPEC_PROFILE_BP"),
        specializationText: "Blood Pressure Cuff",
        statusBits: StatusBits.Table(
            code: .mdc(8_410_608, "MDC_BLOOD_PRESSURE_MEASUREMENT_STATUS"), kind: "bpstatus",
            bits: [
                .init(bit: 0, name: "body-movement", text: "Too much body movement"),
                .init(bit: 1, name: "cuff-too-loose", text: "The cuff was too loose"),
                .init(bit: 2, name: "irregular-pulse", text: "An irregular pulse was detected"),
                .init(bit: 3, name: "pulse-over-range-limit", text: "The pulse was too high for the sensor to work"),
                .init(bit: 4, name: "pulse-under-range-limit", text: "The pulse was too low for the sensor to work"),
                .init(
                    bit: 5, name: "improper-body-position",
                    text: "The cuff was incorrectly placed with respect to the heart"),
            ]),
        code: { metric, _, _ in
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
            default: nil
            }
        })

    /// The pulse rate a cuff reports with the pressures: its own numeric Observation, from the same specialization (its
    /// status is the pressure's and is reported once, with the pressure).
    static let pulseRate = ReadingKindMapping(
        kind: .pulseRate, shape: .numeric(.pulseRate), vitalSign: true,
        specialization: .mdc(528_391, "MDC_DEV_SPEC_PROFILE_BP"), specializationText: "Blood Pressure Cuff",
        code: { metric, _, _ in
            metric == .pulseRate
                ? MeasurementCode(
                    codings: [.mdc(149546, "MDC_PULS_RATE_NON_INV"), .loinc("8867-4", "Heart rate")], text: "Pulse rate"
                )
                : nil
        })
}
