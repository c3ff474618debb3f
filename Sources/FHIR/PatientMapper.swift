/// One identifier of a person, as `system|value`: a PHR account, an insurance number, a facility's resident number.
/// The system is required: R4 matches an identifier without one across every system, and two homes' "alice" would
/// become one person.
public struct PatientIdentifier: Sendable, Hashable, CustomStringConvertible {
    public var system: String
    public var value: String

    public init(system: String, value: String) {
        (self.system, self.value) = (system, value)
    }

    /// "system|value" with both parts non-empty; nil otherwise.
    public init?(token: String) {
        guard let bar = token.firstIndex(of: "|") else { return nil }
        let system = String(token[..<bar])
        let value = String(token[token.index(after: bar)...])
        guard !system.isEmpty, !value.isEmpty, !value.contains("|") else { return nil }
        self.init(system: system, value: value)
    }

    public var token: String { system + "|" + value }
    public var description: String { token }
}

/// What the configuration says of a person the gateway measures (`subjects:`).
public struct PatientRecord: Sendable, Hashable {
    /// The local name readings are mapped to ("alice"); the Patient's id on this gateway.
    public var subject: String
    public var name: String?
    public var identifiers: [PatientIdentifier]
    /// A test person (`subjects.<id>.test: true`, the demo's people): their summaries are made of test data and, like
    /// their Patient, labelled HTEST; nothing of theirs leaves for a destination that does not take test data.
    public var test: Bool

    public init(subject: String, name: String? = nil, identifiers: [PatientIdentifier] = [], test: Bool = false) {
        (self.subject, self.name, self.identifiers, self.test) = (subject, name, identifiers, test)
    }
}

/// The Patient resource of a subject: served by the API (`GET /Patient/alice`) and sent, as a conditional create, in
/// every transaction that references it.
public enum PatientMapper {
    /// gatewayd's own identifier of a subject, "GATEWAY-ID/subject": scoped to the gateway, so the same local name
    /// on two gateways is two people unless a configured identifier says they are one.
    public static let subjectSystem = "urn:gatewayd:subject"

    public static func localIdentifier(subject: String, gatewayID: String) -> PatientIdentifier {
        PatientIdentifier(system: subjectSystem, value: gatewayID + "/" + subject)
    }

    /// The Patient, with the destination's own identifier for the person first (its account id, when configured),
    /// then the configured ones, then gatewayd's.
    public static func patient(
        _ person: PatientRecord, gatewayID: String, destinationIdentifier: PatientIdentifier? = nil
    ) -> FHIRResource {
        FHIRResource.make(
            "Patient", id: person.subject,
            [
                "meta": person.test ? Element.testDataMeta : nil,
                "identifier": .array(
                    identifiers(person, gatewayID: gatewayID, destinationIdentifier: destinationIdentifier).map { id in
                        .obj(["system": .string(id.system), "value": .string(id.value)])
                    }),
                "active": .bool(true),
                "name": person.name.map { name in .array([.obj(["text": .string(name)])]) },
            ])
    }

    /// Every identifier of the person, the one a receiver matches on first.
    public static func identifiers(
        _ person: PatientRecord, gatewayID: String, destinationIdentifier: PatientIdentifier? = nil
    ) -> [PatientIdentifier] {
        var all: [PatientIdentifier] = []
        for id in [destinationIdentifier].compactMap({ $0 }) + person.identifiers + [
            localIdentifier(subject: person.subject, gatewayID: gatewayID)
        ]
        where !all.contains(id) {
            all.append(id)
        }
        return all
    }
}
