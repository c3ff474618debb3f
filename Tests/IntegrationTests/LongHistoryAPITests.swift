import FHIR
import Foundation
import Provenance
import StreamEngine
import Testing
import TimeSeries

@testable import GatewayRuntime

/// The API over a history longer than any page: a strap's notifications (some without skin contact), a cuff with a
/// clock whose oldest reading carries status bits, a meter whose oldest record has a meal context. Every answer is
/// compared with what mapping every reading and tallying every Observation gives — the old whole-history path —
/// while the server reads only pages of the index and the store's windows.
@Suite(.serialized) struct LongHistoryAPITests {
    static let start = FHIRAPITests.day1 * 1_000_000
    static let gateway = GatewayRecord(id: "gw-test", softwareVersion: "test")

    static func time(_ micros: Int64, device: DeviceWallClock? = nil) -> TimeProvenance {
        TimeProvenance(
            deviceTimestamp: device, receivedMicros: micros, clock: nil, clockOffsetMicros: nil,
            decision: device == nil ? .receiveTime : .kept,
            effectiveMicros: micros, localOffsetSeconds: 32_400, syncMethod: "none")
    }

    static func device(_ id: String) -> DeviceRecord {
        var device = DeviceRecord(link: "test")
        device.systemID = id
        return device
    }

    static func readings() -> [Reading] {
        var readings: [Reading] = []
        for i in 0..<900 {
            let micros = start + Int64(i) * 20_000_000
            let rate = Int64(58 + i % 31)
            var context = MeasurementContext()
            context.sensorContact = i % 50 == 7 ? "not_detected" : "detected"
            readings.append(
                Reading(
                    kind: .heartRate,
                    components: [
                        ReadingComponent(
                            metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: rate, exponent: 0)),
                            unit: "/min"),
                        ReadingComponent(
                            metric: .rrInterval,
                            value: .quantity(DecimalQuantity(mantissa: (61_440 / rate) * 9_765_625, exponent: -10)),
                            unit: "s"),
                    ],
                    subject: "alice", device: device("00-1B-C5-00-00-30-00-01"), gateway: gateway, context: context,
                    time: time(micros),
                    flags: i % 50 == 7 ? [.noSensorContact] : [], characteristic: "0x2A37",
                    rawPayloads: [[0x16, UInt8(rate), UInt8(i & 0xFF)]]))
        }
        for hour in 1...4 {
            let micros = start + Int64(hour) * 3_600_000_000 + 123_000_000
            var context = MeasurementContext()
            context.userID = 1
            if hour == 1 { context.rawStatus = 0x0001 }
            let stamp = DeviceWallClock(year: 2026, month: 11, day: 18, hour: hour, minute: 2, second: 3)
            readings.append(
                Reading(
                    kind: .bloodPressure,
                    components: [
                        ReadingComponent(
                            metric: .systolicPressure,
                            value: .quantity(DecimalQuantity(mantissa: 1200 + Int64(hour) * 15, exponent: -1)),
                            unit: "mm[Hg]"),
                        ReadingComponent(
                            metric: .diastolicPressure, value: .quantity(DecimalQuantity(mantissa: 80, exponent: 0)),
                            unit: "mm[Hg]"),
                    ],
                    subject: "alice", device: device("00-1B-C5-00-00-10-00-01"), gateway: gateway, context: context,
                    time: time(micros, device: stamp),
                    flags: hour == 1 ? [.bodyMovement] : [], characteristic: "0x2A35",
                    rawPayloads: [[0x1E, UInt8(hour)]]))
        }
        for sequence in 1...3 {
            let micros = start + Int64(sequence) * 3_600_000_000 - 1_800_000_000
            var glucose = GlucoseContext(sequenceNumber: UInt16(sequence))
            glucose.sampleType = "capillary_whole_blood"
            glucose.sampleLocation = "finger"
            if sequence == 1 { glucose.meal = "preprandial" }
            var context = MeasurementContext()
            context.glucose = glucose
            let stamp = DeviceWallClock(year: 2026, month: 11, day: 18, hour: sequence - 1, minute: 30, second: 0)
            readings.append(
                Reading(
                    kind: .glucose,
                    components: [
                        ReadingComponent(
                            metric: .glucose,
                            value: .quantity(DecimalQuantity(mantissa: 95 + Int64(sequence), exponent: -5)),
                            unit: "kg/L")
                    ],
                    subject: "alice", device: device("00-1B-C5-00-00-20-00-01"), gateway: gateway, context: context,
                    time: time(micros, device: stamp),
                    flags: [], characteristic: "0x2A18", rawPayloads: [[0x03, UInt8(sequence)]],
                    sequenceNumber: UInt16(sequence)))
        }
        return readings
    }

    /// Every Observation of every reading, as the whole-history path mapped them: (time, id, code key, resource).
    static func everyObservation(_ readings: [Reading]) -> [(micros: Int64, id: String, code: String, json: ExactJSON)]
    {
        let phg = DeviceMapper.phgDeviceID(GatewayRecord(id: "gw-test", softwareVersion: GatewayVersion.current))
        // A coincident timestamp is about the device: a search includes it, never matches it.
        return readings.flatMap { reading in
            ObservationMapper.observations(for: reading, gatewayDeviceID: phg).filter {
                $0.json["subject"]?["reference"]?.stringValue?.hasPrefix("Patient/") == true
            }.map { resource in
                let coding = resource.json["code"]?["coding"]?[0]
                let code = (coding?["system"]?.stringValue ?? "") + "|" + (coding?["code"]?.stringValue ?? "")
                return (reading.time.effectiveMicros, resource.id, code, resource.json)
            }
        }
    }

    /// The ids of a search Bundle's matches (`search.mode = match`), in order.
    static func ids(_ bundle: [String: Any]) -> [String] {
        ((bundle["entry"] as? [[String: Any]]) ?? []).filter {
            ($0["search"] as? [String: Any])?["mode"] as? String == "match"
        }
        .compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
    }

    @Test func pagesLastNStatsAndDevicesMatchTheWholeHistory() async throws {
        let dir = try APIHarness.scratch("long-history")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let readings = Self.readings()
        try await APIHarness.importReadings(readings, into: dir)
        let server = try await APIHarness.Server.start(dataDirectory: dir + "/data", tokens: ["t=system/*.read"])
        defer { server.stop() }
        let all = Self.everyObservation(readings)
        let newestFirst = all.sorted { $0.micros != $1.micros ? $0.micros > $1.micros : $0.id > $1.id }

        // Newest 100, then the next page through the `next` link: exactly the whole history's order; no total counted.
        let first = try await FHIRAPITests.get(
            server.base + "/Observation?subject=alice&_count=100&_sort=-date", token: "t")
        #expect(first.status == 200 && first.json["total"] == nil)
        #expect(Self.ids(first.json) == newestFirst.prefix(100).map(\.id))
        let next = try #require(FHIRAPITests.link(first.json, "next"))
        let second = try await FHIRAPITests.get(next, token: "t")
        #expect(Self.ids(second.json) == newestFirst.dropFirst(100).prefix(100).map(\.id))
        // Oldest first.
        let oldest = try await FHIRAPITests.get(
            server.base + "/Observation?subject=alice&_count=7&_sort=date", token: "t")
        let oldestFirst = all.sorted { $0.micros != $1.micros ? $0.micros < $1.micros : $0.id < $1.id }
        #expect(Self.ids(oldest.json) == oldestFirst.prefix(7).map(\.id))
        // A code only the cuff's Observations carry: the strap's stream is not walked, every match is seen, total given.
        let pressure = try await FHIRAPITests.get(
            server.base + "/Observation?subject=alice&code=http://loinc.org|85354-9&_count=50", token: "t")
        #expect(pressure.json["total"] as? Int == 4 && Self.ids(pressure.json).count == 4)

        // $lastn: the newest two per code — including the status-bits Observation of the oldest BP reading and the
        // meal context of the oldest glucose record, which the newest readings do not have.
        let lastN = try await FHIRAPITests.get(server.base + "/Observation/$lastn?subject=alice&max=2", token: "t")
        var expected: [String] = []
        for code in Set(all.map(\.code)).sorted() {
            expected += newestFirst.filter { $0.code == code }.prefix(2).map(\.id)
        }
        #expect(Set(Self.ids(lastN.json)) == Set(expected))
        #expect(Self.ids(lastN.json).count == expected.count)
        // Derived Observations read by id (found through their reading's identity), a coincident time stamp too (about
        // the device: never one of a person's newest, but readable).
        let phg = DeviceMapper.phgDeviceID(GatewayRecord(id: "gw-test", softwareVersion: GatewayVersion.current))
        let coincident = Set(
            readings.flatMap { ObservationMapper.observations(for: $0, gatewayDeviceID: phg) }.map(\.id).filter {
                $0.hasPrefix("coin-")
            })
        #expect(Self.ids(lastN.json).allSatisfy { !$0.hasPrefix("coin-") })
        let derived = expected.filter { $0.count != 64 } + coincident.sorted().prefix(1)
        #expect(!coincident.isEmpty && derived.contains { !$0.hasPrefix("coin-") })
        for id in derived {
            let read = try await FHIRAPITests.get(server.base + "/Observation/" + id, token: "t")
            #expect(read.status == 200 && read.json["id"] as? String == id, "\(id)")
        }

        // $stats hourly heart rate (local hours): the store's windows give what tallying every Observation gives.
        let period = "2026-11-18/2026-11-18"
        let stats = try await FHIRAPITests.get(
            server.base
                + "/Observation/$stats?subject=alice&code=http://loinc.org|8867-4&period=\(period)&interval=PT1H&statistic=average,minimum,maximum,count",
            token: "t")
        #expect(stats.status == 200, "\(FHIRAPITests.diagnostics(stats))")
        let windows = ((stats.json["parameter"] as? [[String: Any]]) ?? []).compactMap {
            $0["resource"] as? [String: Any]
        }
        let strap = readings.filter { $0.kind == .heartRate }
        let hours = Dictionary(grouping: strap) { ($0.time.effectiveMicros - Self.start) / 3_600_000_000 }
        #expect(windows.count == hours.count)
        for (index, window) in windows.enumerated() {
            let hour = Int64(index)
            let clean = (hours[hour] ?? []).filter { $0.flags.isEmpty }
            let values = clean.compactMap { $0.component(.heartRate)?.value.quantity }.map {
                DecimalValue(mantissa: $0.mantissa, exponent: $0.exponent)
            }
            let components = (window["component"] as? [[String: Any]]) ?? []
            func component(_ name: String) -> [String: Any]? {
                components.first {
                    ((($0["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String) == name
                }
            }
            func quantity(_ name: String) -> Double? {
                (component(name)?["valueQuantity"] as? [String: Any])?["value"] as? Double
            }
            #expect(component("count")?["valueInteger"] as? Int == values.count)
            #expect(quantity("minimum") == values.min()?.doubleValue)
            #expect(quantity("maximum") == values.max()?.doubleValue)
            let average = try #require(ExactMean(values).value(extraPlaces: 1))
            #expect(abs((quantity("average") ?? 0) - average.doubleValue) < 1e-9)
            let excluded = ((window["extension"] as? [[String: Any]])?.first?["valueInteger"] as? Int) ?? -1
            #expect(excluded == (hours[hour] ?? []).count - clean.count)
        }

        // Devices from the registry: the gateway and the three sensors.
        let devices = try await FHIRAPITests.get(server.base + "/Device", token: "t")
        #expect(FHIRAPITests.entries(devices.json).count == 4 && devices.json["total"] as? Int == 4)
    }
}
