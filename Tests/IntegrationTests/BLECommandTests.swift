import Foundation
import Testing

/// `gatewayd decode`, `simulate` and `connect` as a person runs them: separate processes, real sockets.
@Suite struct BLECommandTests {
    func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await APIHarness.run(arguments)
    }

    @Test func decodePrintsExactJSONAndNamesWhatIsWrong() async throws {
        let bp = try await run([
            "decode", "2A35", "1E B5 F4 50 00 A7 F3 EA 07 0B 12 14 06 28 40 00 01 00 00", "--compact",
        ])
        #expect(bp.status == 0)
        #expect(bp.stdout.contains(#""systolic":120.5,"diastolic":80,"mean_arterial_pressure":93.5"#))
        #expect(bp.stdout.contains(#""user_id":1"#))
        let nan = try await run(["decode", "0x2A35", "00FF07FF07FF07", "--compact"])
        #expect(nan.status == 0)
        #expect(nan.stdout.contains(#""systolic":"NaN""#))
        let truncated = try await run(["decode", "2A35", "1E B5 F4 50 00"])
        #expect(truncated.status == 1)
        #expect(truncated.stderr.contains("field mean_arterial_pressure at byte offset 5"))
        let unknown = try await run(["decode", "2A6E", "00"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("0x2A6E is not one this gateway decodes"))
        let badHex = try await run(["decode", "2A19", "6G"])
        #expect(badHex.status != 0)
        #expect(badHex.stderr.contains("'6G' at hex digit 0 is not a hex byte"))
    }

    /// Starts `gatewayd simulate` and waits until its socket exists.
    func simulate(_ arguments: [String], socket: String) throws -> Process {
        let process = Process()
        process.executableURL = CrashRecoveryTests.gatewaydBinary
        process.arguments = ["simulate", "--listen", socket] + arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
        return process
    }

    @Test func connectTalksToASimulatedDeviceInAnotherProcess() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let bpSocket = dir.appendingPathComponent("bp.sock").path
        let cuff = try simulate(["--device", "bp", "--readings", "4", "--battery-changed", "--once"], socket: bpSocket)
        let bp = try await run(["connect", "--unix", bpSocket])
        cuff.waitUntilExit()
        #expect(bp.status == 0)
        let bpLines = bp.stdout.split(separator: "\n")
        #expect(
            bpLines.filter { $0.contains(#""event":"measurement""#) && $0.contains(#""delivery":"indication""#) }.count
                == 4)
        #expect(bp.stdout.contains(#""serial_number_string":"BP2-000417""#))
        #expect(bp.stdout.contains(#""year":2000"#))  // the reset clock, as the device reported it

        let glucoseSocket = dir.appendingPathComponent("glucose.sock").path
        let meter = try simulate(["--device", "glucose", "--readings", "5", "--once"], socket: glucoseSocket)
        let glucose = try await run(["connect", "--unix", glucoseSocket, "--cursor", "3"])
        meter.waitUntilExit()
        #expect(glucose.status == 0)
        #expect(glucose.stdout.contains(#"{"event":"stored_records","count":3}"#))
        #expect(glucose.stdout.contains(#""delivery":"stored_record 5""#))
        #expect(
            glucose.stdout.contains(
                #"{"event":"transfer_complete","announced":3,"delivered":3,"response_code":"success","restarted_from_first_record":false}"#
            ))

        let malformedSocket = dir.appendingPathComponent("bad.sock").path
        let broken = try simulate(
            ["--device", "bp", "--readings", "2", "--malformed-every", "2", "--once"], socket: malformedSocket)
        let bad = try await run(["connect", "--unix", malformedSocket])
        broken.waitUntilExit()
        #expect(bad.status == 0)
        #expect(bad.stdout.contains(#""event":"malformed""#))

        // A CGM: a new session started and the interval set through its Specific Ops Control Point before the
        // download (E2E-CRC on both ways); an operation it does not know is refused before anything is sent.
        let cgmSocket = dir.appendingPathComponent("cgm.sock").path
        let sensor = try simulate(["--device", "cgm", "--readings", "4", "--once"], socket: cgmSocket)
        let cgm = try await run([
            "connect", "--unix", cgmSocket, "--cgm", "start-session", "--cgm", "set-interval=1", "--cgm",
            "get-interval",
        ])
        sensor.waitUntilExit()
        #expect(cgm.status == 0, "\(cgm.stderr)")
        #expect(
            cgm.stdout.contains(
                #""value":{"op_code":28,"request_op_code":26,"response_code":"success"}"#))
        #expect(cgm.stdout.contains(#""communication_interval_minutes":1"#))
        #expect(cgm.stdout.contains(#""characteristic":"CGM Status""#))
        // The new session holds no records yet: nothing to download.
        #expect(!cgm.stdout.contains(#""event":"measurement""#))
        let unknownOperation = try await run(["connect", "--unix", cgmSocket, "--cgm", "calibrate"])
        #expect(unknownOperation.status != 0 && unknownOperation.stderr.contains("--cgm 'calibrate'"))

        let missing = try await run(["connect", "--unix", dir.appendingPathComponent("nobody.sock").path])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("nobody.sock"))
    }
}
