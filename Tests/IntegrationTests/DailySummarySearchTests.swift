import Foundation
import Provenance
import Testing

/// The daily clinical summaries through `gatewayd serve`: found by their codes (and only by them), filtered by date,
/// sorted and paged like any Observation, computed from the readings `collect --import` stored.
@Suite(.serialized) struct DailySummarySearchTests {
    /// A strap on 11-18 from 09:00 JST for 30 minutes: 70 /min, then 60; every 5 s four RR intervals.
    static func strap() -> [Reading] {
        let start = (FHIRAPITests.day1 + 9 * 3600) * 1_000_000
        return (0..<360).map { i in
            let micros = start + Int64(i) * 5_000_000
            let bpm: Int64 = i < 180 ? 70 : 60
            var context = MeasurementContext()
            context.sensorContact = "detected"
            let rr = [1024, 1004, 1024, 1004].map {
                ReadingComponent(
                    metric: .rrInterval,
                    value: .quantity(DecimalQuantity(mantissa: Int64($0) * 9_765_625, exponent: -10)), unit: "s")
            }
            return Reading(
                kind: .heartRate,
                components: [
                    ReadingComponent(
                        metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: bpm, exponent: 0)), unit: "/min")
                ] + rr,
                subject: "alice", device: DeviceRecord(link: "strap"),
                gateway: GatewayRecord(id: "gw-test", softwareVersion: "test"),
                context: context,
                time: TimeProvenance(
                    deviceTimestamp: nil, receivedMicros: micros, clock: nil, clockOffsetMicros: nil,
                    decision: .receiveTime,
                    effectiveMicros: micros, localOffsetSeconds: 32_400, syncMethod: "none"),
                flags: [], characteristic: "0x2A37", rawPayloads: [[0x16, UInt8(bpm), UInt8(i & 0xFF), UInt8(i >> 8)]])
        }
    }

    static func ids(_ reply: FHIRAPITests.Reply) -> [String] {
        FHIRAPITests.entries(reply.json).compactMap { $0["id"] as? String }
    }

    @Test func summariesAreSearchedByCodeDateAndPage() async throws {
        let dir = try APIHarness.scratch("daily")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pressures = [8, 9, 20].map {
            FHIRAPITests.bp(
                "alice", user: 1, atHour: Int64($0), systolic: DecimalQuantity(mantissa: 120 + Int64($0), exponent: 0),
                diastolic: 80)
        }
        try await APIHarness.importReadings(pressures + Self.strap(), into: dir)
        let server = try await APIHarness.Server.start(dataDirectory: dir + "/data", tokens: ["sys=system/*.read"])
        defer { server.stop() }
        func search(_ query: String) async throws -> FHIRAPITests.Reply {
            let reply = try await FHIRAPITests.get(server.base + "/Observation?" + query, token: "sys")
            #expect(reply.status == 200, "\(query): \(reply.json)")
            return reply
        }
        let own = "urn:gatewayd:fhir:summary-code%7C"

        let resting = FHIRAPITests.entries(try await search("code=40443-4").json)
        #expect(resting.count == 1)
        #expect(((resting.first?["valueQuantity"] as? [String: Any])?["value"] as? NSNumber)?.doubleValue == 60)
        #expect((resting.first?["id"] as? String)?.hasPrefix("daily-") == true)

        // Morning (08:00 and 09:00: 128.5) and evening (20:00: 140), by the panel's LOINC code or gatewayd's own.
        let panel = FHIRAPITests.entries(try await search("code=96607-7&patient=alice").json)
        #expect(panel.count == 2)
        let mornings = FHIRAPITests.entries(try await search("code=\(own)home-bp-morning").json)
        let components = mornings.first?["component"] as? [[String: Any]]
        #expect((components?.first?["valueQuantity"] as? [String: Any])?["value"] as? NSNumber == 128.5)
        #expect(FHIRAPITests.entries(try await search("code=\(own)rmssd").json).count == 1)

        // Dates filter them; newest first, one a page, with a next link to the other.
        #expect(FHIRAPITests.entries(try await search("code=\(own)rmssd&date=2026-11-19").json).isEmpty)
        let first = try await search("code=\(own)home-bp-morning,\(own)home-bp-evening&_sort=-date&_count=1")
        let evening = FHIRAPITests.entries(first.json)
        #expect(
            ((evening.first?["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String
                == "home-bp-evening")
        let next = try #require(FHIRAPITests.link(first.json, "next"))
        let second = try await FHIRAPITests.get(next, token: "sys")
        #expect(Self.ids(second).count == 1 && Self.ids(second) != Self.ids(first))

        // Readings' searches never bring them: a heart-rate code, or no code at all.
        let rates = try await search("code=8867-4&_count=500")
        #expect(Self.ids(rates).count == 360 && !Self.ids(rates).contains { $0.hasPrefix("daily-") })
        let everything = try await search("patient=alice&_count=500")
        #expect(!Self.ids(everything).contains { $0.hasPrefix("daily-") })
    }
}
