import BLEGateway
import Foundation
import Provenance
import StreamEngine
import Testing
import TimeSeries

/// The durability contract end to end (DESIGN.md rule 3): `gatewayd collect` runs in a child process fed by
/// simulated devices living in this process, and is killed with SIGKILL at random moments. After every
/// restart, each reading a cuff saw confirmed is stored exactly once; readings not confirmed stay on the
/// cuff, come again, and are stored once.
@Suite struct PipelineCrashTests {
    /// Serves a simulated device at a socket path, one connection after another, until cancelled.
    final class DeviceServer: @unchecked Sendable {
        let listener: UnixSeqPacket.Listener
        let device: any SimulatedPeripheral
        init(path: String, device: any SimulatedPeripheral) throws {
            listener = try UnixSeqPacket.Listener(path: path)
            self.device = device
            Thread.detachNewThread { [self] in
                while let bearer = try? listener.accept() {
                    let done = DispatchSemaphore(value: 0)
                    Task {
                        await device.serve(bearer)
                        done.signal()
                    }
                    done.wait()
                }
            }
        }
        func stop() { listener.close() }
    }

    static func systemID(_ n: UInt64) -> SystemID? {
        SystemID(manufacturerIdentifier: n, organizationallyUniqueIdentifier: 0x00_1B_C5)
    }

    @Test func sigkillAtRandomMomentsLosesNothingConfirmedAndDuplicatesNothing() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-crash-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/data"
        var cuffs: [SimulatedBloodPressureMonitor] = []
        var servers: [DeviceServer] = []
        var arguments = ["collect", "--dir", data, "--tz", "Asia/Tokyo", "--gateway-id", "crash-test"]
        for index in 0..<3 {
            var configuration = SimulatedBloodPressureMonitor.Configuration()
            configuration.identity.systemID = Self.systemID(UInt64(0x5000 + index))
            let cuff = SimulatedBloodPressureMonitor(configuration: configuration)
            cuffs.append(cuff)
            let path = directory + "/cuff\(index).sock"
            servers.append(try DeviceServer(path: path, device: cuff))
            let key = Self.systemID(UInt64(0x5000 + index))?.eui64Text ?? ""
            arguments += ["--unix", path, "--map", "\(key)#1=alice-\(index)", "--map", "\(key)#2=bob-\(index)"]
        }
        defer { for server in servers { server.stop() } }
        var generator = SystemRandomNumberGenerator()
        var seed: UInt64 = 1
        let rounds = CrashCampaign.rounds("PipelineCrashTests", quick: 25, full: 100)
        for round in 0...rounds {
            for cuff in cuffs {
                seed += 1
                await SimulatedReadings.fill(
                    cuff, count: 2, users: [1, 2], seed: seed, end: Date().addingTimeInterval(-Double(round)),
                    spacing: 1)
            }
            let process = Process()
            process.executableURL = CrashRecoveryTests.gatewaydBinary
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if round < rounds {
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...250, using: &generator)))
                kill(process.processIdentifier, SIGKILL)
            }
            await ChildProcess.exit(of: process)
            try await Self.checkInvariant(data: data, cuffs: cuffs, final: round == rounds)
        }
    }

    /// Every confirmed reading is in the archive exactly once and in the store exactly once; at the end, with
    /// no kill, every reading the cuffs took is stored.
    static func checkInvariant(data: String, cuffs: [SimulatedBloodPressureMonitor], final: Bool) async throws {
        guard FileManager.default.fileExists(atPath: data + "/engine.sqlite") else { return }
        let store = try TimeSeriesStore(directory: data + "/store")
        defer { store.close() }
        let archive = try ReadingArchive(path: data + "/engine.sqlite")
        let engine = try StreamEngine(store: store, archive: archive)
        try await engine.recover()  // what the next start would do; the invariant holds after it
        for (index, cuff) in cuffs.enumerated() {
            var archived: [[UInt8]: Int] = [:]
            for subject in ["alice-\(index)", "bob-\(index)"] {
                for reading in try archive.readings(subject: subject, kind: .bloodPressure) {
                    archived[reading.rawPayloads.first ?? [], default: 0] += 1
                }
            }
            let confirmed = await cuff.confirmedReadings
            for measurement in confirmed {
                #expect(
                    archived[measurement.encoded()] == 1,
                    "a confirmed reading of cuff \(index) is stored \(archived[measurement.encoded()] ?? 0) times")
            }
            #expect(archived.values.allSatisfy { $0 == 1 })
            if final {
                #expect(
                    await cuff.stored.isEmpty,
                    "cuff \(index) still holds unconfirmed readings after the last, uninterrupted round")
            }
            // The store holds exactly one systolic sample per archived BP reading.
            for subject in ["alice-\(index)", "bob-\(index)"] {
                let key = SeriesKey(
                    subject: subject, device: systemID(UInt64(0x5000 + index))?.eui64Text ?? "",
                    metric: Metric.systolicPressure.rawValue)
                let count = try archive.readings(subject: subject, kind: .bloodPressure).count
                let samples =
                    try store.existingSeries(key).map { try store.scan($0, range: Int64.min..<Int64.max).samples.count }
                    ?? 0
                #expect(samples == count, "\(key): \(samples) samples for \(count) readings")
            }
        }
    }
}
