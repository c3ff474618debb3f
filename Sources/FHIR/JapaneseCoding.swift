import Provenance

/// Optional Japanese coding (JP Core): vital-sign Observations carry JP Core's vital-signs category coding next to
/// the international one, so Japanese PHR services that filter on it find them. Off unless configured
/// (`api.japanese_coding`); nothing else of the resource changes.
public enum JapaneseCoding {
    /// JP Core's simple observation category code system (its "vital-signs" code mirrors HL7's).
    public static let categorySystem = "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS"

    public static func decorator(enabled: Bool) -> @Sendable (FHIRResource) -> FHIRResource {
        if enabled { return { resource in apply(resource) } }
        return { resource in resource }
    }

    /// Adds the JP Core coding to every vital-signs category of an Observation.
    public static func apply(_ resource: FHIRResource) -> FHIRResource {
        guard resource.resourceType == "Observation", case .object(var members) = resource.json,
            let index = members.firstIndex(where: { $0.key == "category" }),
            case .array(let categories) = members[index].value
        else { return resource }
        let updated: [ExactJSON] = categories.map { category in
            guard case .object(var fields) = category,
                let codingIndex = fields.firstIndex(where: { $0.key == "coding" }),
                case .array(var codings) = fields[codingIndex].value,
                codings.contains(where: { $0["code"]?.stringValue == "vital-signs" }),
                !codings.contains(where: { $0["system"]?.stringValue == categorySystem })
            else { return category }
            codings.append(.obj(["system": .string(categorySystem), "code": "vital-signs", "display": "Vital Signs"]))
            fields[codingIndex] = ExactJSON.Member("coding", .array(codings))
            return .object(fields)
        }
        members[index] = ExactJSON.Member("category", .array(updated))
        return FHIRResource(resourceType: resource.resourceType, id: resource.id, json: .object(members))
    }
}
