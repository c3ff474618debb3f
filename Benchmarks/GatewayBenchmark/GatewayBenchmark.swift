import ArgumentParser
import Foundation
import Provenance

extension Workload.HeartValues: ExpressibleByArgument {}

#if canImport(Glibc)
    import Glibc
#endif

/// The whole gateway, measured as an operator meets it: a generated day (or week) of readings from the demo's
/// device mix imported through `gatewayd collect` (the real pipeline: dedupe, durable store, ledger), then the data
/// directory's size, the bytes the import wrote, its rate, and the FHIR API's latency and memory through HTTP
/// against `gatewayd serve`. Each figure is printed with its goal (issue "One source of truth"); latencies are
/// medians of repeated requests on a shared, noisy machine.
@main
struct GatewayBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Measure the whole gateway (data directory, bytes written, import rate, HTTP latency, RSS) on generated readings."
    )

    @Option(
        help: "People, each with a heart-rate strap at 1 Hz and RR intervals and a glucose meter; half share cuffs.")
    var people = 1
    @Option(help: "Hours of readings (24: a day, 168: a week).") var hours = 24.0
    @Option(help: "Repetitions of each HTTP request; the median is reported.") var requests = 9
    @Option(help: "The gatewayd binary (default: beside this benchmark).") var gatewayd: String?
    @Option(help: "Where the run directory is created.") var workDirectory = "/tmp"
    @Option(help: "Loopback port for gatewayd serve.") var port = 18_765
    @Flag(help: "Keep the run directory for inspection.") var keep = false
    @Option(help: "Simulated straps at 1 Hz for the live figure (gatewayd run); 0 skips it.") var liveStraps = 20
    @Option(help: "Seconds the live figure is measured (after a 10 s warm-up).") var liveSeconds = 60.0
    @Option(
        help:
            "Heart values: physiological (a walking rate, the RR intervals of the beats in each second, receipt times wobbling by milliseconds) or noise (every value drawn independently)."
    )
    var values: Workload.HeartValues = .physiological
    @Option(
        help:
            "Days of cuff and meter readings for the footprint of one such reading (imported twice into a fresh directory; the second import's growth is measured); 0 skips it."
    )
    var recordDays = 30
    @Option(
        help:
            "Measure the API on this data directory (kept by an earlier run with the same --people/--hours) instead of importing."
    )
    var reuse: String?

    mutating func run() async throws {
        let binary =
            gatewayd ?? (URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/gatewayd")
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError(
                "no gatewayd at \(binary): build it first (swift build -c release --product gatewayd) or give --gatewayd"
            )
        }
        let run = workDirectory + "/gatewayd-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: run) } }
        let start = Int64(1_793_577_600) * 1_000_000  // 2026-11-02T00:00:00Z
        let workload = Workload(people: people, hours: hours, startMicros: start, values: values)
        let file = run + "/readings.jsonl"
        let counts = try workload.write(to: file)
        let total = counts.values.reduce(0, +)
        let heartRate = counts[.heartRate] ?? 0
        print(
            "workload (\(values.rawValue) heart values): \(people) people, \(format(hours, 1)) h — \(total) readings (\(heartRate) heart-rate notifications with RR, "
                + "\(counts[.bloodPressure] ?? 0) blood pressure + \(counts[.pulseRate] ?? 0) pulse, \(counts[.glucose] ?? 0) glucose)"
        )

        // 1. Import through the real pipeline.
        let data = reuse ?? run + "/data"
        var rows: [[String]] = [["figure", "measured", "goal"]]
        if reuse == nil {
            let before = childUsage()
            let began = ContinuousClock.now
            let imported = try Child.run(
                binary,
                ["collect", "--dir", data, "--import", file, "--tz", "UTC", "--gateway-id", "bench-gateway"]
                    + workload.mappings.flatMap { ["--map", $0] })
            let seconds = seconds(ContinuousClock.now - began)
            guard imported.status == 0 else {
                throw BenchmarkError("gatewayd collect failed: \(imported.output.suffix(2000))")
            }
            let after = childUsage()
            let written = (after.outBlocks - before.outBlocks) * 512
            rows.append([
                "import rate through the pipeline", "\(Int(Double(total) / seconds)) readings/s", "≥ 20,000 readings/s",
            ])
            rows.append(["bytes written to disk per reading (import)", "\(written / max(total, 1)) B", "—"])
        }
        let sizes = directorySizes(data)
        let dataBytes = sizes.values.reduce(0, +)

        rows.append([
            "data directory per reading, all files",
            String(format: "%.1f B", Double(dataBytes) / Double(max(total, 1))), "≤ 4 B per HR notification",
        ])
        for (part, bytes) in sizes.sorted(by: { $0.value > $1.value }) {
            rows.append([
                "  \(part)", "\(bytes) B (\(String(format: "%.1f", Double(bytes) / Double(max(total, 1)))) B/reading)",
                "",
            ])
        }

        // 2. The FHIR API through HTTP, on that data.
        let server = try Child.start(
            binary,
            [
                "serve", "--dir", data, "--listen", "127.0.0.1:\(port)", "--allow-loopback", "--tz", "UTC", "--token",
                "bench-token=system/*.read",
            ])
        defer { server.stop() }
        let base = "http://127.0.0.1:\(port)/fhir"
        try await waitForServer(base + "/metadata")
        let end = start + Int64(hours * 3_600_000_000)
        let period = "\(iso(start))/\(iso(end - 1_000_000))"
        let probes: [(String, String, String)] = [
            (
                "$stats hourly, one person's whole range",
                "/Observation/$stats?subject=person-0&code=8867-4&period=\(period)&interval=PT1H&statistic=average,minimum,maximum,count",
                "≤ 10 ms (a week)"
            ),
            ("$lastn?max=1", "/Observation/$lastn?subject=person-0&max=1", "≤ 5 ms"),
            ("newest 100 Observations", "/Observation?subject=person-0&_count=100&_sort=-date", "≤ 20 ms"),
            ("GET /Device", "/Device", "≤ 5 ms"),
            // Daily summaries are computed from the days searched: one person's resting rate for every day of the
            // range, and the newest day's RMSSD.
            ("resting HR, every day of the range", "/Observation?subject=person-0&code=40443-4&_count=31", "—"),
            (
                "newest day's RMSSD",
                "/Observation?subject=person-0&code=urn:gatewayd:fhir:summary-code%7Crmssd&_sort=-date&_count=1", "—"
            ),
        ]
        for (name, path, goal) in probes {
            var times: [Double] = []
            for _ in 0..<requests {
                let (status, elapsed) = try await fetch(base + path)
                guard status == 200 else { throw BenchmarkError("\(path) answered \(status)") }
                times.append(elapsed)
            }
            rows.append([name, String(format: "%.1f ms (median of %d)", median(times) * 1000, times.count), goal])
        }
        // The pages, signed in (a session cookie): what a page costs to make and to send, on the same data.
        rows += try pageRows(
            base: "http://127.0.0.1:\(port)", until: String(iso(end - 1_000_000).prefix(10)), label: "a day of 1 Hz")
        let memory = server.memory()
        rows.append([
            "gatewayd serve RSS after those requests", "\(memory.rss / 1024) MiB (peak \(memory.peak / 1024) MiB)",
            "≤ 64 MB",
        ])
        server.stop()

        // 3. Blood pressure and glucose alone: what one such reading adds to a data directory that already holds a
        // month of them (the second of two imports, so the empty directory's fixed size is not counted).
        if recordDays > 0 {
            let records = run + "/records"
            var grown: [Int] = []
            var imported = 0
            for month in 0..<2 {
                let span = Double(recordDays) * 24
                let workload = Workload(
                    people: people, hours: span, startMicros: start + Int64(Double(month) * span * 3_600_000_000),
                    straps: false)
                let file = run + "/records-\(month).jsonl"
                let counts = try workload.write(to: file)
                let before = directorySizes(records + "/data").values.reduce(0, +)
                let result = try Child.run(
                    binary,
                    [
                        "collect", "--dir", records + "/data", "--import", file, "--tz", "UTC", "--gateway-id",
                        "bench-gateway",
                    ]
                        + workload.mappings.flatMap { ["--map", $0] })
                guard result.status == 0 else {
                    throw BenchmarkError("gatewayd collect (records) failed: \(result.output.suffix(2000))")
                }
                grown.append(directorySizes(records + "/data").values.reduce(0, +) - before)
                imported = counts.values.reduce(0, +)
            }
            // The pages on the months of records: a person's 90 days are 90 windows, whatever they hold.
            let records90 = try Child.start(
                binary,
                [
                    "serve", "--dir", records + "/data", "--listen", "127.0.0.1:\(port + 2)", "--allow-loopback",
                    "--tz",
                    "UTC", "--token", "bench-token=system/*.read",
                ])
            defer { records90.stop() }
            try await waitForServer("http://127.0.0.1:\(port + 2)/fhir/metadata")
            let recordsEnd = start + Int64(2 * Double(recordDays) * 86_400_000_000)
            rows += try pageRows(
                base: "http://127.0.0.1:\(port + 2)", until: String(iso(recordsEnd - 1_000_000).prefix(10)),
                label: "\(2 * recordDays) days of records")
            records90.stop()
            rows.append([
                "data directory per blood-pressure or glucose reading (\(imported) readings over \(recordDays) days, second import)",
                String(
                    format: "%.0f B (first import: %.0f B)", Double(grown[1]) / Double(max(imported, 1)),
                    Double(grown[0]) / Double(max(imported, 1))),
                "≤ 300 B",
            ])
        }

        // 4. Live: the daemon with straps notifying at 1 Hz.
        if liveStraps > 0 {
            let live = LiveRun(straps: liveStraps, seconds: liveSeconds, port: port + 1)
            let liveDirectory = run + "/live"
            try FileManager.default.createDirectory(atPath: liveDirectory, withIntermediateDirectories: true)
            let measured = try await live.measure(binary: binary, directory: liveDirectory)
            rows.append([
                "bytes written per notification live (\(liveStraps) straps at 1 Hz, \(Int(liveSeconds)) s)",
                String(format: "%.0f B (%d stored)", measured.bytesPerNotification, measured.notifications), "≤ 64 B",
            ])
            rows.append(["gatewayd run RSS with those straps", "\(measured.rssKiB / 1024) MiB", "—"])
        }
        print(table(rows))
        if keep { print("kept: \(run)") }
    }

    func waitForServer(_ url: String) async throws {
        for _ in 0..<300 {
            if let (status, _) = try? await fetch(url), status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchmarkError("gatewayd serve did not answer \(url)")
    }

    /// One GET: status and seconds from sending to the last byte.
    /// The pages' rows: signed in, median time and bytes over the wire of Needs attention, a person's 7 and 90 days
    /// ending `until`, and a device's page when one is listed.
    func pageRows(base: String, until: String, label: String) throws -> [[String]] {
        let cookie = try login(base + "/app/login", token: "bench-token")
        let first = try Child.run("/usr/bin/curl", ["-s", "-H", "Cookie: \(cookie)", base + "/app"])
        let deviceLink = first.output.components(separatedBy: "href=\"/app/device/").dropFirst().first.map {
            String($0.prefix { $0 != "\"" })
        }
        let pages: [(String, String)] =
            [
                ("page: Needs attention", "/app"),
                ("page: a person, 7 days", "/app/person/person-0?days=7&until=\(until)"),
                ("page: a person, 90 days", "/app/person/person-0?days=90&until=\(until)"),
            ] + (deviceLink.map { [("page: a device", "/app/device/" + $0)] } ?? [])
        var rows: [[String]] = []
        for (name, path) in pages {
            var times: [Double] = []
            var bytes = 0
            for _ in 0..<requests {
                let (status, elapsed, size) = try fetchPage(base + path, cookie: cookie)
                guard status == 200 else { throw BenchmarkError("\(path) answered \(status)") }
                times.append(elapsed)
                bytes = size
            }
            rows.append([
                "\(name) (\(label))",
                String(format: "%.1f ms (median of %d), %d bytes", median(times) * 1000, times.count, bytes),
                "≤ 50 ms, ≤ 150 KB",
            ])
        }
        return rows
    }

    /// Signs in on the pages and returns the session cookie (name=value).
    func login(_ url: String, token: String) throws -> String {
        let result = try Child.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-D", "-", "-d", "token=\(token)", url])
        guard
            let line = result.output.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("set-cookie:") })
        else { throw BenchmarkError("no session cookie from \(url): \(result.output)") }
        return String(line.dropFirst("set-cookie:".count).trimmingCharacters(in: .whitespaces).prefix { $0 != ";" })
    }

    /// A page with the session cookie: status, total time, bytes over the wire.
    func fetchPage(_ url: String, cookie: String) throws -> (Int, Double, Int) {
        let result = try Child.run(
            "/usr/bin/curl",
            [
                "-s", "-o", "/dev/null", "-H", "Cookie: \(cookie)", "-w", "%{http_code} %{time_total} %{size_download}",
                url,
            ])
        let parts = result.output.split(separator: " ")
        guard parts.count == 3, let status = Int(parts[0]), let time = Double(parts[1]), let size = Int(parts[2]) else {
            throw BenchmarkError("curl: \(result.output)")
        }
        return (status, time, size)
    }

    func fetch(_ url: String) async throws -> (Int, Double) {
        let result = try Child.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", url])
        let parts = result.output.split(separator: " ")
        guard parts.count == 2, let status = Int(parts[0]), let time = Double(parts[1]) else {
            throw BenchmarkError("curl: \(result.output)")
        }
        return (status, time)
    }
}

func iso(_ micros: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date(timeIntervalSince1970: Double(micros) / 1_000_000))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

func format(_ value: Double, _ places: Int) -> String { String(format: "%.\(places)f", value) }

/// Usage of reaped children (getrusage): blocks written, in 512-byte units.
func childUsage() -> (outBlocks: Int, maxRSSKiB: Int) {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return (Int(usage.ru_oublock), Int(usage.ru_maxrss))
}

/// Bytes per top-level part of a data directory (files, and directories summed).
func directorySizes(_ path: String) -> [String: Int] {
    var sizes: [String: Int] = [:]
    let manager = FileManager.default
    for name in (try? manager.contentsOfDirectory(atPath: path)) ?? [] {
        let full = path + "/" + name
        var isDirectory: ObjCBool = false
        manager.fileExists(atPath: full, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            var total = 0
            for child in manager.enumerator(atPath: full)?.compactMap({ $0 as? String }) ?? []
            where !child.hasSuffix("-shm") {
                total += ((try? manager.attributesOfItem(atPath: full + "/" + child))?[.size] as? Int) ?? 0
            }
            sizes[name + "/"] = total
        } else if !name.hasSuffix("-shm") {
            sizes[name] = ((try? manager.attributesOfItem(atPath: full))?[.size] as? Int) ?? 0
        }
    }
    return sizes
}

func table(_ rows: [[String]]) -> String {
    let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(
            separator: "  ")
    }.joined(separator: "\n")
}

/// A child process: run to the end, or start and stop.
final class Child: @unchecked Sendable {
    let process: Process

    private init(_ process: Process) { self.process = process }

    static func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    static func start(_ path: String, _ arguments: [String]) throws -> Child {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return Child(process)
    }

    /// Resident and peak resident memory from /proc, KiB.
    func memory() -> (rss: Int, peak: Int) {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
