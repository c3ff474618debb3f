import Foundation
import Provenance
import Testing

@testable import FHIR

@Suite struct ProvenanceMapperTests {
    /// One Provenance per batch: every Observation it produced as a target, the gateway's recorded time, the
    /// sensor, gateway and subject as agents, the hash of the exact payloads, the mapping rules, the clock
    /// correction that was applied — and the signed ledger entry the batch was recorded in.
    @Test func aSignedBatchHasItsFullProvenance() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fhir-prov-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = GatewayKey.generate()
        let ledger = try Ledger(directory: directory, key: key)
        let batch = [Fixture.bloodPressure(time: Fixture.mappedTime()), Fixture.pulse(), Fixture.glucose()]
        let entry = try ledger.append(readings: batch, recordedMicros: Fixture.at0830 + 311_000_000)
        let provenance = try #require(
            ProvenanceMapper.provenance(
                batch: batch, ledgerEntry: entry, recordedMicros: 0, gatewayDeviceID: Fixture.gatewayDeviceID))
        Fixture.dump([provenance], as: "provenance")
        let json = provenance.json
        #expect(provenance.resourceType == "Provenance" && provenance.id.hasPrefix("prov-"))

        let expectedTargets = batch.flatMap {
            ObservationMapper.observations(for: $0, gatewayDeviceID: Fixture.gatewayDeviceID)
        }.map(\.reference)
        let targets = try #require(json["target"]?.arrayValue).compactMap { $0["reference"]?.stringValue }
        #expect(Set(targets) == Set(expectedTargets))
        #expect(targets.count == Set(targets).count)
        #expect(targets.first == "Observation/" + (batch[0].identity?.hex ?? "?"))

        #expect(json["recorded"]?.stringValue == "2026-11-17T23:35:11Z")
        #expect(json["occurredPeriod"]?["start"]?.stringValue == "2026-11-18T08:30:00+09:00")
        #expect(json["policy"]?[0]?.stringValue == FHIRCodes.mappingRules)
        let agents = try #require(json["agent"]?.arrayValue)
        #expect(
            agents.map { $0["who"]?["reference"]?.stringValue } == [
                "Device/phd-001BC50000000417", "Device/" + DeviceMapper.phdDeviceID(Fixture.meter()),
                "Device/phg-gw-home-1", "Patient/alice",
            ])
        #expect(agents.map { $0["type"]?["coding"]?[0]?["code"]?.stringValue } == ["DEV", "DEV", "assembler", "SBJ"])

        let entity = try #require(json["entity"]?[0])
        #expect(entity["role"]?.stringValue == "source")
        #expect(entity["what"]?["identifier"]?["value"]?.stringValue?.hasPrefix("ni:///sha-256;") == true)
        let display = try #require(entity["what"]?["display"]?.stringValue)
        #expect(display.contains("of 4 raw payloads"))

        // The correction: the cuff's clock was 600 s fast and its times were moved back by 600 s.
        let corrections = try #require(json["extension"]?.arrayValue).filter {
            $0["url"]?.stringValue == ProvenanceMapper.clockCorrectionExtension
        }
        #expect(corrections.count == 3)  // BP (mapped), pulse (kept), glucose meter (kept)
        let mapped = try #require(corrections.first)
        func part(_ name: String) -> ExactJSON? {
            mapped["extension"]?.arrayValue?.first { $0["url"]?.stringValue == name }
        }
        #expect(part("decision")?["valueCode"]?.stringValue == "mapped")
        #expect(part("correction")?["valueQuantity"]?["value"]?.numberText == "-600")
        #expect(part("correction")?["valueQuantity"]?["code"]?.stringValue == "s")
        #expect(part("clockOffset")?["valueQuantity"]?["value"]?.numberText == "600")
        #expect(part("device")?["valueReference"]?["reference"]?.stringValue == "Device/phd-001BC50000000417")

        // The ledger entry and its signature, which verifies with the gateway's public key over the entry hash.
        let ledgerExtension = try #require(
            json["extension"]?.arrayValue?.first { $0["url"]?.stringValue == ProvenanceMapper.ledgerEntryExtension })
        #expect(ledgerExtension["extension"]?[1]?["valueString"]?.stringValue == entry.hash)
        let signature = try #require(json["signature"]?[0])
        #expect(signature["who"]?["reference"]?.stringValue == "Device/phg-gw-home-1")
        #expect(signature["type"]?[0]?["code"]?.stringValue == "1.2.840.10065.1.12.1.14")
        let data = try #require(Data(base64Encoded: signature["data"]?.stringValue ?? ""))
        let hashBytes = try #require(ProvenanceMapper.hexBytes(entry.hash))
        #expect(key.publicKey.isValidSignature(data, for: hashBytes))

        // Idempotent: the same batch maps to the same Provenance.
        #expect(
            ProvenanceMapper.provenance(
                batch: batch, ledgerEntry: entry, recordedMicros: 0, gatewayDeviceID: Fixture.gatewayDeviceID)
                == provenance)
    }

    @Test func withoutALedgerThereIsNoSignatureAndUnmappedBatchesHaveNoProvenance() throws {
        let batch = [Fixture.heartRate()]
        let provenance = try #require(
            ProvenanceMapper.provenance(
                batch: batch, ledgerEntry: nil, recordedMicros: Fixture.at0830 + 1_000_000,
                gatewayDeviceID: Fixture.gatewayDeviceID))
        Fixture.dump([provenance], as: "provenance-unsigned")
        #expect(provenance.json["signature"] == nil)
        #expect(provenance.json["recorded"]?.stringValue == "2026-11-17T23:30:01Z")
        #expect(provenance.json["agent"]?.arrayValue?.last?["who"]?["reference"]?.stringValue == "Patient/bob")
        let unmapped = [Fixture.bloodPressure(subject: nil)]
        #expect(
            ProvenanceMapper.provenance(
                batch: unmapped, ledgerEntry: nil, recordedMicros: 0, gatewayDeviceID: Fixture.gatewayDeviceID) == nil)
    }
}
