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
    struct Bit: Sendable {
        var bit: Int
        var name: String
        var text: String
    }

    /// A kind's status word: its 11073 BITS code, the id prefix of its Observations, and the named bits.
    struct Table: Sendable {
        var code: Concept
        var kind: String
        var bits: [Bit]
    }

    /// The status Observation of a BP or glucose reading with at least one named bit set; nil otherwise (the pulse
    /// rate a cuff reports with the pressure shares the pressure's status, which is reported once, with the pressure).
    static func observation(_ frame: ObservationFrame) -> FHIRResource? {
        guard let raw = frame.reading.context.rawStatus else { return nil }
        guard let table = ReadingKindMapping.of(frame.reading.kind).statusBits else { return nil }
        let set = table.bits.filter { raw & (1 << UInt16($0.bit)) != 0 }
        guard !set.isEmpty else { return nil }
        let components: [ExactJSON] = set.map { bit in
            .obj([
                "code": Element.codeable(
                    [Concept(FHIRCodes.asn1ToHL7, "\(table.code.code).\(bit.bit)", bit.name)], text: bit.text),
                "valueBoolean": .bool(true),
            ])
        }
        return frame.observation(
            id: ResourceIDs.derived(table.kind, of: frame.identity, reading: frame.reading),
            profiles: [FHIRCodes.bitsProfile],
            identifier: frame.identity.hex + "-" + table.code.code, vitalSign: false,
            code: Element.codeable([table.code], text: table.code.display), derivedFrom: [frame.mainReference],
            components: components)
    }
}
