import Provenance

/// One FHIR R4 resource as the gateway emits it: its type, its deterministic logical id (so mapping the same
/// reading twice gives the same resource, and an upload is an idempotent update), and its JSON.
public struct FHIRResource: Hashable, Sendable {
    public var resourceType: String
    public var id: String
    /// The whole resource, `resourceType` and `id` first.
    public var json: ExactJSON

    public init(resourceType: String, id: String, json: ExactJSON) {
        self.resourceType = resourceType
        self.id = id
        self.json = json
    }

    /// "Observation/abc…": what other resources put in `Reference.reference`.
    public var reference: String { "\(resourceType)/\(id)" }

    /// Compact JSON text (`application/fhir+json`).
    public var text: String { json.text }

    /// Builds a resource whose JSON starts with `resourceType` and `id`, then `members` in order (nil ones left out).
    static func make(_ resourceType: String, id: String, _ members: KeyValuePairs<String, ExactJSON?>) -> FHIRResource {
        var all: [ExactJSON.Member] = [.init("resourceType", .string(resourceType)), .init("id", .string(id))]
        all += members.compactMap { pair in pair.value.map { ExactJSON.Member(pair.key, $0) } }
        return FHIRResource(resourceType: resourceType, id: id, json: .object(all))
    }
}
