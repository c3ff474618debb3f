import Provenance

extension ReadingKindMapping {
    /// A meter's glucose concentration: numeric, not a vital sign; its code follows the sample type and unit; its
    /// Sensor Status Annunciation as the glucose meter's device status bits.
    static let glucose = ReadingKindMapping(
        kind: .glucose, shape: .numeric(.glucose), vitalSign: false,
        specialization: .mdc(528_401, "MDC_DEV_SPEC_PROFILE_GLUCOSE"), specializationText: "Glucose Monitor",
        statusBits: StatusBits.Table(
            code: .mdc(8_417_752, "MDC_GLU_METER_DEV_STATUS"), kind: "glustatus",
            bits: [
                .init(bit: 0, name: "device-battery-low", text: "The device battery is low"),
                .init(bit: 1, name: "sensor-malfunction", text: "The sensor has malfunctioned"),
                .init(bit: 2, name: "sensor-sample-size-insufficient", text: "The sample size is insufficient"),
                .init(bit: 3, name: "sensor-strip-insertion", text: "The test strip was inserted incorrectly"),
                .init(
                    bit: 4, name: "sensor-strip-type-incorrect",
                    text: "The test strip type is incompatible with the sensor"
                ),
                .init(bit: 5, name: "sensor-result-too-high", text: "The result is higher than the device can process"),
                .init(bit: 6, name: "sensor-result-too-low", text: "The result is lower than the device can process"),
                .init(bit: 7, name: "sensor-temp-too-high", text: "The temperature is too high"),
                .init(bit: 8, name: "sensor-temp-too-low", text: "The temperature is too low"),
                .init(bit: 9, name: "sensor-read-interrupt", text: "The read process was interrupted"),
                .init(bit: 10, name: "device-gen-fault", text: "General device fault"),
            ]),
        code: { metric, sampleType, unit in metric == .glucose ? glucoseCode(sampleType: sampleType, unit: unit) : nil }
    )

    /// The glucose concentration code of a sample type (MDC partition 2, SCADA: 29112 capillary whole blood …),
    /// with the LOINC code of the specimen in mass or moles per volume. Capillary samples from a meter are LOINC's
    /// "by Glucometer" codes whether the meter reports whole blood or plasma-equivalent; interstitial fluid and
    /// control solution have no LOINC here.
    static func glucoseCode(sampleType: String?, unit: String) -> MeasurementCode {
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
}
