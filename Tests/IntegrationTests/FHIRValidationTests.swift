import FHIR
import Foundation
import Provenance
import Testing

@testable import GatewayRuntime

/// Every kind of resource `gatewayd serve` emits, fetched over HTTP as a client gets it and validated against the
/// FHIR R4 models of the PyPI package `fhir.resources` (6.4.0, pydantic 1) by scripts/validate_fhir.py: unknown
/// elements, wrong primitive formats (dateTime, id, decimal), missing required elements and value[x] mix-ups fail.
/// CI sets GATEWAYD_FHIR_VALIDATOR (.ci/run builds the venv); locally `.venv-fhir/bin/python` is used when present,
/// and the suite is skipped, saying so, when there is neither.
/// Where the Python with fhir.resources is: $GATEWAYD_FHIR_VALIDATOR when set (a wrong path then fails, never
/// skips — CI must not pass by accident), else the package's .venv-fhir.
enum FHIRValidator {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var python: String? {
        if let configured = ProcessInfo.processInfo.environment["GATEWAYD_FHIR_VALIDATOR"], !configured.isEmpty {
            return configured
        }
        let local = packageRoot.appendingPathComponent(".venv-fhir/bin/python").path
        return FileManager.default.isExecutableFile(atPath: local) ? local : nil
    }

    static let skipReason: Comment =
        "FHIR validation skipped: GATEWAYD_FHIR_VALIDATOR is unset and .venv-fhir/bin/python is absent (python3 -m venv .venv-fhir && .venv-fhir/bin/pip install 'fhir.resources==6.4.0' 'pydantic<2')"
}

@Suite(.serialized, .enabled(if: FHIRValidator.python != nil, FHIRValidator.skipReason))
struct FHIRValidationTests {
    // MARK: Readings that make every Observation shape the mappers know

    static let gateway = GatewayRecord(id: "gw-test", softwareVersion: "test")
    /// 2026-11-18 08:30:00 +09:00.
    static let at0830: Int64 = 1_794_958_200_000_000
    static let hour: Int64 = 3_600_000_000

    static func q(_ mantissa: Int64, _ exponent: Int8 = 0) -> ReadingValue {
        .quantity(DecimalQuantity(mantissa: mantissa, exponent: exponent))
    }

    static func cuff() -> DeviceRecord {
        var device = DeviceRecord(link: "l2cap:AA:BB:CC:DD:EE:01")
        device.systemID = "00-1B-C5-00-00-00-04-17"
        device.address = "AA:BB:CC:DD:EE:01"
        device.manufacturer = "Omron Healthcare"
        device.model = "HEM-7600T"
        device.serialNumber = "20261118A"
        device.firmwareRevision = "1.2.0"
        device.hardwareRevision = "B"
        device.softwareRevision = "3.1"
        device.regulatoryCertificationHex = "0001000200030004"
        device.unregulated = false
        return device
    }

    static func meter() -> DeviceRecord {
        var device = DeviceRecord(link: "unix:/run/glucose.sock")
        device.address = "AA:BB:CC:DD:EE:02"
        device.manufacturer = "Acme"
        device.model = "Gluco 3"
        device.serialNumber = "G-77"
        return device
    }

    static func strap() -> DeviceRecord {
        var device = DeviceRecord(link: "l2cap:hci0")
        device.address = "AA:BB:CC:DD:EE:03"
        return device
    }

    static func wall(_ micros: Int64) -> DeviceWallClock {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 32_400) ?? .gmt
        let c = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(micros) / 1e6))
        return DeviceWallClock(
            year: c.year, month: c.month, day: c.day, hour: c.hour ?? 0, minute: c.minute ?? 0, second: c.second ?? 0)
    }

    /// A device timestamp, the clock read over CTS 5 s before, and the decision.
    static func stamped(_ micros: Int64, offset: Int64 = 0, decision: TimeDecision = .kept, clock: Bool = true)
        -> TimeProvenance
    {
        let comparison = ClockComparison(
            deviceTime: wall(micros - 5_000_000 + offset), deviceUTCOffsetMinutes: nil,
            gatewayMicros: micros - 5_000_000,
            roundTripMicros: 40_000, afterSet: false)
        let effective: Int64
        if case .refused = decision { effective = micros + 7_000_000 } else { effective = micros }
        return TimeProvenance(
            deviceTimestamp: wall(micros + offset), receivedMicros: micros + 7_000_000, clock: clock ? comparison : nil,
            clockOffsetMicros: clock ? offset : nil, decision: decision, effectiveMicros: effective,
            localOffsetSeconds: 32_400,
            syncMethod: clock ? "cts_read" : "none")
    }

    static func received(_ micros: Int64) -> TimeProvenance {
        TimeProvenance(
            deviceTimestamp: nil, receivedMicros: micros, clock: nil, clockOffsetMicros: nil, decision: .receiveTime,
            effectiveMicros: micros, localOffsetSeconds: 32_400, syncMethod: "none")
    }

    static func bloodPressure(
        at micros: Int64, systolic: ReadingValue, time: TimeProvenance, rawStatus: UInt16? = nil,
        flags: ReadingFlags = []
    )
        -> Reading
    {
        var context = MeasurementContext()
        context.userID = 1
        context.rawStatus = rawStatus
        if rawStatus.map({ $0 & 1 != 0 }) ?? false { context.statusLabels = ["body_movement_detected"] }
        context.pulseRateRange = "within_range"
        return Reading(
            kind: .bloodPressure,
            components: [
                ReadingComponent(metric: .systolicPressure, value: systolic, unit: "mm[Hg]"),
                ReadingComponent(metric: .diastolicPressure, value: q(80), unit: "mm[Hg]"),
                ReadingComponent(metric: .meanArterialPressure, value: q(935, -1), unit: "mm[Hg]"),
            ],
            subject: "alice", device: cuff(), gateway: gateway, context: context, time: time, flags: flags,
            characteristic: "0x2A35", rawPayloads: [[0x1E, UInt8(truncatingIfNeeded: micros / hour), 0x00]])
    }

    static func readings() -> [Reading] {
        var list: [Reading] = []
        // Clean BP, device clock in sync (coincident time stamp with a value).
        list.append(bloodPressure(at: at0830, systolic: q(1205, -1), time: stamped(at0830)))
        // BP with body movement (status-bits Observation, questionable), clock 10 min fast and mapped.
        list.append(
            bloodPressure(
                at: at0830 + hour, systolic: q(142),
                time: stamped(at0830 + hour, offset: 600_000_000, decision: .mapped(correctionMicros: -600_000_000)),
                rawStatus: 0x0001, flags: [.bodyMovement, .timeCorrected]))
        // BP whose timestamp was refused (clock reset), and one whose device clock could not be read (time fault).
        var reset = stamped(at0830 + 2 * hour, decision: .refused(reason: "device clock reset to 2000-01-01"))
        reset.deviceTimestamp = DeviceWallClock(year: 2000, month: 1, day: 1, hour: 0, minute: 12, second: 0)
        reset.clock?.deviceTime = DeviceWallClock(year: 2000, month: 1, day: 1, hour: 0, minute: 12, second: 3)
        list.append(bloodPressure(at: at0830 + 2 * hour, systolic: q(130), time: reset, flags: [.timeRefused]))
        list.append(
            bloodPressure(at: at0830 + 3 * hour, systolic: q(128), time: stamped(at0830 + 3 * hour, clock: false)))
        // NaN systolic: dataAbsentReason in the component, never a value.
        list.append(
            bloodPressure(
                at: at0830 + 4 * hour, systolic: .absent(.notANumber), time: stamped(at0830 + 4 * hour),
                flags: [.valueAbsent]))

        // Pulse rate from the cuff.
        var pulse = bloodPressure(at: at0830 + 5 * hour, systolic: q(120), time: stamped(at0830 + 5 * hour))
        pulse.kind = .pulseRate
        pulse.components = [ReadingComponent(metric: .pulseRate, value: q(72), unit: "/min")]
        list.append(pulse)

        // Heart rate with RR intervals (receive time, no device clock), and one without sensor contact.
        for (index, rr) in [[1024, 983], [Int64]()].enumerated() {
            var context = MeasurementContext()
            context.sensorContact = index == 0 ? "detected" : "not_detected"
            context.bodySensorLocation = "chest"
            let micros = at0830 + 6 * hour + Int64(index) * 1_000_000
            list.append(
                Reading(
                    kind: .heartRate,
                    components: [ReadingComponent(metric: .heartRate, value: q(64), unit: "/min")]
                        + rr.map {
                            ReadingComponent(metric: .rrInterval, value: q(Int64($0) * 9_765_625, -10), unit: "s")
                        },
                    subject: "alice", device: strap(), gateway: gateway, context: context, time: received(micros),
                    flags: index == 0 ? [] : [.noSensorContact], characteristic: "0x2A37",
                    rawPayloads: [[0x16, 0x40, UInt8(index)]]))
        }

        // Glucose with its context (meal, location, …), one with sensor annunciations, one NaN test-data reading.
        let glucoseCases: [(value: ReadingValue, status: UInt16?, flags: ReadingFlags, sample: String)] = [
            (q(95, -5), nil, [], "capillary_plasma"),
            (q(61, -4), 0x0024, [.sensorAnnunciation], "capillary_whole_blood"),
            (.absent(.notANumber), nil, [.testData, .valueAbsent], "venous_plasma"),
        ]
        for (index, item) in glucoseCases.enumerated() {
            var glucose = GlucoseContext(sequenceNumber: UInt16(40 + index))
            glucose.sampleType = item.sample
            glucose.sampleLocation = "finger"
            glucose.meal = ["preprandial", "postprandial", "fasting"][index]
            glucose.tester = "self"
            glucose.health = "no_health_issues"
            glucose.carbohydrateID = "breakfast"
            glucose.carbohydrateKilograms = DecimalQuantity(mantissa: 45, exponent: -3)
            glucose.exerciseDurationSeconds = 1200
            glucose.exerciseIntensityPercent = 40
            glucose.medicationID = "rapid_acting_insulin"
            glucose.medicationQuantity = DecimalQuantity(mantissa: 4, exponent: -6)
            glucose.medicationUnit = "L"
            glucose.hba1cPercent = DecimalQuantity(mantissa: 62, exponent: -1)
            var context = MeasurementContext()
            context.glucose = glucose
            context.rawStatus = item.status
            let micros = at0830 + (8 + Int64(index)) * hour
            list.append(
                Reading(
                    kind: .glucose, components: [ReadingComponent(metric: .glucose, value: item.value, unit: "kg/L")],
                    subject: "alice", device: meter(), gateway: gateway, context: context, time: stamped(micros),
                    flags: item.flags,
                    characteristic: "0x2A18",
                    rawPayloads: [[0x1B, UInt8(40 + index), 0x00], [0x02, UInt8(40 + index)]],
                    sequenceNumber: UInt16(40 + index)))
        }
        // Body temperature: 36.8 °C at the armpit (stamped), and a thermometer that could not finish in °F (NaN).
        for (index, item) in [(q(368, -1), "Cel", "armpit"), (ReadingValue.absent(.notANumber), "[degF]", "mouth")]
            .enumerated()
        {
            var context = MeasurementContext()
            context.bodySensorLocation = item.2
            let micros = at0830 + (11 + Int64(index)) * hour
            list.append(
                Reading(
                    kind: .bodyTemperature,
                    components: [ReadingComponent(metric: .bodyTemperature, value: item.0, unit: item.1)],
                    subject: "alice", device: cuff(), gateway: gateway, context: context, time: stamped(micros),
                    flags: index == 0 ? [] : [.valueAbsent], characteristic: "0x2A1C",
                    rawPayloads: [[0x06, 0x70, 0x01, 0x00, UInt8(0xFF - index)]]))
        }
        // A pulse oximeter's spot-check: SpO2 with its pulse amplitude index, and its pulse rate; low perfusion.
        var oximetry = MeasurementContext()
        oximetry.statusLabels = ["validated_data", "low_perfusion_detected"]
        oximetry.rawStatus = 0x0080
        let spotCheck = at0830 + 13 * hour
        list.append(
            Reading(
                kind: .oxygenSaturation,
                components: [
                    ReadingComponent(metric: .oxygenSaturation, value: q(93), unit: "%"),
                    ReadingComponent(metric: .pulseAmplitudeIndex, value: q(42, -1), unit: "%"),
                ],
                subject: "alice", device: strap(), gateway: gateway, context: oximetry, time: stamped(spotCheck),
                flags: [.sensorAnnunciation], characteristic: "0x2A5E", rawPayloads: [[0x0F, 0x5D, 0x00, 0x40, 0x00]]))
        list.append(
            Reading(
                kind: .oximetryPulseRate,
                components: [ReadingComponent(metric: .oximetryPulseRate, value: q(64), unit: "/min")],
                subject: "alice", device: strap(), gateway: gateway, context: oximetry, time: stamped(spotCheck),
                flags: [.sensorAnnunciation], characteristic: "0x2A5E", rawPayloads: [[0x0F, 0x5D, 0x00, 0x40, 0x00]]))
        // A scale: weight (user slot 1), BMI, height, and a body-composition analysis (impedance has no code).
        var weighing = MeasurementContext()
        weighing.userID = 1
        let weighed = at0830 + 14 * hour
        for (kind, metric, value, unit) in [
            (ReadingKind.bodyWeight, Metric.bodyWeight, q(62_300, -3), "kg"),
            (.bodyMassIndex, .bodyMassIndex, q(243, -1), "kg/m2"),
            (.bodyHeight, .bodyHeight, q(1600, -3), "m"),
        ] {
            list.append(
                Reading(
                    kind: kind, components: [ReadingComponent(metric: metric, value: value, unit: unit)],
                    subject: "alice", device: cuff(),
                    gateway: gateway, context: weighing, time: stamped(weighed), flags: [], characteristic: "0x2A9D",
                    rawPayloads: [[0x0E, 0xAC, 0x30, UInt8(kind.rawValue.count)]]))
        }
        list.append(
            Reading(
                kind: .bodyComposition,
                components: [
                    ReadingComponent(metric: .bodyFat, value: q(251, -1), unit: "%"),
                    ReadingComponent(metric: .basalMetabolism, value: q(6230), unit: "kJ"),
                    ReadingComponent(metric: .impedance, value: q(5123, -1), unit: "Ohm"),
                ],
                subject: "alice", device: cuff(), gateway: gateway, context: weighing, time: stamped(weighed),
                flags: [],
                characteristic: "0x2A9C", rawPayloads: [[0x0C, 0x10, 0xFB, 0x00], [0x00, 0x12, 0xFB, 0x00]]))
        // Bob's reading: a patient-scoped Provenance of a mixed batch is a restricted one.
        var bobs = bloodPressure(at: at0830, systolic: q(110), time: stamped(at0830))
        bobs.subject = "bob"
        bobs.context.userID = 2
        list.append(bobs)
        return list
    }

    // MARK: The test

    @Test func everyResourceTheServerEmitsValidatesAsFHIRR4() async throws {
        let validator = try #require(FHIRValidator.python)
        let dir = try APIHarness.scratch("fhirvalidate")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await APIHarness.importReadings(Self.readings(), into: dir, arguments: ["--key", dir + "/gw.key"])
        let server = try await APIHarness.Server.start(
            dataDirectory: dir + "/data", tokens: ["sys-secret=system/*.read", "alice-secret=patient/*.read@alice"])
        defer { server.stop() }
        // FHIR_SAMPLE_DIR (as in FHIRTests) keeps the fetched resources for a look by hand.
        let out = ProcessInfo.processInfo.environment["FHIR_SAMPLE_DIR"].map { $0 + "/api" } ?? dir + "/resources"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let base = server.base
        var saved: [String] = []

        /// Fetches one resource, keeps it as a file for the validator, and returns it parsed.
        func keep(
            _ name: String, _ url: String, method: String = "GET", token: String? = "sys-secret", status: Int = 200,
            contentType: String? = nil, body: String? = nil
        ) async throws -> [String: Any] {
            let reply = try await APIHarness.send(
                method, url, token: token, contentType: contentType, body: body.map { Data($0.utf8) })
            #expect(reply.status == status, "\(name): \(String(decoding: reply.data, as: UTF8.self).prefix(400))")
            let file = String(format: "%02d-", saved.count) + name + ".json"
            try reply.data.write(to: URL(fileURLWithPath: out + "/" + file))
            saved.append(file)
            return (try JSONSerialization.jsonObject(with: reply.data) as? [String: Any]) ?? [:]
        }

        _ = try await keep("metadata", base + "/metadata")
        let all = try await keep("observations", base + "/Observation?subject=alice&_count=500")
        let observations = FHIRAPITests.entries(all)
        // The fixture really gives every shape: make sure, or the validation proves less than it claims.
        func profiles(_ resource: [String: Any]) -> [String] {
            ((resource["meta"] as? [String: Any])?["profile"] as? [String]) ?? []
        }
        func codes(_ resource: [String: Any]) -> [String] {
            (((resource["code"] as? [String: Any])?["coding"] as? [[String: Any]]) ?? []).compactMap {
                $0["code"] as? String
            }
        }
        #expect(observations.contains { codes($0).contains("85354-9") })
        #expect(observations.contains { codes($0).contains("8867-4") && $0["component"] != nil })  // heart rate + RR
        #expect(observations.contains { $0["dataAbsentReason"] != nil })
        #expect(
            observations.contains { resource in
                ((resource["component"] as? [[String: Any]]) ?? []).contains { $0["dataAbsentReason"] != nil }
            })
        func isCoincident(_ resource: [String: Any]) -> Bool {
            profiles(resource).contains { $0.hasSuffix("PhdCoincidentTimeStampObservation") }
        }
        #expect(observations.contains { resource in isCoincident(resource) && resource["valueDateTime"] != nil })
        #expect(observations.contains { resource in isCoincident(resource) && resource["dataAbsentReason"] != nil })
        #expect(
            observations.contains { resource in
                profiles(resource).contains { $0.hasSuffix("PhdBitsEnumerationObservation") }
            })
        #expect(observations.contains { ($0["meta"] as? [String: Any])?["security"] != nil })
        #expect(observations.count >= 20, "\(observations.count) Observations")

        // Every Observation read by id (the same JSON, but as a resource of its own, not a Bundle entry).
        for (index, observation) in observations.enumerated() {
            guard let id = observation["id"] as? String else { continue }
            _ = try await keep("observation-\(index)", base + "/Observation/\(id)")
        }
        _ = try await keep("patients", base + "/Patient")
        _ = try await keep("patient-alice", base + "/Patient/alice")
        let devices = try await keep("devices", base + "/Device")
        for device in FHIRAPITests.entries(devices) {
            guard let id = device["id"] as? String else { continue }
            _ = try await keep("device-\(id)", base + "/Device/\(id)")
        }
        // A reading's own Observation: its id is its identifier, or (anchored on receipt) "t" + time + identity digits.
        let primaries = observations.filter { observation in
            let id = observation["id"] as? String ?? ""
            return (observation["identifier"] as? [[String: Any]])?.first?["value"] as? String == id
                || (id.hasPrefix("t") && ResourceIDs.readingLocation(ofObservationID: id) != nil)
        }
        #expect(primaries.contains { ($0["id"] as? String ?? "").hasPrefix("t") })
        let primaryIDs = primaries.compactMap { $0["id"] as? String }
        #expect(!primaryIDs.isEmpty)
        let targets = primaryIDs.map { "Observation/" + $0 }.joined(separator: ",")
        let provenance = try await keep("provenance", base + "/Provenance?target=" + targets)
        #expect(!FHIRAPITests.entries(provenance).isEmpty)
        _ = try await keep("provenance-patient", base + "/Provenance?target=" + targets, token: "alice-secret")

        let statsQuery =
            "subject=alice&code=http://loinc.org%7C8480-6&period=2026-11-18/2026-11-19&statistic=average,minimum,maximum,count"
        _ = try await keep("stats-get", base + "/Observation/$stats?" + statsQuery)
        _ = try await keep("stats-get-hourly", base + "/Observation/$stats?" + statsQuery + "&interval=PT1H")
        _ = try await keep(
            "stats-glucose",
            base
                + "/Observation/$stats?subject=alice&code=41653-7,2339-0,2345-7&period=2026-11-18/2026-11-19&statistic=average,count"
        )
        _ = try await keep(
            "stats-post-form", base + "/Observation/$stats", method: "POST",
            contentType: "application/x-www-form-urlencoded", body: statsQuery)
        _ = try await keep(
            "stats-post-parameters", base + "/Observation/$stats", method: "POST", contentType: "application/fhir+json",
            body: StatsPostTests.parameters)
        _ = try await keep(
            "stats-temperature",
            base
                + "/Observation/$stats?subject=alice&code=http://loinc.org%7C8310-5&period=2026-11-18/2026-11-19&statistic=average,minimum,maximum,count"
        )
        #expect(observations.contains { codes($0).contains("8310-5") && ($0["bodySite"] as? [String: Any]) != nil })
        #expect(observations.contains { codes($0).contains("59408-5") && codes($0).contains("2708-6") })
        #expect(
            observations.contains { codes($0).contains("29463-7") }
                && observations.contains { codes($0).contains("41982-0") })
        _ = try await keep(
            "stats-spo2",
            base
                + "/Observation/$stats?subject=alice&code=http://loinc.org%7C59408-5&period=2026-11-18/2026-11-19&statistic=minimum,count"
        )
        _ = try await keep("lastn", base + "/Observation/$lastn?subject=alice&max=3")
        _ = try await keep("search-page", base + "/Observation?subject=alice&_count=2&_offset=2&_sort=-date")
        // The daily clinical summaries, found by their codes.
        let own = "urn:gatewayd:fhir:summary-code%7C"
        let daily = FHIRAPITests.entries(
            try await keep(
                "daily-summaries",
                base + "/Observation?subject=alice&code=96607-7,40443-4,\(own)rmssd,\(own)glucose-by-meal&_count=100"))
        #expect(
            daily.contains { codes($0).contains("home-bp-morning") }
                && daily.contains { codes($0).contains("glucose-by-meal") }, "\(daily)")

        // Errors are OperationOutcomes: 400, 401, 403, 404, 405, 415.
        _ = try await keep("error-400", base + "/Observation?date=yesterday", status: 400)
        _ = try await keep(
            "error-400-body", base + "/Observation/$stats", method: "POST", status: 400,
            contentType: "application/fhir+json",
            body: #"{"resourceType":"Parameters","parameter":[{"name":"period"}]}"#)
        _ = try await keep("error-401", base + "/Observation", token: nil, status: 401)
        _ = try await keep("error-403", base + "/Observation?subject=bob", token: "alice-secret", status: 403)
        _ = try await keep("error-404", base + "/Observation/nonexistent", status: 404)
        _ = try await keep(
            "error-405", base + "/Observation", method: "POST", status: 405, contentType: "application/fhir+json",
            body: "{}")
        _ = try await keep(
            "error-415", base + "/Observation/$stats", method: "POST", status: 415, contentType: "text/plain", body: "x"
        )

        let script = FHIRValidator.packageRoot.appendingPathComponent("scripts/validate_fhir.py").path
        let validated: ChildProcess.Result
        do {
            validated = try await ChildProcess.run(
                URL(fileURLWithPath: validator), [script, out], mergingStandardError: true)
        } catch {
            Issue.record("cannot run the FHIR validator \(validator) (GATEWAYD_FHIR_VALIDATOR): \(error)")
            return
        }
        let report = validated.stdout
        #expect(validated.status == 0, "validate_fhir.py found problems:\n\(report)")
        #expect(report.contains("\(saved.count) of \(saved.count) file(s) valid"), "\(report)")
    }
}
