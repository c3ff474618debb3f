import Provenance

/// What every Observation made from one reading shares (PhdBaseObservation): the gateway extension, the
/// coincident-timestamp reference, subject, time, sensor device, HTEST — so the reading's Observation and the ones
/// derived from it (status bits, meal context) can never disagree on who, when or which device.
struct ObservationFrame {
    let reading: Reading
    let subject: String
    let identity: ReadingIdentity
    let gatewayDeviceID: String
    let phdDeviceID: String
    /// The coincident-timestamp Observation, when the device stamped the reading.
    let coincidentTimeStampID: String?

    var testData: Bool { reading.flags.contains(.testData) }
    var observationID: String { ResourceIDs.observation(identity, of: reading) }
    var mainReference: String { "Observation/" + observationID }

    /// One PHD Observation. `identifier` is the IG's conditional-create identifier (PhdBaseObservation slice
    /// `conditionalCreate`: the profile's fixed system, no type), unique for the measurement, the same when it is resent.
    func observation(
        id: String, profiles: [String], identifier: String, vitalSign: Bool, code: ExactJSON,
        value: (key: String, json: ExactJSON)? = nil, interpretation: ExactJSON? = nil, note: String? = nil,
        bodySite: ExactJSON? = nil, derivedFrom: [String] = [], components: [ExactJSON] = []
    ) -> FHIRResource {
        var extensions = [Element.extensionReference(FHIRCodes.gatewayDeviceExtension, "Device/" + gatewayDeviceID)]
        if let coincidentTimeStampID {
            extensions.append(
                Element.extensionReference(
                    FHIRCodes.coincidentTimeStampExtension, "Observation/" + coincidentTimeStampID))
        }
        let categories = vitalSign ? [Element.vitalSignsCategory, Element.phdCategory] : [Element.phdCategory]
        var members: [ExactJSON.Member] = [
            .init("resourceType", "Observation"), .init("id", .string(id)),
            .init("meta", Element.meta(profiles: profiles, testData: testData)),
            .init("extension", .array(extensions)),
            .init(
                "identifier",
                .array([.obj(["system": .string(FHIRCodes.conditionalCreateSystem), "value": .string(identifier)])])),
            .init("status", "final"),
            .init("category", .array(categories)),
            .init("code", code),
            .init("subject", Element.reference("Patient/" + subject)),
            .init(
                "effectiveDateTime",
                .string(
                    FHIRTime.dateTime(
                        utcMicros: reading.time.effectiveMicros, offsetSeconds: reading.time.localOffsetSeconds))),
        ]
        if let value { members.append(.init(value.key, value.json)) }
        if let interpretation { members.append(.init("interpretation", .array([interpretation]))) }
        if let note { members.append(.init("note", .array([.obj(["text": .string(note)])]))) }
        if let bodySite { members.append(.init("bodySite", bodySite)) }
        members.append(.init("device", Element.reference("Device/" + phdDeviceID)))
        if let derived = ExactJSON.list(derivedFrom.map { Element.reference($0) }) {
            members.append(.init("derivedFrom", derived))
        }
        if let components = ExactJSON.list(components) { members.append(.init("component", components)) }
        return FHIRResource(resourceType: "Observation", id: id, json: .object(members))
    }

    /// The flags that make a reading doubtful as a measurement (DESIGN.md rule 5) — test data has HTEST and a
    /// missing value has its dataAbsentReason, so those two are said elsewhere.
    static let questionableFlags = ReadingFlags.doubtful.subtracting([.testData, .valueAbsent])

    /// `interpretation` = measurement-status "questionable" when the device (or the time decision) made the
    /// reading doubtful, with the reasons in the text; nil for a clean reading.
    var interpretation: ExactJSON? {
        let doubtful = reading.flags.intersection(Self.questionableFlags)
        guard !doubtful.isEmpty else { return nil }
        return Element.codeable(
            [Concept(FHIRCodes.measurementStatus, "questionable", "Questionable")],
            text: "Doubtful: " + doubtful.labels.joined(separator: ", "))
    }

    /// A note saying why the time is what it is when the device's own timestamp was not taken as it is: refused, or
    /// mapped onto the gateway's timeline (the coincident timestamp, shared by the readings of a connection, shows the
    /// clock comparison itself).
    var timeNote: String? {
        let stamp = reading.time.deviceTimestamp.map { "device timestamp \($0)" } ?? "device timestamp"
        switch reading.time.decision {
        case .refused(let reason):
            return "The \(stamp) was refused (\(reason)); the effective time is when the gateway received the reading."
        case .mapped(let correction):
            return "The \(stamp) was mapped to the gateway timeline by \(CoincidentTimeStamp.seconds(correction)) s."
        case .kept, .receiveTime:
            return nil
        }
    }

    /// A component: code and either its exact value or the reason it has none.
    static func component(_ code: MeasurementCode, _ value: ReadingValue, ucum: String) -> ExactJSON {
        let (key, json) = Element.value(value, ucum: ucum)
        return .object([.init("code", Element.codeable(code)), .init(key, json)])
    }
}
