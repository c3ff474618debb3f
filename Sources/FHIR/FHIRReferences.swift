import Provenance

/// The `Reference.reference` strings inside a resource, found and rewritten wherever they sit (subject, device,
/// derivedFrom, an extension's valueReference…), so a transaction's sender and its receiver both resolve them by the
/// one rule of R4 §3.1.0.11.2 instead of knowing each element that may hold one.
public enum FHIRReferences {
    /// Every reference string in `json`, in document order (repeats included).
    public static func all(in json: ExactJSON) -> [String] {
        var found: [String] = []
        collect(json, into: &found)
        return found
    }

    private static func collect(_ json: ExactJSON, into found: inout [String]) {
        switch json {
        case .object(let members):
            for member in members {
                if member.key == "reference", case .string(let target) = member.value {
                    found.append(target)
                } else {
                    collect(member.value, into: &found)
                }
            }
        case .array(let items):
            for item in items { collect(item, into: &found) }
        default:
            break
        }
    }

    /// What becomes of one reference: pointed elsewhere, kept as it is, or removed.
    public enum Resolution: Sendable, Equatable {
        case replace(String)
        case keep
        /// The target cannot be given to the receiver: the Reference goes, and with it the element that only held it
        /// (a derivedFrom item, an extension whose value it was) — never a reference left dangling.
        case remove
    }

    /// `json` with every reference resolved by `resolve`. A removed Reference takes with it the array item or the
    /// extension that held it; an array left empty is dropped (FHIR forbids empty arrays).
    public static func rewrite(_ json: ExactJSON, _ resolve: (String) -> Resolution) -> ExactJSON {
        rewritten(json, resolve) ?? .null
    }

    private static func rewritten(_ json: ExactJSON, _ resolve: (String) -> Resolution) -> ExactJSON? {
        switch json {
        case .object(let members):
            var kept: [ExactJSON.Member] = []
            for member in members {
                if member.key == "reference", case .string(let target) = member.value {
                    switch resolve(target) {
                    case .keep: kept.append(member)
                    case .replace(let new): kept.append(ExactJSON.Member("reference", .string(new)))
                    case .remove: return nil
                    }
                    continue
                }
                guard let value = rewritten(member.value, resolve) else {
                    // An extension (or any element) whose value was the removed Reference goes as a whole.
                    if member.key.hasPrefix("value") { return nil }
                    continue
                }
                kept.append(ExactJSON.Member(member.key, value))
            }
            return .object(kept)
        case .array(let items):
            let kept = items.compactMap { rewritten($0, resolve) }
            return kept.isEmpty && !items.isEmpty ? nil : .array(kept)
        default:
            return json
        }
    }
}
