import Crypto
import Provenance

/// FHIR transaction Bundles: what the sync client sends and what it reads back.
public enum TransactionBundle {
    /// A transaction a receiver can resolve on its own (R4 §3.1.0.11.2): the pending `entries`, preceded by every
    /// resource they reference that `supporting` can give (the Patient, the PhgDevice and PhdDevices, a coincident
    /// timestamp sent in another batch) as conditional creates. Every entry has a `urn:uuid` fullUrl and every
    /// reference points at one; a reference to what cannot be given (a reading consent keeps home) is removed, never
    /// left dangling. `positions` says where each of `entries` is in the Bundle (its answer is at the same index).
    static func make(
        _ entries: [Outbox.Entry], supporting: (String) -> Outbox.Entry? = { _ in nil }
    ) -> (bundle: ExactJSON, positions: [Int]) {
        var keys = Set(entries.map(\.resourceKey))
        var parsed = entries.map { (entry: $0, json: (try? ExactJSON.parse($0.resource)) ?? .null) }
        // Referenced resources, found breadth-first (a coincident timestamp brings its Devices), each once.
        var added: [(entry: Outbox.Entry, json: ExactJSON)] = []
        var next = 0
        func bring(_ json: ExactJSON) {
            for target in FHIRReferences.all(in: json) where !keys.contains(target) {
                keys.insert(target)
                guard let entry = supporting(target) else { continue }
                added.append((entry, (try? ExactJSON.parse(entry.resource)) ?? .null))
            }
        }
        for item in parsed { bring(item.json) }
        while next < added.count {
            bring(added[next].json)
            next += 1
        }
        let given = Set((added.map(\.entry) + entries).map(\.resourceKey))
        // Patients, then Devices, then anything else: the order the IG's example upload uses.
        let rank = ["Patient": 0, "Device": 1]
        added.sort { (rank[$0.entry.url] ?? 2, $0.entry.resourceKey) < (rank[$1.entry.url] ?? 2, $1.entry.resourceKey) }
        parsed = added + parsed
        let bundleEntries = parsed.map { item in
            let resource = FHIRReferences.rewrite(item.json) { target in
                if given.contains(target) { return .replace(fullURL(target)) }
                // Absolute and urn references name something outside gatewayd's ids: kept as they are.
                return target.hasPrefix("urn:") || target.contains("://") ? .keep : .remove
            }
            return ExactJSON.obj([
                "fullUrl": .string(fullURL(item.entry.resourceKey)),
                "resource": resource,
                "request": .obj([
                    "method": .string(item.entry.method),
                    "url": .string(item.entry.url),
                    "ifNoneExist": item.entry.ifNoneExist.map { .string($0) },
                ]),
            ])
        }
        let bundle = ExactJSON.obj(["resourceType": "Bundle", "type": "transaction", "entry": .array(bundleEntries)])
        return (bundle, Array(added.count..<(added.count + entries.count)))
    }

    /// The fullUrl of a resource in every Bundle: a name-based UUID of its gatewayd reference ("Observation/…"), so a
    /// retried Bundle is the same Bundle.
    public static func fullURL(_ resourceKey: String) -> String {
        var bytes = Array(SHA256.hash(data: Array("gatewayd-fullurl\n\(resourceKey)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50  // version 5 (name-based)
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let hex = bytes.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
        let parts = [
            hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4),
            hex.dropFirst(20),
        ]
        return "urn:uuid:" + parts.joined(separator: "-")
    }

    /// Resources as Bundle entries that resolve among themselves (an export's collection): each with its `urn:uuid`
    /// fullUrl, every reference to one of them pointed at it, a reference to anything else removed.
    public static func resolvedEntries(_ resources: [FHIRResource]) -> [(fullUrl: String, json: ExactJSON)] {
        let given = Set(resources.map(\.reference))
        return resources.map { resource in
            let json = FHIRReferences.rewrite(resource.json) { target in
                if given.contains(target) { return .replace(fullURL(target)) }
                return target.hasPrefix("urn:") || target.contains("://") ? .keep : .remove
            }
            return (fullURL(resource.reference), json)
        }
    }

    /// What a destination answered: each entry's status (from "201 Created" etc.) and any diagnostics text.
    struct Outcome {
        var entryStatuses: [Int] = []
        var diagnostics: String?
    }

    static func outcome(of body: [UInt8]) -> Outcome {
        guard let json = try? ExactJSON.parse(body) else { return Outcome() }
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
