import BLEGateway
import Foundation
import Logging
import Provenance
import StreamEngine

/// Pairing done by the daemon while it runs: the radio and the store are the daemon's, so the pages and
/// `gatewayd pair` (a client of the running daemon) both drive this one flow — scan, pick, pair (the device's six
/// digits confirmed or its passkey typed by the person), download what it holds, say whose each user slot is.
/// One pairing at a time; everyone watching sees the same steps (`changes(after:)`).
package actor DevicePairing {
    package enum Phase: String, Sendable {
        /// No radio to pair with (no `bluetooth:` section; or it could not be opened): `message` says why.
        case unavailable
        case idle, scanning, choosing, pairing, question, downloading, whose
        /// Whose it is was said: the held readings are being released and the device saved.
        case saving
        case done, failed
    }

    /// What a person pairing sees: the step, what was heard, the question to answer, progress.
    package struct Status: Sendable {
        /// Grows with every change, so a watcher waits for the next one.
        package var version = 0
        package var phase: Phase
        package var sightings: [Sighting] = []
        package var target: Sighting?
        /// The question the device's pairing asks (phase `question`), or the passkey to type on the device.
        package var question: PairingPrompt.Request?
        package var device: DeviceRecord?
        package var received = 0
        package var expected: Int?
        /// The user slots (nil: the whole device) whose readings someone must name (phase `whose`).
        package var whose: [UInt8?] = []
        package var registeredSlot: UInt8?
        package var assigned: [PairingDownload.Assignment] = []
        /// Why it failed or is unavailable.
        package var message: String?
        /// Progress as lines a person reads ("It holds 3 stored readings; downloading…"), oldest first.
        package var log: [String] = [] {
            didSet { logCount += max(0, log.count - oldValue.count) }
        }
        /// Lines ever added to `log` (it keeps the newest 60): a watcher prints those past the count it has seen.
        package var logCount = 0
        package var startedBy: String?
        package var simulated = false

        /// A pairing is under way: another cannot start.
        package var busy: Bool { [.pairing, .question, .downloading, .whose, .saving].contains(phase) }
    }

    /// What a choice of device says beyond the device: whose it is when known now (`gatewayd pair --subject`), a new
    /// user to register on a family scale, consent codes of users registered elsewhere, the gateway's I/O capability.
    package struct Choice: Sendable {
        package var address: String
        package var addressType: String?
        package var newUser: String?
        package var mappings: [UInt8?: String] = [:]
        package var consents: [UInt8: UInt16] = [:]
        package var ioCapability: IOCapability = .keyboardDisplay
        package var heartRateReadings = 5
        package var caller: String

        package init(address: String, addressType: String? = nil, caller: String) {
            (self.address, self.addressType, self.caller) = (address, addressType, caller)
        }
    }

    /// A request that does not fit the step the pairing is at.
    package struct RequestError: Error, CustomStringConvertible {
        package var description: String
        package init(description: String) { self.description = description }
    }

    package nonisolated let configuration: GatewayConfiguration
    private let pipeline: GatewayPipeline
    private let logger: Logger
    private var radio: (any PairingRadio)?
    private var hold: RadioHold?
    private var onPaired: @Sendable (PairedDevice) async -> Void = { _ in }
    private var state: Status
    private var task: Task<Void, Never>?
    private var bearer: (any ATTBearer)?
    private var pendingAnswer: CheckedContinuation<PairingAnswer, Never>?
    private var pendingWhose: CheckedContinuation<[UInt8?: String]?, Never>?
    /// Long polls waiting for the next change, by number (`changes(after:)`).
    private var watchers: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWatcher = 0
    private var downloadTimeout: Duration = .seconds(120)
    /// The clock of the download timeout and the long polls' 25 s (a test moves a manual one).
    private let clock: any Clock<Duration>

    package func setDownloadTimeout(_ timeout: Duration) { downloadTimeout = timeout }

    package init(
        pipeline: GatewayPipeline, configuration: GatewayConfiguration, logger: Logger, unavailable: String,
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        (self.pipeline, self.configuration, self.logger, self.clock) = (pipeline, configuration, logger, clock)
        state = Status(phase: .unavailable, message: unavailable)
    }

    /// The radio to pair with, once the daemon has opened it. `hold` keeps the daemon's own connections off it while a
    /// pairing runs (many controllers, and the test bed's, hold one LE connection as a central at a time).
    package func attach(
        radio: any PairingRadio, hold: RadioHold? = nil,
        onPaired: @escaping @Sendable (PairedDevice) async -> Void = { _ in }
    ) {
        (self.radio, self.hold, self.onPaired) = (radio, hold, onPaired)
        state.phase = .idle
        state.message = nil
        state.simulated = radio.simulated
        changed()
    }

    /// The radio went away (the daemon's Bluetooth service stopped).
    package func detach(_ reason: String) {
        cancel()
        radio = nil
        state.phase = .unavailable
        state.message = reason
        changed()
    }

    package func status() -> Status { state }

    /// The status once its version is past `version` (at once if it already is), or the current one when the
    /// waiting task is cancelled — a page's event stream or a client's long poll.
    package func changes(after version: Int, timeout: Duration = .seconds(25)) async -> Status {
        if state.version > version { return state }
        let watcher = nextWatcher
        nextWatcher += 1
        await withExpiry(
            after: timeout, on: clock, expire: { [weak self] _ in await self?.wake(watcher) },
            body: {
                await withCheckedContinuation { watchers[watcher] = $0 }
            })
        return state
    }

    /// Ends one long poll (its time is up, or its caller went away); the others wait on.
    private func wake(_ watcher: Int) { watchers.removeValue(forKey: watcher)?.resume() }

    // MARK: Steps

    /// Listens for health devices for `seconds`; what is heard appears as it is heard.
    package func scan(seconds: Double, caller: String) throws(RequestError) {
        guard let radio else { throw RequestError(description: state.message ?? "no Bluetooth radio to pair with") }
        guard !state.busy else { throw busy() }
        task?.cancel()
        state = Status(version: state.version, phase: .scanning, startedBy: caller, simulated: radio.simulated)
        state.log = ["Looking for health devices for \(Int(seconds)) s."]
        changed()
        task = Task {
            do {
                _ = try await radio.scan(seconds: seconds) { sighting in Task { await self.heard(sighting) } }
                try Task.checkCancellation()
                self.scanEnded()
            } catch is CancellationError {
            } catch {
                self.fail("scanning failed: \(error)")
            }
        }
    }

    /// Pairs with a device (one heard, or an address given outright), downloads what it holds and, unless the choice
    /// already says whose it is, asks.
    package func choose(_ choice: Choice) throws(RequestError) {
        guard let radio else { throw RequestError(description: state.message ?? "no Bluetooth radio to pair with") }
        guard !state.busy else { throw busy() }
        guard let address = try? BluetoothAddress(parsing: choice.address) else {
            throw RequestError(description: "'\(choice.address)' is not a Bluetooth address like 00:AA:01:01:00:01")
        }
        let heard = state.sightings.first { $0.device.address == address }
        var target = heard
        if target == nil {
            guard let type = BluetoothAddressType(identifier: choice.addressType ?? "le-public"), type != .brEdr else {
                throw RequestError(
                    description: "address type '\(choice.addressType ?? "")' is not le-public or le-random")
            }
            target = Sighting(device: DeviceAddress(address, type: type), name: nil, profile: nil, rssi: nil)
        }
        guard let target else { throw RequestError(description: "no device") }
        task?.cancel()
        let sightings = state.sightings
        state = Status(
            version: state.version, phase: .pairing, sightings: sightings, target: target, startedBy: choice.caller,
            simulated: radio.simulated)
        state.log = ["Pairing with \(target.name ?? "\(target.device.address)")…"]
        changed()
        task = Task { await self.run(choice, target: target, radio: radio) }
    }

    /// The person's answer to the device's question (`questionVersion`: the status they answered, so a stale page
    /// cannot answer a newer question).
    package func answer(_ answer: PairingAnswer) throws(RequestError) {
        guard state.phase == .question, let pending = pendingAnswer else {
            throw RequestError(description: "the device is not asking anything now (step: \(state.phase.rawValue))")
        }
        pendingAnswer = nil
        state.phase = .pairing
        state.log.append(answer == .reject ? "Refused." : "Answered.")
        changed()
        pending.resume(returning: answer)
    }

    /// Whose the readings of each slot asked about are (an empty mapping: decide later, from Needs attention).
    package func whose(_ mappings: [UInt8?: String]) throws(RequestError) {
        guard state.phase == .whose, let pending = pendingWhose else {
            throw RequestError(description: "nothing to say whose now (step: \(state.phase.rawValue))")
        }
        let known = Set(configuration.subjects.map(\.id))
        for subject in mappings.values where !known.isEmpty && !known.contains(subject) {
            throw RequestError(
                description:
                    "'\(subject)' is not one of this gateway's people (\(known.sorted().joined(separator: ", ")))")
        }
        pendingWhose = nil
        state.phase = .saving
        state.whose = []
        changed()
        pending.resume(returning: mappings)
    }

    /// Stops whatever step runs; what was downloaded stays (held until someone says whose it is).
    package func cancel() {
        task?.cancel()
        task = nil
        bearer?.close()
        pendingAnswer?.resume(returning: .reject)
        pendingAnswer = nil
        pendingWhose?.resume(returning: nil)
        pendingWhose = nil
        if state.phase != .unavailable {
            state.phase = .idle
            state.question = nil
            state.log.append("Stopped.")
        }
        changed()
    }

    // MARK: The run

    private func run(_ choice: Choice, target: Sighting, radio: any PairingRadio) async {
        let hold = self.hold
        await hold?.acquire()
        defer { if let hold { Task { await hold.release() } } }
        do {
            let newly = try await radio.pair(target.device, ioCapability: choice.ioCapability) { prompt in
                await self.ask(prompt.request)
            }
            resolvePendingQuestion()
            try Task.checkCancellation()
            say(newly ? "Paired." : "Already paired with this gateway.")
            state.phase = .downloading
            state.question = nil
            changed()
            let bearer = try await radio.connect(target.device)
            self.bearer = bearer
            let earlier =
                radio.simulated
                ? nil
                : try? pairedList().load().first { $0.address.uppercased() == "\(target.device.address)".uppercased() }
            let held = (earlier?.userConsents ?? [:]).merging(choice.consents) { $1 }
            let registers = choice.newUser != nil
            let result = try await PairingDownload.run(
                bearer: bearer, link: "l2cap:\(target.device.address)", pipeline: pipeline,
                configuration: configuration, testData: radio.simulated, userConsents: held,
                registerNewUser: { registers }, heartRateReadings: choice.heartRateReadings, timeout: downloadTimeout,
                clock: clock,
                report: { event in Task { await self.downloaded(event) } })
            bearer.close()
            self.bearer = nil
            await Task.yield()
            try Task.checkCancellation()
            var mappings = choice.mappings
            if let registered = result.registered, let newUser = choice.newUser { mappings[registered.slot] = newUser }
            if mappings.isEmpty {
                state.phase = .whose
                state.whose = result.questions
                state.registeredSlot = result.registered?.slot
                changed()
                guard let answered = await withCheckedContinuation({ pendingWhose = $0 }) else { return }
                mappings = answered
            }
            let assigned = try await PairingDownload.assign(result, mappings: mappings, engine: pipeline.engine)
            let paired = PairedDevice(
                address: "\(target.device.address)", addressType: target.device.type.identifier,
                kind: target.profile?.id ?? result.kind ?? "unknown", name: target.name, deviceKey: result.device.key,
                pairedAt: Date(), encrypted: true,
                userConsents: held.merging(result.registered.map { [$0.slot: $0.code] } ?? [:]) { $1 })
            if !radio.simulated { try pairedList().save(paired) }
            await onPaired(paired)
            state.assigned = assigned
            state.phase = .done
            state.whose = []
            for line in assigned { state.log.append(line.line) }
            say(
                "Done: \(target.name ?? "\(target.device.address)") is paired; \(result.readings) reading(s) downloaded"
                    + (assigned.isEmpty ? ", held until someone says whose they are." : "."))
            logger.notice(
                "device paired",
                metadata: [
                    "device": "\(target.device.address)", "device_key": "\(result.device.key)",
                    "readings": "\(result.readings)", "by": "\(choice.caller)",
                ])
        } catch is CancellationError {
        } catch {
            resolvePendingQuestion()
            if !Task.isCancelled { fail("\(error)") }
        }
    }

    private func pairedList() -> PairedDevices {
        PairedDevices(path: BluetoothSettings.pairedFile(data: configuration.dataDirectory))
    }

    /// A question from the device's pairing: Just Works needs nobody; a passkey to show is shown; the rest wait for
    /// the person (the kernel gives up after its pairing timeout, which ends the wait).
    private func ask(_ request: PairingPrompt.Request) async -> PairingAnswer {
        switch request {
        case .confirmation(_, true):
            return .accept
        case .passkeyDisplay(let passkey, _):
            state.question = request
            say("Type \(PairingPrompt.sixDigits(passkey)) on the device.")
            return .accept
        case .confirmation(let value, false):
            say("Does the device show \(PairingPrompt.sixDigits(value))?")
        case .passkeyEntry:
            say("The device asks for the 6-digit code it shows.")
        }
        resolvePendingQuestion()
        state.phase = .question
        state.question = request
        changed()
        return await withCheckedContinuation { pendingAnswer = $0 }
    }

    private func resolvePendingQuestion() {
        pendingAnswer?.resume(returning: .reject)
        pendingAnswer = nil
        if state.phase == .question { state.phase = .pairing }
    }

    private func heard(_ sighting: Sighting) {
        guard state.phase == .scanning || state.phase == .choosing else { return }
        if let at = state.sightings.firstIndex(where: { $0.device == sighting.device }) {
            var merged = sighting
            if merged.name == nil { merged.name = state.sightings[at].name }
            state.sightings[at] = merged
        } else {
            state.sightings.append(sighting)
        }
        changed()
    }

    private func scanEnded() {
        guard state.phase == .scanning else { return }
        state.phase = .choosing
        say(
            state.sightings.isEmpty
                ? "No health device found. Is it in pairing mode and within a few metres?"
                : "Found \(state.sightings.count) device(s).")
    }

    private func downloaded(_ event: PairingDownload.Event) {
        switch event {
        case .device(let device):
            state.device = device
            let model = [device.manufacturer, device.model].compactMap { $0 }.joined(separator: " ")
            state.log.append(
                "Connected: \(model.isEmpty ? "a device" : model)"
                    + (device.serialNumber.map { ", serial \($0)" } ?? ""))
        case .storedRecords(let count):
            state.expected = count
            state.log.append("It holds \(count) stored reading(s); downloading…")
        case .userRegistered(let slot):
            state.registeredSlot = slot
            state.log.append("The device registered user \(slot) for this gateway.")
        case .reading(let count, let expected, let reading):
            state.received = count
            state.expected = expected ?? state.expected
            state.log.append(
                "\(count)\(expected.map { " of \($0)" } ?? ""): \(reading.kind.rawValue) \(PairingDownload.describe(reading))"
            )
        }
        changed()
    }

    private func fail(_ message: String) {
        state.phase = .failed
        state.question = nil
        state.message = message
        changed()
        logger.warning("pairing failed", metadata: ["error": "\(message)"])
    }

    private func say(_ line: String) {
        state.log.append(line)
        changed()
    }

    private func trimLog() {
        if state.log.count > 60 { state.log.removeFirst(state.log.count - 60) }
    }

    private func busy() -> RequestError {
        RequestError(
            description:
                "a pairing is under way (step: \(state.phase.rawValue), started by \(state.startedBy ?? "-")); "
                + "wait for it or stop it first")
    }

    private func changed() {
        trimLog()
        state.version += 1
        wakeWatchers()
    }

    private func wakeWatchers() {
        let waiting = watchers
        watchers = [:]
        for watcher in waiting.values { watcher.resume() }
    }
}

/// Keeps the daemon's own connections off the radio while a pairing runs.
package struct RadioHold: Sendable {
    package var acquire: @Sendable () async -> Void
    package var release: @Sendable () async -> Void

    package init(acquire: @escaping @Sendable () async -> Void, release: @escaping @Sendable () async -> Void) {
        (self.acquire, self.release) = (acquire, release)
    }
}
