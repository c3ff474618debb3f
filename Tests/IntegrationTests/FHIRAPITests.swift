import CBlueZ
import Foundation
import Provenance
import Testing

@testable import GatewayHTTP
@testable import GatewayRuntime

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The real `gatewayd serve` over a data directory filled by `gatewayd collect --import`, driven through HTTP.
@Suite(.serialized) struct FHIRAPITests {
    /// 2026-11-18 00:00 JST in UTC seconds.
    static let day1: Int64 = 1_794_927_600

    static func bp(
        _ subject: String, user: UInt8, atHour hours: Int64, systolic: DecimalQuantity, diastolic: Int64,
        flags: ReadingFlags = []
    )
        -> Reading
    {
        var device = DeviceRecord(link: "test")
        device.systemID = "00-1B-C5-00-00-00-04-17"
        var context = MeasurementContext()
        context.userID = user
        let micros = (day1 + hours * 3600) * 1_000_000
        let time = TimeProvenance(
            deviceTimestamp: nil, receivedMicros: micros, clock: nil, clockOffsetMicros: nil, decision: .kept,
            effectiveMicros: micros, localOffsetSeconds: 32_400, syncMethod: "none")
        return Reading(
            kind: .bloodPressure,
            components: [
                ReadingComponent(metric: .systolicPressure, value: .quantity(systolic), unit: "mm[Hg]"),
                ReadingComponent(
                    metric: .diastolicPressure, value: .quantity(DecimalQuantity(mantissa: diastolic, exponent: 0)),
                    unit: "mm[Hg]"),
            ],
            subject: subject, device: device, gateway: GatewayRecord(id: "gw-test", softwareVersion: "test"),
            context: context,
            time: time, flags: flags, characteristic: "0x2A35",
            rawPayloads: [[UInt8(truncatingIfNeeded: hours), UInt8(truncatingIfNeeded: systolic.mantissa), user]])
    }

    /// Alice: three readings on 11-18 (JST), one clean and one doubtful on 11-19; Bob: one on 11-18.
    static let systolic: [(hour: Int64, value: DecimalQuantity, doubtful: Bool)] = [
        (8, DecimalQuantity(mantissa: 120, exponent: 0), false),
        (12, DecimalQuantity(mantissa: 1305, exponent: -1), false),
        (20, DecimalQuantity(mantissa: 125, exponent: 0), false),
        (24 + 8, DecimalQuantity(mantissa: 140, exponent: 0), false),
        (24 + 9, DecimalQuantity(mantissa: 200, exponent: 0), true),
    ]

    static func readings() -> [Reading] {
        systolic.map {
            bp(
                "alice", user: 1, atHour: $0.hour, systolic: $0.value, diastolic: 80,
                flags: $0.doubtful ? [.irregularPulse] : [])
        }
            + [bp("bob", user: 2, atHour: 9, systolic: DecimalQuantity(mantissa: 110, exponent: 0), diastolic: 70)]
    }

    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await run(CrashRecoveryTests.gatewaydBinary, arguments)
    }

    /// Runs `executable` to its end; its status and what it printed (standard output and error together).
    static func run(_ executable: URL, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await ChildProcess.run(executable, arguments, mergingStandardError: true)
        return (result.status, result.stdout)
    }

    /// A port the kernel says is free right now (bind to port 0, read it back, close).
    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        return bound ? Int(UInt16(bigEndian: address.sin_port)) : Int.random(in: 20_000...60_000)
    }

    struct Reply {
        var status: Int
        var contentType: String
        var json: [String: Any]
    }

    static func get(_ url: String, token: String?) async throws -> Reply {
        var request = URLRequest(url: try #require(URL(string: url)))
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        let json = try #require(
            try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(String(decoding: data, as: UTF8.self))")
        return Reply(
            status: http.statusCode, contentType: http.value(forHTTPHeaderField: "Content-Type") ?? "", json: json)
    }

    static func entries(_ bundle: [String: Any]) -> [[String: Any]] {
        ((bundle["entry"] as? [[String: Any]]) ?? []).compactMap { $0["resource"] as? [String: Any] }
    }

    static func link(_ bundle: [String: Any], _ relation: String) -> String? {
        ((bundle["link"] as? [[String: Any]]) ?? []).first { $0["relation"] as? String == relation }?["url"] as? String
    }

    static func diagnostics(_ reply: Reply) -> String {
        (((reply.json["issue"] as? [[String: Any]])?.first)?["diagnostics"] as? String) ?? ""
    }

    @Test func searchReadStatsErrorsAuthAndAudit() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-fhirapi-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let encoder = JSONEncoder()
        let lines = try Self.readings().map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: dir + "/readings.jsonl", atomically: true, encoding: .utf8)
        let imported = try await Self.run([
            "collect", "--dir", dir + "/data", "--import", dir + "/readings.jsonl", "--tz", "Asia/Tokyo",
        ])
        #expect(imported.status == 0, "\(imported.output)")
        #expect(imported.output.contains("stored 6"), "\(imported.output)")

        // Bad options are refused before anything listens.
        let badToken = try await Self.run(["serve", "--dir", dir + "/data", "--token", "x=patient/*.read"])
        #expect(badToken.status != 0 && badToken.output.contains("--token"), "\(badToken.output)")

        let port = Self.freePort()
        let server = Process()
        server.executableURL = CrashRecoveryTests.gatewaydBinary
        server.arguments = [
            "serve", "--dir", dir + "/data", "--listen", "127.0.0.1:\(port)", "--tz", "Asia/Tokyo", "--gateway-id",
            "gw-test",
            "--token", "sys-secret=system/*.read", "--token", "alice-secret=patient/*.read@alice",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let base = "http://127.0.0.1:\(port)/fhir"
        let sys = "sys-secret"

        // Ready when /fhir/metadata answers (with a token: DESIGN.md rule 7 leaves no route open).
        var metadata: Reply?
        for _ in 0..<100 {
            if let reply = try? await Self.get(base + "/metadata", token: sys) {
                metadata = reply
                break
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let capability = try #require(metadata, "server did not come up")
        #expect(capability.status == 200)
        #expect(capability.contentType.hasPrefix("application/fhir+json"))
        #expect(capability.json["resourceType"] as? String == "CapabilityStatement")
        let resources = (((capability.json["rest"] as? [[String: Any]])?.first)?["resource"] as? [[String: Any]]) ?? []
        #expect(resources.compactMap { $0["type"] as? String } == ["Patient", "Observation", "Device", "Provenance"])
        let params =
            (resources.first { $0["type"] as? String == "Observation" }?["searchParam"] as? [[String: Any]])?.compactMap
        { $0["name"] as? String } ?? []
        #expect(Set(["subject", "code", "date", "device", "category", "_count", "_sort"]).isSubset(of: Set(params)))

        // 401 without a token (metadata included), 401 with an unknown one.
        #expect(try await Self.get(base + "/metadata", token: nil).status == 401)
        let anonymous = try await Self.get(base + "/Observation", token: nil)
        #expect(anonymous.status == 401 && anonymous.json["resourceType"] as? String == "OperationOutcome")
        #expect(try await Self.get(base + "/Observation", token: "nope").status == 401)

        // Search by subject and code, paged two at a time, newest first.
        let bpPanel = "http://loinc.org%7C85354-9"
        let first = try await Self.get(
            base + "/Observation?subject=Patient/alice&code=\(bpPanel)&_count=2&_sort=-date", token: sys)
        #expect(first.status == 200 && first.contentType.hasPrefix("application/fhir+json"))
        #expect(first.json["type"] as? String == "searchset" && first.json["total"] as? Int == 5)
        let page1 = Self.entries(first.json)
        #expect(page1.count == 2)
        #expect((page1.first?["effectiveDateTime"] as? String) == "2026-11-19T09:00:00+09:00")
        #expect(Self.link(first.json, "previous") == nil)
        var seen = page1.compactMap { $0["id"] as? String }
        var next = Self.link(first.json, "next")
        var pages = 1
        while let url = next {
            let page = try await Self.get(url, token: sys)
            #expect(page.status == 200)
            #expect(Self.link(page.json, "previous") != nil)
            seen += Self.entries(page.json).compactMap { $0["id"] as? String }
            next = Self.link(page.json, "next")
            pages += 1
        }
        #expect(pages == 3 && seen.count == 5 && Set(seen).count == 5)

        // Date prefixes (and), date-only in the server zone.
        let day = try await Self.get(base + "/Observation?subject=alice&code=\(bpPanel)&date=2026-11-18", token: sys)
        #expect(day.json["total"] as? Int == 3)
        let range = try await Self.get(
            base + "/Observation?code=\(bpPanel)&date=ge2026-11-18T12:00:00%2B09:00&date=lt2026-11-19T09:00:00%2B09:00",
            token: sys)
        #expect(range.json["total"] as? Int == 3)  // alice 12:00, 20:00, 11-19 08:00 (bob's 09:00 on 11-18 is before)

        // Read by id; unknown id is a 404 OperationOutcome.
        let id = try #require(seen.first)
        let read = try await Self.get(base + "/Observation/\(id)", token: sys)
        #expect(read.status == 200 && read.json["id"] as? String == id)
        let missing = try await Self.get(base + "/Observation/nonexistent", token: sys)
        #expect(missing.status == 404 && missing.json["resourceType"] as? String == "OperationOutcome")

        // 400 naming the parameter.
        let badDate = try await Self.get(base + "/Observation?date=yesterday", token: sys)
        #expect(badDate.status == 400 && Self.diagnostics(badDate).contains("'date'"))
        let badCount = try await Self.get(base + "/Observation?_count=9999", token: sys)
        #expect(badCount.status == 400 && Self.diagnostics(badCount).contains("'_count'"))

        // A patient-scoped token sees its subject only.
        let alicesOwn = try await Self.get(base + "/Observation?code=\(bpPanel)", token: "alice-secret")
        #expect(alicesOwn.status == 200 && alicesOwn.json["total"] as? Int == 5)
        let bobs = try await Self.get(base + "/Observation?subject=bob", token: "alice-secret")
        #expect(bobs.status == 403 && bobs.json["resourceType"] as? String == "OperationOutcome")
        // Reading one of bob's Observations by id answers as if it did not exist (no hint that the id is real).
        let bobsSearch = try await Self.get(base + "/Observation?subject=bob", token: sys)
        let bobsEntries = bobsSearch.json["entry"] as? [[String: Any]] ?? []
        let bobsID = (bobsEntries.first?["resource"] as? [String: Any])?["id"] as? String ?? ""
        #expect(!bobsID.isEmpty)
        let bobsByID = try await Self.get(base + "/Observation/\(bobsID)", token: "alice-secret")
        #expect(bobsByID.status == 404)
        #expect(try await Self.get(base + "/Observation/\(bobsID)", token: sys).status == 200)

        // Devices: the gateway's PhgDevice and the cuff's PhdDevice.
        let devices = try await Self.get(base + "/Device", token: sys)
        let deviceIDs = Self.entries(devices.json).compactMap { $0["id"] as? String }
        #expect(deviceIDs.contains("phg-gw-test") && deviceIDs.contains("phd-001BC50000000417"))
        #expect(try await Self.get(base + "/Device/phd-001BC50000000417", token: sys).status == 200)

        // $stats per local day equals a naive computation over the clean readings.
        let stats = try await Self.get(
            base + "/Observation/$stats?subject=alice&code=http://loinc.org%7C8480-6&period=2026-11-18/2026-11-19"
                + "&statistic=average,minimum,maximum,count&interval=P1D", token: sys)
        #expect(stats.status == 200, "\(stats.json)")
        let windows = ((stats.json["parameter"] as? [[String: Any]]) ?? []).compactMap {
            $0["resource"] as? [String: Any]
        }
        #expect(windows.count == 2)
        for (index, dayPrefix) in ["2026-11-18", "2026-11-19"].enumerated() where index < windows.count {
            let clean = Self.systolic.filter { !$0.doubtful && ($0.hour < 24) == (index == 0) }
            let values = clean.map { Double($0.value.mantissa) * pow(10, Double($0.value.exponent)) }
            let places = (clean.map { -Int($0.value.exponent) }.max() ?? 0) + 1
            let naiveAverage = String(format: "%.\(places)f", values.reduce(0, +) / Double(values.count))
            let window = windows[index]
            let period = window["effectivePeriod"] as? [String: Any]
            #expect((period?["start"] as? String) == dayPrefix + "T00:00:00+09:00")
            var got: [String: String] = [:]
            for component in (window["component"] as? [[String: Any]]) ?? [] {
                let code =
                    (((component["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String)
                    ?? ""
                if let quantity = component["valueQuantity"] as? [String: Any],
                    let value = quantity["value"] as? NSNumber
                {
                    got[code] = "\(value)"
                    if code == "average" {
                        #expect(String(format: "%.\(places)f", value.doubleValue) == naiveAverage)
                    }
                } else if let count = component["valueInteger"] as? Int {
                    got[code] = String(count)
                }
            }
            #expect(got["count"] == String(clean.count))
            #expect(Double(got["minimum"] ?? "") == values.min())
            #expect(Double(got["maximum"] ?? "") == values.max())
            let excluded = ((window["extension"] as? [[String: Any]])?.first?["valueInteger"] as? Int) ?? -1
            #expect(excluded == (index == 0 ? 0 : 1))
        }
        let badStatistic = try await Self.get(
            base + "/Observation/$stats?subject=alice&code=8480-6&period=2026-11-18/2026-11-19&statistic=variance",
            token: sys)
        #expect(badStatistic.status == 400 && Self.diagnostics(badStatistic).contains("'statistic'"))
        let limitAlone = try await Self.get(
            base + "/Observation/$stats?subject=alice&code=8480-6&period=2026-11-18/2026-11-19&statistic=count&limit=2",
            token: sys)
        #expect(limitAlone.status == 400 && Self.diagnostics(limitAlone).contains("include=true"))

        // sum, std-dev and median per local day equal a naive computation; include=true adds the newest sources.
        let more = try await Self.get(
            base + "/Observation/$stats?subject=alice&code=http://loinc.org%7C8480-6&period=2026-11-18/2026-11-19"
                + "&statistic=sum,std-dev,median&interval=P1D&include=true&limit=2", token: sys)
        #expect(more.status == 200, "\(more.json)")
        let parameters = (more.json["parameter"] as? [[String: Any]]) ?? []
        let dayWindows = parameters.filter { $0["name"] as? String == "statistics" }.compactMap {
            $0["resource"] as? [String: Any]
        }
        let sources = parameters.filter { $0["name"] as? String == "source" }.compactMap {
            $0["resource"] as? [String: Any]
        }
        #expect(dayWindows.count == 2)
        #expect(sources.count == 2 && sources.allSatisfy { $0["resourceType"] as? String == "Observation" })
        let sourceTimes = sources.compactMap { $0["effectiveDateTime"] as? String }
        #expect(sourceTimes == sourceTimes.sorted(by: >), "newest first: \(sourceTimes)")
        for (index, window) in dayWindows.enumerated() {
            let values = Self.systolic.filter { !$0.doubtful && ($0.hour < 24) == (index == 0) }
                .map { Double($0.value.mantissa) * pow(10, Double($0.value.exponent)) }.sorted()
            var got: [String: Double] = [:]
            for component in (window["component"] as? [[String: Any]]) ?? [] {
                let code =
                    (((component["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String)
                    ?? ""
                got[code] = ((component["valueQuantity"] as? [String: Any])?["value"] as? NSNumber)?.doubleValue
            }
            let sum = values.reduce(0, +)
            #expect(abs((got["sum"] ?? .nan) - sum) < 1e-9, "\(got)")
            let median =
                values.count % 2 == 1
                ? values[values.count / 2] : (values[values.count / 2 - 1] + values[values.count / 2]) / 2
            #expect(abs((got["median"] ?? .nan) - median) < 1e-9, "\(got)")
            if values.count > 1 {
                let mean = sum / Double(values.count)
                let deviation = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1))
                    .squareRoot()
                #expect(abs((got["std-dev"] ?? .nan) - deviation) < 0.01, "\(got) vs \(deviation)")
            } else {
                #expect(got["std-dev"] == nil)
            }
        }

        // Provenance of the batch an Observation was accepted in; a patient token never sees another subject's ids.
        let provenance = try await Self.get(base + "/Provenance?target=Observation/\(id)", token: sys)
        #expect(provenance.status == 200)
        let provenances = Self.entries(provenance.json)
        #expect(provenances.count == 1 && provenances.first?["resourceType"] as? String == "Provenance")
        let targets = ((provenances.first?["target"] as? [[String: Any]]) ?? []).compactMap {
            $0["reference"] as? String
        }
        #expect(targets.contains("Observation/\(id)"))
        let bobsIDs = Self.entries(try await Self.get(base + "/Observation?subject=bob", token: sys).json).compactMap {
            $0["id"] as? String
        }
        #expect(!bobsIDs.isEmpty)
        let alicesProvenance = try await Self.get(base + "/Provenance?target=Observation/\(id)", token: "alice-secret")
        #expect(alicesProvenance.status == 200)
        let alicesTargets = Self.entries(alicesProvenance.json).flatMap {
            (($0["target"] as? [[String: Any]]) ?? []).compactMap { $0["reference"] as? String }
        }
        #expect(
            alicesTargets.contains("Observation/\(id)")
                && !bobsIDs.contains { alicesTargets.contains("Observation/" + $0) })
        let noTarget = try await Self.get(base + "/Provenance", token: sys)
        #expect(noTarget.status == 400 && Self.diagnostics(noTarget).contains("'target'"))

        // $lastn: the newest reading of each code.
        let lastn = try await Self.get(base + "/Observation/$lastn?subject=alice&code=\(bpPanel)&max=2", token: sys)
        #expect(lastn.status == 200)
        #expect(
            Self.entries(lastn.json).compactMap { $0["effectiveDateTime"] as? String } == [
                "2026-11-19T09:00:00+09:00", "2026-11-19T08:00:00+09:00",
            ])

        // Writes are not allowed: 405.
        var post = URLRequest(url: try #require(URL(string: base + "/Observation")))
        post.httpMethod = "POST"
        post.setValue("Bearer \(sys)", forHTTPHeaderField: "Authorization")
        post.httpBody = Data("{}".utf8)
        let (_, postResponse) = try await URLSession.shared.data(for: post)
        #expect((postResponse as? HTTPURLResponse)?.statusCode == 405)

        // Every read is in the audit log, with the token's hash prefix and never the secret.
        let audit = try String(contentsOfFile: dir + "/data/audit.jsonl", encoding: .utf8)
        let entries = audit.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(entries.count >= 15)
        #expect(!audit.contains("sys-secret") && !audit.contains("alice-secret"))
        #expect(
            entries.contains { ($0["status"] as? Int) == 403 && (($0["subjects"] as? [String]) ?? []).contains("bob") })
        #expect(entries.contains { ($0["status"] as? Int) == 401 && ($0["token"] as? String) == "none" })
        #expect(entries.allSatisfy { $0["time"] is String && $0["route"] is String && $0["token"] is String })
        #expect(entries.contains { ($0["status"] as? Int) == 401 && ($0["token"] as? String) == "unknown-token" })
    }

    @Test func allowLoopbackOpensTheAPIToLoopbackPeersOnly() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-fhirapi-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let line = String(decoding: try JSONEncoder().encode(Self.readings()[0]), as: UTF8.self)
        try (line + "\n").write(toFile: dir + "/readings.jsonl", atomically: true, encoding: .utf8)
        #expect(
            try await Self.run(["collect", "--dir", dir + "/data", "--import", dir + "/readings.jsonl"]).status == 0)
        let port = Self.freePort()
        let server = Process()
        server.executableURL = CrashRecoveryTests.gatewaydBinary
        server.arguments = ["serve", "--dir", dir + "/data", "--listen", "127.0.0.1:\(port)", "--allow-loopback"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let base = "http://127.0.0.1:\(port)/fhir"
        for _ in 0..<100 {
            if (try? await Self.get(base + "/metadata", token: nil)) != nil { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let open = try await Self.get(base + "/Observation?subject=alice", token: nil)
        #expect(open.status == 200 && (open.json["total"] as? Int ?? 0) >= 1)
        // A wrong token is still refused: loopback opens only token-less requests.
        #expect(try await Self.get(base + "/Observation", token: "wrong").status == 401)
    }
}

/// Coincident timestamps in a person's search: the readings of one cuff connection share one clock comparison, whose
/// Observation is about the device — included once (`search.mode = include`), never a match, not counted in `total`,
/// never one of `$lastn`'s.
@Suite struct CoincidentTimeStampSearchTests {
    @Test func aSharedCoincidentTimeStampIsIncludedOnceAndNeverAMatch() async throws {
        let dir = try APIHarness.scratch("coincident")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Connected at 10:00 JST (the cuff read 10:10), the cuff sent readings it took at 08:00 and 08:30 (stamped 08:10, 08:40).
        let connected = (FHIRAPITests.day1 + 10 * 3600) * 1_000_000
        let clock = ClockComparison(
            deviceTime: DeviceWallClock(year: 2026, month: 11, day: 18, hour: 10, minute: 10, second: 0),
            deviceUTCOffsetMinutes: nil,
            gatewayMicros: connected, roundTripMicros: 40_000, afterSet: false)
        let readings = [Int64(0), 30].map { minute in
            var reading = FHIRAPITests.bp(
                "alice", user: 1, atHour: 8, systolic: DecimalQuantity(mantissa: 120 + minute, exponent: 0),
                diastolic: 80)
            let micros = (FHIRAPITests.day1 + 8 * 3600 + minute * 60) * 1_000_000
            reading.time = TimeProvenance(
                deviceTimestamp: DeviceWallClock(
                    year: 2026, month: 11, day: 18, hour: 8, minute: Int(minute) + 10, second: 0),
                receivedMicros: connected + 2_000_000 + minute, clock: clock, clockOffsetMicros: 600_000_000,
                decision: .mapped(correctionMicros: -600_000_000), effectiveMicros: micros, localOffsetSeconds: 32_400,
                syncMethod: "cts_read")
            reading.rawPayloads = [[8, UInt8(minute)]]
            return reading
        }
        try await APIHarness.importReadings(readings, into: dir)
        let server = try await APIHarness.Server.start(dataDirectory: dir + "/data", tokens: ["t=system/*.read"])
        defer { server.stop() }
        let search = try await FHIRAPITests.get(server.base + "/Observation?subject=alice", token: "t")
        #expect(search.status == 200)
        let entries = (search.json["entry"] as? [[String: Any]]) ?? []
        let modes = entries.map {
            (
                ($0["search"] as? [String: Any])?["mode"] as? String ?? "",
                ($0["resource"] as? [String: Any])?["id"] as? String ?? ""
            )
        }
        let included = modes.filter { $0.0 == "include" }.map(\.1)
        #expect(included.count == 1 && included.first?.hasPrefix("coin-") == true, "\(modes)")
        #expect(modes.filter { $0.0 == "match" }.allSatisfy { !$0.1.hasPrefix("coin-") }, "\(modes)")
        #expect(Set(modes.map(\.1)).count == modes.count, "a resource appears twice: \(modes)")
        #expect(search.json["total"] as? Int == modes.filter { $0.0 == "match" }.count)
        let lastn = try await FHIRAPITests.get(server.base + "/Observation/$lastn?subject=alice&max=1", token: "t")
        let lastIDs = FHIRAPITests.entries(lastn.json).compactMap { $0["id"] as? String }
        #expect(!lastIDs.isEmpty && lastIDs.allSatisfy { !$0.hasPrefix("coin-") }, "\(lastIDs)")
    }
}

/// The API's parsers, in process.
@Suite struct FHIRAPIParsingTests {
    @Test func dateValuesCoverTheirPrecisionAndPrefixesCompareAsFHIRSays() throws {
        let tokyo = try #require(TimeZone(identifier: "Asia/Tokyo"))
        let second = try #require(DateText.range("2026-11-18T08:30:00+09:00", zone: tokyo))
        #expect(second.start == 1_794_958_200_000_000 && second.end - second.start == 1_000_000)
        let fraction = try #require(DateText.range("2026-11-17T23:30:00.25Z", zone: tokyo))
        #expect(fraction.start == 1_794_958_200_250_000 && fraction.end - fraction.start == 10_000)
        let day = try #require(DateText.range("2026-11-18", zone: tokyo))
        #expect(day.start == 1_794_927_600_000_000 && day.end - day.start == 86_400_000_000)
        for bad in [
            "2026-02-30", "2026-13-01", "2026-11-18T25:00:00Z", "2026-11-18T08:30:00", "yesterday",
            "2026-11-18T08:30:00+0900",
        ] {
            #expect(DateText.range(bad, zone: tokyo) == nil, "\(bad)")
        }
        let ge = try DateParameter.parse("ge2026-11-18", parameter: "date", zone: tokyo)
        #expect(ge.matches(day.start) && !ge.matches(day.start - 1))
        let lt = try DateParameter.parse("lt2026-11-18", parameter: "date", zone: tokyo)
        #expect(lt.matches(day.start - 1) && !lt.matches(day.start))
        let gt = try DateParameter.parse("gt2026-11-18", parameter: "date", zone: tokyo)
        #expect(!gt.matches(day.end - 1) && gt.matches(day.end))
        #expect(throws: APIError.self) { try DateParameter.parse("ne2026-11-18", parameter: "date", zone: tokyo) }
    }

    @Test func tokensNeedAScopeAndPatientScopesASubject() throws {
        let patient = try APIToken.parse("abc=patient/Observation.read@alice,patient/Device.rs@alice")
        #expect(
            patient.scopes == [
                .init(resourceType: "Observation", subject: "alice"), .init(resourceType: "Device", subject: "alice"),
            ])
        #expect(patient.auditID.hasPrefix("tok-") && patient.auditID.count == 16 && !patient.auditID.contains("abc"))
        for bad in [
            "abc", "abc=patient/*.read", "abc=system/*.delete", "abc=patient/*.write", "abc=user/*.read",
            "abc=system/Encounter.read", "=system/*.read",
        ] {
            #expect(throws: APIToken.ParseError.self, "\(bad)") { try APIToken.parse(bad) }
        }
        let access = APIAccess(tokens: [patient], allowLoopback: false)
        let grant = try access.grant(authorization: "Bearer abc", peerIsLoopback: false, resourceType: "Observation")
        #expect(grant.subjects == ["alice"] && grant.allows(subject: "alice") && !grant.allows(subject: "bob"))
        #expect(throws: APIError.self) {
            try access.grant(authorization: "Bearer abc", peerIsLoopback: false, resourceType: "Provenance")
        }
        #expect(throws: APIError.self) {
            try access.grant(authorization: nil, peerIsLoopback: true, resourceType: "Observation")
        }
    }
}
