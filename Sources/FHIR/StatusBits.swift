import Provenance

/// Device status words as PhdBitsEnumerationObservations (DESIGN.md rule 5: doubtful readings stay doubtful, and
/// the receiver can see exactly what the device said).
///
/// The BLE status bits line up one to one with the IEEE 11073 BITS the PHD IG's ASN1ToHL7 code system names:
/// BP Measurement Status bit N → "8410608.N" (body-movement, cuff-too-loose, irregular-pulse,
/// pulse-over-range-limit, pulse-under-range-limit, improper-body-position); Glucose Sensor Status Annunciation
/// bit N → "8417752.N" for bits 0–10. Only set bits are reported (they are events), each a component whose value is
/// `valueBoolean` true — the only value PhdBitsEnumerationObservation allows. BLE glucose bit 11 ("time
/// fault") does not match the IG's 8417752.11 and reserved bits have no code; both stay visible through the
/// reading's `questionable` interpretation instead.
enum StatusBits {
    struct Bit {
        var bit: Int
        var name: String
        var text: String
    }

    static let bloodPressure = (
        code: Concept.mdc(8_410_608, "MDC_BLOOD_PRESSURE_MEASUREMENT_STATUS"), kind: "bpstatus",
        bits: [
            Bit(bit: 0, name: "body-movement", text: "Too much body movement"),
            Bit(bit: 1, name: "cuff-too-loose", text: "The cuff was too loose"),
            Bit(bit: 2, name: "irregular-pulse", text: "An irregular pulse was detected"),
            Bit(bit: 3, name: "pulse-over-range-limit", text: "The pulse was too high for the sensor to work"),
            Bit(bit: 4, name: "pulse-under-range-limit", text: "The pulse was too low for the sensor to work"),
            Bit(
                bit: 5, name: "improper-body-position",
                text: "The cuff was incorrectly placed with respect to the heart"),
        ]
    )

    static let glucose = (
        code: Concept.mdc(8_417_752, "MDC_GLU_METER_DEV_STATUS"), kind: "glustatus",
        bits: [
            Bit(bit: 0, name: "device-battery-low", text: "The device battery is low"),
            Bit(bit: 1, name: "sensor-malfunction", text: "The sensor has malfunctioned"),
            Bit(bit: 2, name: "sensor-sample-size-insufficient", text: "The sample size is insufficient"),
            Bit(bit: 3, name: "sensor-strip-insertion", text: "The test strip was inserted incorrectly"),
            Bit(
                bit: 4, name: "sensor-strip-type-incorrect", text: "The test strip type is incompatible with the sensor"
            ),
            Bit(bit: 5, name: "sensor-result-too-high", text: "The result is higher than the device can process"),
            Bit(bit: 6, name: "sensor-result-too-low", text: "The result is lower than the device can process"),
            Bit(bit: 7, name: "sensor-temp-too-high", text: "The temperature is too high"),
            Bit(bit: 8, name: "sensor-temp-too-low", text: "The temperature is too low"),
            Bit(bit: 9, name: "sensor-read-interrupt", text: "The read process was interrupted"),
            Bit(bit: 10, name: "device-gen-fault", text: "General device fault"),
        ]
    )

    /// The status Observation of a BP or glucose reading with at least one named bit set; nil otherwise (the pulse
    /// rate a cuff reports with the pressure shares the pressure's status, which is reported once, with the pressure).
    static func observation(_ frame: ObservationFrame) -> FHIRResource? {
        guard let raw = frame.reading.context.rawStatus else { return nil }
        let table: (code: Concept, kind: String, bits: [Bit])? =
            switch frame.reading.kind {
            case .bloodPressure: bloodPressure
            case .glucose: glucose
            case .pulseRate, .heartRate, .bodyTemperature: nil
            }
        guard let table else { return nil }
        let set = table.bits.filter { raw & (1 << UInt16($0.bit)) != 0 }
        guard !set.isEmpty else { return nil }
        let components: [FHIRJSON] = set.map { bit in
            .obj([
                "code": Element.codeable(
                    [Concept(FHIRCodes.asn1ToHL7, "\(table.code.code).\(bit.bit)", bit.name)], text: bit.text),
                "valueBoolean": .bool(true),
            ])
        }
        return frame.observation(
            id: ResourceIDs.derived(table.kind, of: frame.identity, reading: frame.reading), profiles: [FHIRCodes.bitsProfile],
            identifier: frame.identity.hex + "-" + table.code.code, vitalSign: false,
            code: Element.codeable([table.code], text: table.code.display), derivedFrom: [frame.mainReference],
            components: components)
    }
}
