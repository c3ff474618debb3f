import Foundation
import Provenance
import Testing
import TimeSeries

@testable import GatewayRuntime

/// `gatewayd devices` (list, map, forget) and `gatewayd export` (a FHIR collection Bundle of a person's period).
@Suite(.serialized) struct DevicesExportTests {
    @Test func mappingReleasesQuarantinedReadingsAndForgettingHoldsNewOnes() async throws {
        let dir = try APIHarness.scratch("devices")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Readings without a subject are held: the cuff's user 3 is nobody's yet.
        var held = FHIRAPITests.bp(
            "alice", user: 3, atHour: 1, systolic: DecimalQuantity(mantissa: 119, exponent: 0), diastolic: 77)
        held.subject = nil
        try await APIHarness.importReadings(FHIRAPITests.readings() + [held], into: dir)
        let key = held.device.key
        let listed = try await FHIRAPITests.run(["devices", "--dir", dir + "/data"])
        #expect(listed.status == 0, "\(listed.output)")
        let mapped = try await FHIRAPITests.run(["devices", "--dir", dir + "/data", "--map", "\(key)#3=carol"])
        #expect(mapped.status == 0 && mapped.output.contains("released 1"), "\(mapped.output)")
        #expect(mapped.output.contains("carol"), "\(mapped.output)")
        let forgot = try await FHIRAPITests.run(["devices", "--dir", dir + "/data", "--forget", "\(key)#3"])
        #expect(forgot.status == 0 && !forgot.output.contains("carol"), "\(forgot.output)")
        let bad = try await FHIRAPITests.run(["devices", "--dir", dir + "/data", "--forget", "\(key)#999"])
        #expect(bad.status != 0 && bad.output.contains("user '999' is not a user slot 0…254"), "\(bad.output)")
        // --map says it the same way (one parser): 255 is the specification's "unknown user", never a slot.
        let unknown = try await FHIRAPITests.run(["devices", "--dir", dir + "/data", "--map", "\(key)#255=carol"])
        #expect(unknown.status != 0 && unknown.output.contains("is not a user slot 0…254"), "\(unknown.output)")
    }

    @Test func exportWritesACollectionOfTheSubjectsPeriodAndAuditsIt() async throws {
        let dir = try APIHarness.scratch("export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await APIHarness.importReadings(FHIRAPITests.readings(), into: dir)
        let result = try await FHIRAPITests.run([
            "export", "--dir", dir + "/data", "--subject", "alice", "--from", "2026-11-18", "--to", "2026-11-18",
            "--tz", "Asia/Tokyo",
            "--output", dir + "/alice.json",
        ])
        #expect(result.status == 0, "\(result.output)")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/alice.json"))
        let bundle = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(bundle["type"] as? String == "collection")
        let resources = FHIRAPITests.entries(bundle)
        let observations = resources.filter { $0["resourceType"] as? String == "Observation" }
        // Alice's three readings of 11-18 (Tokyo), none of 11-19 and none of bob's, plus her summaries of that day.
        let readings = observations.filter { ($0["id"] as? String)?.count == 64 }
        #expect(readings.count == 3)
        // The Patient and the gateway are in the file; every reference points at an entry of it.
        let patient = resources.first { $0["resourceType"] as? String == "Patient" }
        #expect(patient?["id"] as? String == "alice")
        let fullUrls = Set(((bundle["entry"] as? [[String: Any]]) ?? []).compactMap { $0["fullUrl"] as? String })
        func references(_ value: Any) -> [String] {
            if let object = value as? [String: Any] {
                return object.flatMap { key, item in key == "reference" ? [item as? String ?? ""] : references(item) }
            }
            return (value as? [Any])?.flatMap(references) ?? []
        }
        let references = references(bundle)
        #expect(
            !references.isEmpty && references.allSatisfy(fullUrls.contains),
            "\(references.filter { !fullUrls.contains($0) })")
        let patientURL =
            ((bundle["entry"] as? [[String: Any]]) ?? []).first {
                ($0["resource"] as? [String: Any])?["resourceType"] as? String == "Patient"
            }?["fullUrl"] as? String
        #expect(observations.allSatisfy { ($0["subject"] as? [String: Any])?["reference"] as? String == patientURL })
        #expect(observations.contains { ($0["id"] as? String)?.hasPrefix("stats-") ?? false })
        // The day's clinical summaries too: her morning blood pressure (08:00, systolic 120) and her evening one.
        let daily = observations.filter { ($0["id"] as? String)?.hasPrefix("daily-") ?? false }
        let dailyCodes = daily.compactMap {
            (($0["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String
        }
        #expect(Set(dailyCodes) == ["home-bp-morning", "home-bp-evening"], "\(dailyCodes)")
        let morning = daily.first {
            (($0["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String
                == "home-bp-morning"
        }
        #expect(
            ((morning?["component"] as? [[String: Any]])?.first?["valueQuantity"] as? [String: Any])?["value"]
                as? NSNumber == 120)
        #expect(resources.contains { $0["resourceType"] as? String == "Device" })
        #expect(resources.contains { $0["resourceType"] as? String == "Provenance" })
        let audit = try await FHIRAPITests.run(["audit", "--dir", dir + "/data", "--subject", "alice"])
        #expect(audit.output.contains("export:"), "\(audit.output)")
        if let python = FHIRValidator.python {
            let validated = try await ChildProcess.run(
                URL(fileURLWithPath: python),
                [
                    FHIRValidator.packageRoot.appendingPathComponent("scripts/validate_fhir.py").path,
                    dir + "/alice.json",
                ],
                mergingStandardError: true)
            #expect(validated.status == 0, "\(validated.stdout)")
        }
    }

    @Test func queryPrintsWindowsAlsoBesideAProcessThatHoldsTheStore() async throws {
        let dir = try APIHarness.scratch("query")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await APIHarness.importReadings(FHIRAPITests.readings(), into: dir)
        let arguments = [
            "query", "--dir", dir + "/data", "--subject", "alice", "--metric", "bp_systolic", "--window", "1d", "--tz",
            "Asia/Tokyo",
        ]
        let result = try await FHIRAPITests.run(arguments)
        #expect(result.status == 0, "\(result.output)")
        // 11-18 has three clean readings; 11-19 one clean and one doubtful (left out, counted).
        #expect(result.output.contains("2 windows; 1 doubtful readings excluded"), "\(result.output)")
        let unknown = try await FHIRAPITests.run(arguments.map { $0 == "bp_systolic" ? "bp_sistolic" : $0 })
        #expect(unknown.status != 0 && unknown.output.contains("bp_sistolic"), "\(unknown.output)")
        // Another process (a running daemon) holding the store for writing: query and status read a snapshot.
        let holder = try TimeSeriesStore(directory: dir + "/data/store")
        defer { holder.close() }
        let busy = try await FHIRAPITests.run(arguments)
        #expect(busy.status == 0 && busy.output == result.output, "\(busy.output)")
        let status = try await FHIRAPITests.run(["status", "--dir", dir + "/data"])
        #expect(
            status.status == 0 && status.output.contains("== store: ") && status.output.contains(" samples in "),
            "\(status.output)")
    }
}
