/// FHIR transaction Bundles: what the sync client sends and what it reads back.
public enum TransactionBundle {
    /// A transaction of outbox entries, in order.
    static func make(_ entries: [Outbox.Entry]) -> FHIRJSON {
        .obj([
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": .array(
                entries.map { entry in
                    let resource = (try? FHIRJSON.parse(entry.resource)) ?? .null
                    return .obj([
                        "fullUrl": .string("urn:gatewayd:" + entry.resourceKey),
                        "resource": resource,
                        "request": .obj([
                            "method": .string(entry.method),
                            "url": .string(entry.url),
                            "ifNoneExist": entry.ifNoneExist.map { .string($0) },
                        ]),
                    ])
                }),
        ])
    }

    /// What a destination answered: each entry's status (from "201 Created" etc.) and any diagnostics text.
    struct Outcome {
        var entryStatuses: [Int] = []
        var diagnostics: String?
    }

    static func outcome(of body: [UInt8]) -> Outcome {
        guard let json = try? FHIRJSON.parse(body) else { return Outcome() }
        var outcome = Outcome()
        if json["resourceType"]?.stringValue == "OperationOutcome" {
            outcome.diagnostics = json["issue"]?[0]?["diagnostics"]?.stringValue
        }
        for entry in json["entry"]?.arrayValue ?? [] {
            let status = entry["response"]?["status"]?.stringValue ?? ""
            outcome.entryStatuses.append(Int(status.prefix { $0.isNumber }) ?? 0)
        }
        return outcome
    }
}
