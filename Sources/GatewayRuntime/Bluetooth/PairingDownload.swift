import BLEGateway
import Foundation
import Provenance
import StreamEngine

/// The part of pairing after the keys: download what the device holds into the pipeline (held in quarantine until
/// someone says whose it is), then map the device or its user slots to people and release what was held. Shared by
/// `gatewayd pair` on a stopped gateway and the daemon's own pairing (`DevicePairing`).
///
/// The readings come before the question "whose is it?" because a device waits for each to be confirmed and gives up
/// after 30 s; a person can take longer than that to answer.
package enum PairingDownload {
    /// What happens while it downloads, for whoever shows progress.
    package enum Event: Sendable {
        case device(DeviceRecord)
        case storedRecords(Int)
        case userRegistered(slot: UInt8)
        /// One measurement stored or held (a cuff's pulse rides along with its blood pressure and is not counted).
        case reading(count: Int, expected: Int?, Reading)
    }

    package struct Result: Sendable {
        package var device: DeviceRecord
        package var readings: Int
        /// The kind the paired list names (blood_pressure, glucose, …), from the first reading.
        package var kind: String?
        /// User slots the readings came from (nil: the device has none).
        package var users: [UInt8?]
        /// The user the device registered for this gateway (User Data Service), and its consent code.
        package var registered: (slot: UInt8, code: UInt16)?

        /// Whose readings to ask about: the user registered now, else each slot the readings came from, else the
        /// whole device.
        package var questions: [UInt8?] {
            if let registered { return [registered.slot] }
            let slots = users.compactMap { $0 }.filter { $0 != 0xFF }
            return slots.count > 1 ? slots.map { Optional($0) } : [nil]
        }
    }

    /// Downloads from a device just paired. `registerNewUser` is asked when the device has a User Data Service and
    /// the gateway holds no code for its user; a heart-rate strap streams forever, so it stops after
    /// `heartRateReadings`.
    package static func run(
        bearer: any ATTBearer, link: String, pipeline: GatewayPipeline, configuration: GatewayConfiguration,
        testData: Bool = false, userConsents: [UInt8: UInt16], registerNewUser: @escaping @Sendable () async -> Bool,
        heartRateReadings: Int, timeout: Duration, clock: any Clock<Duration> = ContinuousClock(),
        report: @escaping @Sendable (Event) -> Void
    ) async throws -> Result {
        // Past `timeout` (or once the caller gives up) the link is closed: the download ends with what arrived.
        try await withExpiry(
            after: timeout, on: clock, expire: { _ in bearer.close() },
            body: {
                try await download(
                    bearer: bearer, link: link, pipeline: pipeline, configuration: configuration, testData: testData,
                    userConsents: userConsents, registerNewUser: registerNewUser, heartRateReadings: heartRateReadings,
                    report: report)
            })
    }

    private static func download(
        bearer: any ATTBearer, link: String, pipeline: GatewayPipeline, configuration: GatewayConfiguration,
        testData: Bool, userConsents: [UInt8: UInt16], registerNewUser: @escaping @Sendable () async -> Bool,
        heartRateReadings: Int, report: @escaping @Sendable (Event) -> Void
    ) async throws -> Result {
        let progress = DownloadProgress()
        var mapper = GatewayPipeline.mapperOptions(gatewayID: configuration.gatewayID, zone: configuration.defaultZone)
        mapper.testData = testData
        // A new user's consent code: four random digits, kept in the paired list (the device asks for it each time).
        let code = UInt16.random(in: UserControlPoint.consentCodes)
        do {
            try await pipeline.collect(
                bearer: bearer, link: link, zone: configuration.defaultZone, mapper: mapper, userConsents: userConsents,
                newUserConsentCode: { _ in await registerNewUser() ? code : nil },
                onDevice: { device in
                    progress.device = device
                    report(.device(device))
                },
                onEvent: { event in
                    switch event {
                    case .storedRecordCount(let count):
                        progress.expected = count
                        report(.storedRecords(count))
                    case .userRegistered(let slot, let code):
                        progress.registered = (slot, code)
                        report(.userRegistered(slot: slot))
                    default: break
                    }
                },
                onOutcome: { outcome, reading in
                    switch outcome {
                    case .stored, .quarantined, .duplicate:
                        let (count, expected) = progress.add(reading)
                        guard reading.kind != .pulseRate else { return }
                        report(.reading(count: count, expected: expected, reading))
                        if reading.kind == .heartRate, count >= heartRateReadings { bearer.close() }
                    default: break
                    }
                })
        } catch {
            throw PairingFailure(
                description: "paired, but downloading from \(link) failed: \(error); what arrived is kept")
        }
        guard let device = progress.device else {
            throw PairingFailure(description: "the connection to \(link) ended before the device said what it is")
        }
        return Result(
            device: device, readings: progress.count, kind: progress.kind, users: progress.users,
            registered: progress.registered)
    }

    /// Maps the device (or each user slot) to a person and releases the readings held for it; returns what was done.
    /// The engine never guesses a user slot from a device-wide mapping (a shared cuff's slots are different people),
    /// so "the device is alice's" maps each slot the download showed as well as the device itself.
    package static func assign(_ result: Result, mappings: [UInt8?: String], engine: StreamEngine) async throws
        -> [Assignment]
    {
        var chosen = mappings
        if let whole = chosen[nil] {
            for slot in result.users.compactMap({ $0 }) where slot != 0xFF && chosen[slot] == nil {
                chosen[slot] = whole
            }
        }
        var done: [Assignment] = []
        for (slot, subject) in chosen.sorted(by: { ($0.key ?? 0) < ($1.key ?? 0) }) {
            let released = try await engine.mapSubject(deviceKey: result.device.key, userID: slot, subject: subject)
            done.append(Assignment(slot: slot, subject: subject, released: released))
        }
        return done
    }

    package struct Assignment: Sendable, Equatable {
        package var slot: UInt8?
        package var subject: String
        package var released: Int
        package var line: String {
            "\(slot.map { "User \($0)" } ?? "The device") belongs to \(subject); \(released) held reading(s) stored for \(subject)."
        }
    }

    /// "120 mmHg, 80 mmHg (user 1)": a reading as one line of progress.
    package static func describe(_ reading: Reading) -> String {
        let values = reading.components.map { "\($0.value.quantity.map { "\($0)" } ?? "-") \($0.unit)" }.joined(
            separator: ", ")
        return values + (reading.context.userID.map { " (user \($0))" } ?? "")
    }
}

/// Counts a download as it goes (callbacks run on the pipeline's tasks).
package final class DownloadProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var _device: DeviceRecord?
    private var _expected: Int?
    private var _count = 0
    private var _kind: String?
    private var _users: [UInt8?] = []
    private var _registered: (slot: UInt8, code: UInt16)?

    var device: DeviceRecord? {
        get { lock.withLock { _device } }
        set { lock.withLock { _device = newValue } }
    }
    var expected: Int? {
        get { lock.withLock { _expected } }
        set { lock.withLock { _expected = newValue } }
    }
    var count: Int { lock.withLock { _count } }
    var kind: String? { lock.withLock { _kind } }
    var users: [UInt8?] { lock.withLock { _users } }
    var registered: (slot: UInt8, code: UInt16)? {
        get { lock.withLock { _registered } }
        set { lock.withLock { _registered = newValue } }
    }

    func add(_ reading: Reading) -> (Int, Int?) {
        lock.withLock {
            // A cuff's pulse rides along with its blood pressure: count measurements, not their parts.
            if reading.kind != .pulseRate { _count += 1 }
            // The paired list names the kind as readings do (blood_pressure, glucose, heart_rate).
            if _kind == nil, reading.kind != .pulseRate { _kind = reading.kind.rawValue }
            if !_users.contains(reading.context.userID) { _users.append(reading.context.userID) }
            return (_count, _expected)
        }
    }
}
