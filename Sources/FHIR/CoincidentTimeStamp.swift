import Provenance

/// The PhdCoincidentTimeStampObservation: the device's clock read at a known gateway time, so anyone can audit how
/// a reading's time was derived (DESIGN.md rule 2). Per the PHD IG, every reading that carries a device timestamp
/// references one; readings stamped by the gateway (no device time) do not.
///
/// effectiveDateTime is the gateway's time, valueDateTime the device's time at that moment (in the device's own
/// offset when it has Local Time Information, else the gateway's), subject the PHD, device the PHG. When the device
/// could not be asked for its current time, the IG's "time fault" form is used: no value, dataAbsentReason
/// `unknown`. One comparison serves every reading of a connection, so its id comes from the device and the
/// comparison's gateway time — the readings share it.
enum CoincidentTimeStamp {
    static let absoluteTime = Concept.mdc(67975, "MDC_ATTR_TIME_ABS")
    public static let identifierSystem = "urn:gatewayd:coincident-timestamp"

    static func observation(for reading: Reading, phdDeviceID: String, gatewayDeviceID: String) -> FHIRResource? {
        let time = reading.time
        guard let stamp = time.deviceTimestamp else { return nil }
        let offset = time.localOffsetSeconds
        let id: String
        let effective: String
        let value: (String, ExactJSON)
        if let clock = time.clock {
            id =
                "coin-"
                + ResourceIDs.sha256Hex(Array("gatewayd-coin\n\(reading.device.key)\n\(clock.gatewayMicros)".utf8))
                .prefix(40)
            effective = FHIRTime.dateTime(utcMicros: clock.gatewayMicros, offsetSeconds: offset)
            let device = clock.deviceTime
            let deviceOffset = clock.deviceUTCOffsetMinutes.map { $0 * 60 } ?? offset
            if let year = device.year, let month = device.month, let day = device.day,
                let text = FHIRTime.dateTime(
                    wallClock: (year, month, day, device.hour, device.minute, device.second),
                    offsetSeconds: deviceOffset)
            {
                value = ("valueDateTime", .string(text))
            } else {
                value = (
                    "dataAbsentReason",
                    Element.dataAbsent(code: "unknown", display: "Unknown", text: "Device clock incomplete: \(device)")
                )
            }
        } else {
            // The device stamped the reading but its current time could not be read: a time fault.
            id =
                "coin-"
                + ResourceIDs.sha256Hex(
                    Array("gatewayd-coin\n\(reading.device.key)\nno-clock\n\(time.receivedMicros)".utf8)
                ).prefix(40)
            effective = FHIRTime.dateTime(utcMicros: time.receivedMicros, offsetSeconds: offset)
            value = (
                "dataAbsentReason",
                Element.dataAbsent(
                    code: "unknown", display: "Unknown",
                    text: "Sensor time fault: the device's current time was not available")
            )
        }
        var members: [ExactJSON.Member] = [
            .init("resourceType", "Observation"), .init("id", .string(id)),
            .init(
                "meta",
                Element.meta(
                    profiles: [FHIRCodes.coincidentTimeStampProfile], testData: reading.flags.contains(.testData))),
            // Not a PhdBaseObservation (no conditionalCreate slice): gatewayd's own system, so a receiver can
            // conditionally create it like every other resource it is sent.
            .init("identifier", .array([.obj(["system": .string(identifierSystem), "value": .string(id)])])),
            .init("status", "final"),
            .init("code", Element.codeable([absoluteTime], text: "Absolute time")),
            .init("subject", Element.reference("Device/" + phdDeviceID)),
            .init("effectiveDateTime", .string(effective)),
            .init(value.0, value.1),
        ]
        members.append(.init("note", .array([.obj(["text": .string(comparisonNote(time))])])))
        members.append(.init("device", Element.reference("Device/" + gatewayDeviceID)))
        return FHIRResource(resourceType: "Observation", id: id, json: .object(members))
    }

    /// The comparison in words. Only what the readings of the connection share: what each reading's timestamp became
    /// (kept, mapped, refused) is in its own Observation's note, so this resource — one id per comparison — has the same
    /// content whichever reading it is sent with.
    static func comparisonNote(_ time: TimeProvenance) -> String {
        guard time.clock != nil else { return "The device's current time could not be read when it sent its readings." }
        return time.clockOffsetMicros.map { "Device clock minus gateway clock: \(seconds($0)) s." }
            ?? "The device's clock could not be compared with the gateway's (its date is incomplete)."
    }

    /// Exact seconds from microseconds, signed ("+600", "-0.5").
    static func seconds(_ micros: Int64) -> String {
        let text = DecimalQuantity(mantissa: micros, exponent: -6).trimmed.description
        return micros > 0 ? "+" + text : text
    }
}

extension DecimalQuantity {
    /// The same number without trailing fractional zeros (600.000000 → 600): for durations, not measurements,
    /// whose zeros are significant.
    var trimmed: DecimalQuantity {
        var value = self
        while value.exponent < 0, value.mantissa % 10 == 0, value.mantissa != 0 {
            value.mantissa /= 10
            value.exponent += 1
        }
        if value.mantissa == 0 { value.exponent = 0 }
        return value
    }
}
