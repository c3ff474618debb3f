import ArgumentParser
import BLEGateway
import Foundation
import GatewayRuntime

/// `gatewayd simulate --listen PATH --device bp`: a simulated device served at a unix SEQPACKET socket, so any
/// peer (the gateway's `connect`, a script) can talk real ATT to it.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Serve a simulated health device (any profile the gateway reads) over a unix SEQPACKET socket.")

    @Option(help: "Socket path to listen on.")
    var listen: String

    @Option(
        help:
            "The profile: \(HealthProfile.all.map(\.simulator.shortName).joined(separator: ", ")), or its id (blood_pressure …)."
    )
    var device: String

    @Option(help: "Stored readings to start with (devices that keep them: not a strap).")
    var readings = 6

    @Option(help: "Seed for the generated readings.")
    var seed: UInt64 = 7

    @Option(help: "BP user IDs, comma-separated.")
    var users = "1,2"

    @Flag(help: "The battery was just changed: the device clock restarted at 2000-01-01 00:00:00.")
    var batteryChanged = false

    @Option(help: "Device clock offset in seconds.")
    var clockOffset: Double = 0

    @Option(help: "Device clock drift in parts per million.")
    var driftPpm: Double = 0

    @Flag(help: "Send already-confirmed readings again on every connection (bp), or ignore the RACP filter (glucose).")
    var resendStored = false

    @Flag(help: "Delete glucose records after reporting them.")
    var deleteAfterTransfer = false

    @Option(help: "Drop the link after this many glucose records of a transfer (once).")
    var disconnectAfter: Int?

    @Option(help: "Send every n-th measurement truncated by one byte.")
    var malformedEvery: Int?

    @Option(help: "Delay every dynamic read by this many milliseconds (past 30,000 to hit the ATT timeout).")
    var responseDelayMs: Int?

    @Option(help: "HR: milliseconds between notifications.")
    var intervalMs = 1000

    @Option(help: "HR: stop after this many notifications.")
    var count: Int?

    @Flag(help: "Serve one connection, then exit.")
    var once = false

    func run() async throws {
        guard let profile = HealthProfile.named(device) else {
            let names = HealthProfile.all.map { "\($0.simulator.shortName) (\($0.id))" }
            throw ValidationError("--device: '\(device)' is not one of " + names.joined(separator: ", "))
        }
        let userIDs = try users.split(separator: ",").map { text -> UInt8 in
            guard let id = UInt8(text), id != 0xFF else {
                throw ValidationError("--users: '\(text)' is not a user ID 0…254")
            }
            return id
        }
        // Stored readings are spread back from now (the profile's spacing: BP every 12 h, glucose every 6 h); a battery
        // change happened an hour before the first of them, so they carry the reset clock's year-2000 dates.
        let now = Date()
        let spacing = profile.simulator.recordSpacing
        var settings = SimulatorSettings()
        settings.clock = SimulatedClock(offset: clockOffset, driftPPM: driftPpm, reference: now)
        if batteryChanged {
            settings.clock.batteryChangedAt = now.addingTimeInterval(-Double(max(readings, 1)) * spacing - 3600)
        }
        settings.faults = SimulatedFaults(
            malformedEvery: malformedEvery, responseDelay: responseDelayMs.map { .milliseconds($0) })
        settings.resendStored = resendStored
        settings.deleteAfterTransfer = deleteAfterTransfer
        settings.disconnectAfter = disconnectAfter
        settings.interval = .milliseconds(intervalMs)
        settings.count = count
        settings.seed = seed
        let peripheral = profile.simulator.make(settings)
        await peripheral.measure(count: readings, users: userIDs, seed: seed, end: now, spacing: spacing)
        let listener: UnixSeqPacket.Listener
        do {
            listener = try UnixSeqPacket.Listener(path: listen)
        } catch {
            throw ValidationError("--listen \(listen): \(error)")
        }
        defer { listener.close() }
        FileHandleOutput.standardError("simulated \(profile.deviceName) listening on \(listen)")
        repeat {
            let bearer = try await listener.nextConnection()
            FileHandleOutput.standardError("connection accepted")
            await peripheral.serve(bearer)
            FileHandleOutput.standardError("connection closed")
        } while !once
    }
}
