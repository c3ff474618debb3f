import Provenance

/// Readings → HL7 FHIR R4 Observations following the Personal Health Device IG STU2.
///
/// One reading gives, in this order: its own Observation (compound numeric for blood pressure, numeric for pulse
/// rate, heart rate and glucose); the coincident-timestamp Observation when the device stamped it; a
/// bits-enumeration Observation for set status bits (BP measurement status, glucose sensor annunciations), derived
/// from the reading's Observation; and for glucose the meal and sample-location context Observations. Ids come from
/// the reading identity, so mapping a reading again gives identical resources.
public enum ObservationMapper {
    /// The Observations of `reading`; empty while the reading has no subject (an unmapped reading is held, not
    /// guessed — DESIGN.md rule 6). `gatewayDeviceID` is the PhgDevice's id (`DeviceMapper.phgDeviceID`).
    public static func observations(for reading: Reading, gatewayDeviceID: String) -> [FHIRResource] {
        guard let subject = reading.subject, let identity = reading.identity else { return [] }
        let phdDeviceID = ResourceIDs.phdDevice(key: reading.device.key)
        let coincident = CoincidentTimeStamp.observation(
            for: reading, phdDeviceID: phdDeviceID, gatewayDeviceID: gatewayDeviceID)
        let frame = ObservationFrame(
            reading: reading, subject: subject, identity: identity, gatewayDeviceID: gatewayDeviceID,
            phdDeviceID: phdDeviceID,
            coincidentTimeStampID: coincident?.id)
        var resources = [primary(frame)]
        if let coincident { resources.append(coincident) }
        if let status = StatusBits.observation(frame) { resources.append(status) }
        resources += GlucoseContextObservations.observations(frame)
        return resources
    }

    /// The reading's own Observation.
    static func primary(_ frame: ObservationFrame) -> FHIRResource {
        let reading = frame.reading
        let id = frame.observationID
        var note = frame.timeNote
        let mapping = ReadingKindMapping.of(reading.kind)
        switch mapping.shape {
        case .compound(let code, let metrics):
            // Compound numeric: no value of its own, one component per metric, each exact or absent.
            let components: [ExactJSON] = reading.components.compactMap { component in
                guard metrics.contains(component.metric),
                    let code = mapping.code(component.metric, nil, component.unit)
                else { return nil }
                return ObservationFrame.component(code, component.value, ucum: component.unit)
            }
            return frame.observation(
                id: id, profiles: [FHIRCodes.compoundNumericProfile], identifier: frame.identity.hex,
                vitalSign: mapping.vitalSign,
                code: Element.codeable(code), interpretation: frame.interpretation, note: note, components: components)
        case .numeric(let metric):
            let main = reading.component(metric)
            let unit = main?.unit ?? ""
            let sampleType = reading.context.glucose?.sampleType
            let code = mapping.code(metric, sampleType, unit) ?? MeasurementCode(codings: [], text: metric.rawValue)
            // A reading without its main component is not a number either: say so rather than invent one.
            let value = Element.value(main?.value ?? .absent(.notANumber), ucum: unit)
            // The reading's other coded components travel with it in their order: a strap's RR intervals in beat
            // order, then the energy it has counted since it was reset.
            let components: [ExactJSON] = reading.components.filter { $0.metric != metric }.compactMap { component in
                (mapping.code(component.metric, sampleType, component.unit) ?? mapping.componentCode(component.metric))
                    .map {
                        ObservationFrame.component($0, component.value, ucum: component.unit)
                    }
            }
            if reading.context.glucose?.contextMissing == true {
                note = [note, "The meter announced a measurement context that never arrived."].compactMap { $0 }.joined(
                    separator: " ")
            }
            return frame.observation(
                id: id, profiles: [FHIRCodes.numericProfile], identifier: frame.identity.hex,
                vitalSign: mapping.vitalSign,
                code: Element.codeable(code), value: value, interpretation: frame.interpretation, note: note,
                bodySite: Nomenclature.bodySite(reading.context.bodySensorLocation), components: components)
        }
    }
}
