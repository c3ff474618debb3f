import Foundation
import Provenance

/// One FHIR R4 Provenance per ingested batch: which Observations it produced, when the gateway accepted it, who took
/// part (each sensor, the gateway, each subject), what it was made from (a hash of the exact bytes received), under
/// which mapping rules, how each device's clock was handled — and, when the gateway signs its ledger, the ledger
/// entry and its Ed25519 signature, so a receiver can check the batch against the gateway's tamper-evident record.
///
/// The PHD IG defines no Provenance profile; this is the plain R4 resource, with two gatewayd extensions
/// (`clock-correction`, `ledger-entry`) for what R4 has no element for.
public enum ProvenanceMapper {
    public static let clockCorrectionExtension = FHIRCodes.gatewaydExtensionBase + "clock-correction"
    public static let ledgerEntryExtension = FHIRCodes.gatewaydExtensionBase + "ledger-entry"

    /// nil when no reading of the batch has a subject yet (nothing was mapped, so there is nothing to attest).
    /// `recorded` is the ledger entry's time when there is one, else `recordedMicros`.
    public static func provenance(
        batch: [Reading], ledgerEntry: LedgerEntry?, recordedMicros: Int64, gatewayDeviceID: String
    ) -> FHIRResource? {
        let mapped = batch.filter { $0.subject != nil }
        var targets: [String] = []
        for reading in mapped {
            for resource in ObservationMapper.observations(for: reading, gatewayDeviceID: gatewayDeviceID)
            where !targets.contains(resource.reference) {
                targets.append(resource.reference)
            }
        }
        guard !targets.isEmpty, let first = mapped.min(by: { $0.time.effectiveMicros < $1.time.effectiveMicros }),
            let last = mapped.max(by: { $0.time.effectiveMicros < $1.time.effectiveMicros })
        else { return nil }
        let identities = mapped.compactMap(\.identity?.hex)
        let id =
            "prov-"
            + ResourceIDs.sha256Hex(Array(("gatewayd-provenance\n" + identities.joined(separator: "\n")).utf8)).prefix(
                40)
        let recorded = FHIRTime.instant(utcMicros: ledgerEntry?.recordedMicros ?? recordedMicros)

        var extensions = clockCorrections(mapped)
        if let ledgerEntry { extensions.append(ledger(ledgerEntry, readings: mapped.count)) }
        return FHIRResource.make(
            "Provenance", id: id,
            [
                "extension": .list(extensions),
                "target": .array(targets.map { Element.reference($0) }),
                "occurredPeriod": .obj([
                    "start": .string(
                        FHIRTime.dateTime(
                            utcMicros: first.time.effectiveMicros, offsetSeconds: first.time.localOffsetSeconds)),
                    "end": .string(
                        FHIRTime.dateTime(
                            utcMicros: last.time.effectiveMicros, offsetSeconds: last.time.localOffsetSeconds)),
                ]),
                "recorded": .string(recorded),
                "policy": .array([
                    .string(FHIRCodes.mappingRules), .string("urn:gatewayd:reading-model:\(ProvenanceModel.version)"),
                ]),
                "activity": Element.codeable(
                    [Concept(FHIRCodes.dataOperation, "CREATE", "create")],
                    text: "Readings received from personal health devices"),
                "agent": .array(agents(mapped, gatewayDeviceID: gatewayDeviceID)),
                "entity": .array([payloadEntity(mapped)]),
                "signature": ledgerEntry.flatMap { signature($0, recorded: recorded, gatewayDeviceID: gatewayDeviceID) }
                    .map { .array([$0]) },
            ])
    }

    static func agents(_ readings: [Reading], gatewayDeviceID: String) -> [ExactJSON] {
        var agents: [ExactJSON] = []
        var seen = Set<String>()
        for reading in readings where seen.insert("device:" + reading.device.key).inserted {
            agents.append(
                agent(
                    FHIRCodes.participationType, "DEV", "device",
                    who: "Device/" + ResourceIDs.phdDevice(key: reading.device.key)))
        }
        agents.append(
            agent(FHIRCodes.provenanceParticipantType, "assembler", "Assembler", who: "Device/" + gatewayDeviceID))
        for reading in readings {
            guard let subject = reading.subject, seen.insert("subject:" + subject).inserted else { continue }
            agents.append(agent(FHIRCodes.participationType, "SBJ", "subject", who: "Patient/" + subject))
        }
        return agents
    }

    static func agent(_ system: String, _ code: String, _ display: String, who: String) -> ExactJSON {
        .obj(["type": Element.codeable([Concept(system, code, display)]), "who": Element.reference(who)])
    }

    /// SHA-256 over every raw payload of the batch in order, each preceded by its length as 4 big-endian bytes (so
    /// payload boundaries are part of what is hashed). Named as an RFC 6920 `ni:` URI, with the hex for audits.
    static func payloadEntity(_ readings: [Reading]) -> ExactJSON {
        var bytes: [UInt8] = []
        var count = 0
        for reading in readings {
            for payload in reading.rawPayloads {
                let length = UInt32(truncatingIfNeeded: payload.count)
                bytes += [
                    UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF),
                ]
                bytes += payload
                count += 1
            }
        }
        let hex = ResourceIDs.sha256Hex(bytes)
        let base64url = Data(hexBytes(hex) ?? []).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(
                of: "=", with: "")
        return .obj([
            "role": "source",
            "what": .obj([
                "identifier": .obj(["system": "urn:ietf:rfc:3986", "value": .string("ni:///sha-256;" + base64url)]),
                "display": .string(
                    "SHA-256 \(hex) of \(count) raw payloads (4-byte big-endian length + bytes, in batch order)"),
            ]),
        ])
    }

    /// One `clock-correction` extension per device and time decision in the batch: what was decided, the
    /// correction applied, the measured clock offset, how the clocks were compared, how many readings it covers.
    static func clockCorrections(_ readings: [Reading]) -> [ExactJSON] {
        struct Key: Hashable {
            var device: String
            var decision: TimeDecision
            var offset: Int64?
            var method: String
        }
        var order: [Key] = []
        var counts: [Key: Int] = [:]
        for reading in readings {
            let key = Key(
                device: reading.device.key, decision: reading.time.decision, offset: reading.time.clockOffsetMicros,
                method: reading.time.syncMethod)
            if counts[key] == nil { order.append(key) }
            counts[key, default: 0] += 1
        }
        return order.map { key in
            var parts: [ExactJSON] = [
                .obj([
                    "url": "device",
                    "valueReference": Element.reference("Device/" + ResourceIDs.phdDevice(key: key.device)),
                ]),
                .obj(["url": "decision", "valueCode": .string(key.decision.label)]),
            ]
            switch key.decision {
            case .mapped(let correction):
                parts.append(.obj(["url": "correction", "valueQuantity": seconds(correction)]))
            case .refused(let reason): parts.append(.obj(["url": "reason", "valueString": .string(reason)]))
            case .kept, .receiveTime: break
            }
            if let offset = key.offset { parts.append(.obj(["url": "clockOffset", "valueQuantity": seconds(offset)])) }
            parts.append(.obj(["url": "syncMethod", "valueCode": .string(key.method)]))
            parts.append(.obj(["url": "readings", "valueInteger": .integer(counts[key, default: 0])]))
            return .obj(["url": .string(clockCorrectionExtension), "extension": .array(parts)])
        }
    }

    static func seconds(_ micros: Int64) -> ExactJSON {
        Element.quantity(
            number: DecimalQuantity(mantissa: micros, exponent: -6).trimmed.description, code: "s", unit: "s")
    }

    /// The ledger entry the batch was recorded in. When the Provenance covers only part of it (one person's readings, or
    /// what consent lets leave), `readings` says how many of the entry's: the signature is over the whole entry's hash.
    static func ledger(_ entry: LedgerEntry, readings: Int) -> ExactJSON {
        var parts: [ExactJSON] = [
            .obj(["url": "sequence", "valueString": .string(String(entry.sequence))]),
            .obj(["url": "hash", "valueString": .string(entry.hash)]),
            .obj(["url": "previous", "valueString": .string(entry.previousHash)]),
        ]
        if readings != entry.readingCount {
            parts.append(.obj(["url": "readings", "valueString": .string("\(readings) of \(entry.readingCount)")]))
        }
        if let signer = entry.signer { parts.append(.obj(["url": "signer", "valueString": .string(signer)])) }
        return .obj(["url": .string(ledgerEntryExtension), "extension": .array(parts)])
    }

    /// The ledger entry's Ed25519 signature (over the 32 bytes of the entry hash in the `ledger-entry` extension),
    /// by the gateway; nil for an unsigned ledger.
    static func signature(_ entry: LedgerEntry, recorded: String, gatewayDeviceID: String) -> ExactJSON? {
        guard let signature = entry.signature, let bytes = hexBytes(signature) else { return nil }
        return .obj([
            "type": .array([
                Element.coding(Concept(FHIRCodes.signatureType, "1.2.840.10065.1.12.1.14", "Source Signature"))
            ]),
            "when": .string(recorded),
            "who": Element.reference("Device/" + gatewayDeviceID),
            "sigFormat": "application/octet-stream",
            "data": .string(Data(bytes).base64EncodedString()),
        ])
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = 0
        while index + 1 < digits.count {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}
