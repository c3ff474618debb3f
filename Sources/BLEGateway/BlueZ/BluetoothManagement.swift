import Logging
import Metrics

/// Timeouts for management commands. Generous by default: under qemu's software emulation a controller answers
/// 10–50× slower than on hardware, and pairing waits for the peer and for the pairing agent.
public struct ManagementOptions: Sendable {
    /// How long any command may take before `ManagementError.timeout`.
    public var commandTimeout: Duration
    /// How long Pair Device may take (connection + SMP, whose own timeout is 30 s).
    public var pairingTimeout: Duration
    /// The clock both timeouts run on (a test moves a manual one instead of waiting).
    public var timeoutClock: any Clock<Duration>

    public init(
        commandTimeout: Duration = .seconds(10), pairingTimeout: Duration = .seconds(60),
        timeoutClock: any Clock<Duration> = ContinuousClock()
    ) {
        self.commandTimeout = commandTimeout
        self.pairingTimeout = pairingTimeout
        self.timeoutClock = timeoutClock
    }
}

/// Why a management command failed.
public enum ManagementError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kernel answered with a non-success status (by Command Status or Command Complete).
    case commandFailed(ManagementOpcode, index: UInt16, status: ManagementStatus)
    /// No answer within the timeout.
    case timeout(ManagementOpcode, index: UInt16, seconds: Double)
    /// The command could not be sent.
    case transport(ManagementSocketError)
    /// The socket closed before the answer came.
    case closed(ManagementSocketError?)
    /// The reply's return parameters did not decode.
    case malformedReply(ManagementOpcode, CharacteristicDecodeError)
    /// Refused before sending: the kernel would reject it as Invalid Parameters.
    case invalidCommand(ManagementOpcode, reason: String)
    /// The controller cannot do what was asked.
    case unsupported(index: UInt16, reason: String)

    public var description: String {
        switch self {
        case .commandFailed(let opcode, let index, let status):
            let advice = status.advice.map { ": \($0)" } ?? ""
            return "\(opcode.name) on \(ManagementFormat.controller(index)) failed with status \(status)\(advice)"
        case .timeout(let opcode, let index, let seconds):
            return
                "\(opcode.name) on \(ManagementFormat.controller(index)) got no answer within \(seconds) s (kernel busy, or a slow emulated controller: raise the timeout)"
        case .transport(let error): return "could not send the management command: \(error)"
        case .closed(let reason):
            return "the Bluetooth management socket closed before the answer came" + (reason.map { ": \($0)" } ?? "")
        case .malformedReply(let opcode, let error):
            return "the kernel's reply to \(opcode.name) is malformed: \(error)"
        case .invalidCommand(let opcode, let reason): return "\(opcode.name) was not sent: \(reason)"
        case .unsupported(let index, let reason): return "\(ManagementFormat.controller(index)): \(reason)"
        }
    }
}

/// What Pair Device ended with.
public enum PairingOutcome: Equatable, Sendable {
    /// Paired; `identity` is the address the kernel now uses for the device (resolved if it used a private address).
    case paired(identity: DeviceAddress)
    /// The kernel already had a bond with the device.
    case alreadyPaired
}

/// The management interface as an actor: commands are sent and matched with their Command Complete / Command
/// Status by opcode and controller index, first sent first answered (replies naming a peer go to the command for
/// that peer), each with a timeout. Everything else the kernel says goes to every `events()` subscriber.
///
/// A command that timed out stays registered until the kernel's late answer arrives — the kernel answers every
/// command eventually — so that answer is discarded instead of being taken for the next command's.
public actor BluetoothManagement {
    public nonisolated let transport: any ManagementTransport
    public nonisolated let options: ManagementOptions
    let logger: Logger

    private struct Pending {
        var id: UInt64
        var opcode: ManagementOpcode
        var index: UInt16
        /// Address + type wire bytes when the command names a peer.
        var device: [UInt8]?
        /// nil once the caller has been answered by a timeout: the entry only waits to swallow the late reply.
        var continuation: CheckedContinuation<Result<Reply, ManagementError>, Never>?
    }

    struct Reply {
        var status: ManagementStatus
        var parameters: [UInt8]
    }

    private var pending: [Pending] = []
    private var nextID: UInt64 = 1
    private var subscribers: [UInt64: AsyncStream<ManagementEventPacket>.Continuation] = [:]
    private var receiveTask: Task<Void, Never>?
    private var failure: ManagementError?
    /// Replies that matched no command (another program on the same socket? a kernel bug?), for diagnostics.
    public private(set) var unmatchedReplies = 0

    public init(
        transport: any ManagementTransport, options: ManagementOptions = ManagementOptions(), logger: Logger? = nil
    ) {
        self.transport = transport
        self.options = options
        self.logger = logger ?? Logger(label: "gatewayd.bluetooth-mgmt")
    }

    /// The actor owns its transport: once nobody can send commands, nobody reads the socket either.
    deinit { transport.close() }

    /// Opens the kernel's management socket.
    public static func open(options: ManagementOptions = ManagementOptions(), logger: Logger? = nil)
        throws(ManagementSocketError) -> BluetoothManagement
    {
        BluetoothManagement(transport: try ManagementSocket(), options: options, logger: logger)
    }

    /// Starts reading from the transport (also done by the first command or subscription).
    public func start() {
        guard receiveTask == nil else { return }
        let incoming = transport.incoming
        receiveTask = Task { [weak self] in
            for await bytes in incoming {
                guard let self else { return }
                await self.handle(bytes)
            }
            await self?.transportEnded()
        }
    }

    public nonisolated func close() { transport.close() }

    /// A new stream of every event (except replies matched to commands), from now on. Each subscriber gets all of
    /// them; the stream ends when the socket closes.
    public func events(
        bufferingPolicy: AsyncStream<ManagementEventPacket>.Continuation.BufferingPolicy = .unbounded
    ) -> AsyncStream<ManagementEventPacket> {
        start()
        let (stream, continuation) = AsyncStream.makeStream(
            of: ManagementEventPacket.self, bufferingPolicy: bufferingPolicy)
        if failure != nil {
            continuation.finish()
            return stream
        }
        let id = nextID
        nextID += 1
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return stream
    }

    private func unsubscribe(_ id: UInt64) { subscribers[id] = nil }

    // MARK: Commands

    /// Sends `command` to controller `index` and returns its return parameters; a non-success status throws
    /// `.commandFailed` naming it.
    @discardableResult
    public func send(_ command: ManagementCommand, index: UInt16, timeout: Duration? = nil)
        async throws(ManagementError)
        -> [UInt8]
    {
        let reply = try await exchange(command, index: index, timeout: timeout ?? options.commandTimeout)
        guard reply.status == .success else { throw .commandFailed(command.opcode, index: index, status: reply.status) }
        return reply.parameters
    }

    @discardableResult
    public func send(_ request: ManagementRequest) async throws(ManagementError) -> [UInt8] {
        try await send(request.command, index: request.index)
    }

    /// Sends and waits for the reply whatever its status.
    func exchange(_ command: ManagementCommand, index: UInt16, timeout: Duration) async throws(ManagementError) -> Reply
    {
        start()
        if let failure { throw failure }
        let bytes = try command.packet(index: index).encoded()
        let id = nextID
        nextID += 1
        let opcode = command.opcode
        let result = await withExpiry(
            after: timeout, on: options.timeoutClock,
            expire: { [weak self] cause in await self?.timedOut(id: id, seconds: timeout.seconds, cause) },
            body: {
                await withCheckedContinuation {
                    (continuation: CheckedContinuation<Result<Reply, ManagementError>, Never>) in
                    pending.append(
                        Pending(
                            id: id, opcode: opcode, index: index, device: command.device?.wireBytes,
                            continuation: continuation))
                    do throws(ManagementSocketError) {
                        try transport.send(bytes)
                    } catch {
                        pending.removeAll { $0.id == id }
                        continuation.resume(returning: .failure(.transport(error)))
                        return
                    }
                    logger.debug(
                        "mgmt command sent",
                        metadata: ["command": "\(opcode)", "controller": "\(ManagementFormat.controller(index))"])
                }
            })
        return try result.get()
    }

    /// The command's caller is answered (`.timeout`); its entry stays to swallow the kernel's late reply.
    private func timedOut(id: UInt64, seconds: Double, _ cause: ExpiryCause) {
        guard let position = pending.firstIndex(where: { $0.id == id }),
            let continuation = pending[position].continuation
        else { return }
        pending[position].continuation = nil
        let entry = pending[position]
        let metadata: Logger.Metadata = [
            "command": "\(entry.opcode)", "controller": "\(ManagementFormat.controller(entry.index))",
            "seconds": "\(seconds)",
        ]
        if cause == .deadline {
            logger.warning("mgmt command timed out", metadata: metadata)
            Counter(label: "gatewayd_bluetooth_mgmt_timeouts_total").increment()
        } else {
            logger.debug("mgmt command abandoned by its caller", metadata: metadata)
        }
        continuation.resume(returning: .failure(.timeout(entry.opcode, index: entry.index, seconds: seconds)))
    }

    // MARK: Incoming

    private func handle(_ bytes: [UInt8]) {
        let packet = ManagementEventPacket(decoding: bytes)
        logger.trace(
            "mgmt event",
            metadata: ["event": "\(packet.event)", "controller": "\(ManagementFormat.controller(packet.index))"])
        switch packet.event {
        case .commandComplete(let opcode, let status, let parameters):
            if match(opcode: opcode, index: packet.index, reply: Reply(status: status, parameters: parameters)) {
                return
            }
        case .commandStatus(let opcode, let status):
            // A success status announces a pending command, which will complete later; only failures end it.
            if status == .success, pending.contains(where: { $0.opcode == opcode && $0.index == packet.index }) {
                return
            }
            if match(opcode: opcode, index: packet.index, reply: Reply(status: status, parameters: [])) { return }
        case .malformed(let code, _, let error):
            logger.warning("malformed mgmt event", metadata: ["event": "\(code)", "error": "\(error)"])
        default:
            break
        }
        broadcast(packet)
    }

    /// Gives the reply to the oldest command with this opcode and index, preferring one about the same peer.
    private func match(opcode: ManagementOpcode, index: UInt16, reply: Reply) -> Bool {
        let candidates = pending.indices.filter { pending[$0].opcode == opcode && pending[$0].index == index }
        guard let first = candidates.first else {
            unmatchedReplies += 1
            logger.warning(
                "mgmt reply matches no command", metadata: ["command": "\(opcode)", "status": "\(reply.status)"])
            return false
        }
        var chosen = first
        if reply.parameters.count >= 7 {
            let peer = Array(reply.parameters.prefix(7))
            if let same = candidates.first(where: { pending[$0].device == peer }) { chosen = same }
        }
        let entry = pending.remove(at: chosen)
        if let continuation = entry.continuation {
            continuation.resume(returning: .success(reply))
        } else {
            logger.info(
                "late mgmt reply to a timed-out command discarded",
                metadata: ["command": "\(opcode)", "status": "\(reply.status)"])
        }
        return true
    }

    private func broadcast(_ packet: ManagementEventPacket) {
        for continuation in subscribers.values { continuation.yield(packet) }
    }

    private func transportEnded() {
        let error = ManagementError.closed(transport.closeReason)
        if failure == nil { failure = error }
        for entry in pending {
            entry.continuation?.resume(returning: .failure(error))
        }
        pending.removeAll()
        for continuation in subscribers.values { continuation.finish() }
        subscribers.removeAll()
    }

    // MARK: Typed commands

    public func version() async throws(ManagementError) -> ManagementVersion {
        let parameters = try await send(.readVersion, index: ManagementPacket.noController)
        return try decode(.readVersion) { () throws(CharacteristicDecodeError) in
            try ManagementVersion(returnParameters: parameters)
        }
    }

    /// The controller indexes the kernel knows (hci0 → 0).
    public func controllers() async throws(ManagementError) -> [UInt16] {
        let parameters = try await send(.readControllerIndexList, index: ManagementPacket.noController)
        return try decode(.readControllerIndexList) { () throws(CharacteristicDecodeError) in
            try ControllerIndexList.decode(parameters)
        }
    }

    public func info(index: UInt16) async throws(ManagementError) -> ControllerInfo {
        let parameters = try await send(.readControllerInfo, index: index)
        return try decode(.readControllerInfo) { () throws(CharacteristicDecodeError) in
            try ControllerInfo(returnParameters: parameters)
        }
    }

    @discardableResult
    public func setPowered(_ on: Bool, index: UInt16) async throws(ManagementError) -> ControllerSettings {
        try await settings(.setPowered(on), index: index)
    }

    @discardableResult
    public func setConnectable(_ on: Bool, index: UInt16) async throws(ManagementError) -> ControllerSettings {
        try await settings(.setConnectable(on), index: index)
    }

    @discardableResult
    public func setBondable(_ on: Bool, index: UInt16) async throws(ManagementError) -> ControllerSettings {
        try await settings(.setBondable(on), index: index)
    }

    @discardableResult
    public func setLowEnergy(_ on: Bool, index: UInt16) async throws(ManagementError) -> ControllerSettings {
        try await settings(.setLowEnergy(on), index: index)
    }

    @discardableResult
    public func setAdvertising(_ mode: AdvertisingMode, index: UInt16) async throws(ManagementError)
        -> ControllerSettings
    {
        try await settings(.setAdvertising(mode), index: index)
    }

    public func setIOCapability(_ capability: IOCapability, index: UInt16) async throws(ManagementError) {
        try await send(.setIOCapability(capability), index: index)
    }

    /// Makes controller `index` ready to act as an LE central that bonds: checks it supports LE, then Set Low
    /// Energy on, Set Secure Connections on (if supported), Set Bondable on, Set IO Capability, Set Powered on. Returns the settings after power-on.
    @discardableResult
    public func powerOnForLE(index: UInt16, ioCapability: IOCapability = .noInputNoOutput) async throws(ManagementError)
        -> ControllerSettings
    {
        let info = try await info(index: index)
        guard info.supportedSettings.contains(.lowEnergy) else {
            throw .unsupported(
                index: index, reason: "the controller \(info.address) does not support Bluetooth Low Energy")
        }
        if !info.currentSettings.contains(.lowEnergy) { try await setLowEnergy(true, index: index) }
        // LE Secure Connections when the device offers them: ECDH keys instead of legacy pairing's guessable TK,
        // and numeric comparison (a code to confirm) for devices with a display.
        if info.supportedSettings.contains(.secureConnections), !info.currentSettings.contains(.secureConnections) {
            try await send(.setSecureConnections(1), index: index)
        }
        try await setBondable(true, index: index)
        try await setIOCapability(ioCapability, index: index)
        return try await setPowered(true, index: index)
    }

    /// Starts discovery; Device Found events then arrive on `events()`. Returns the address types being scanned.
    @discardableResult
    public func startDiscovery(index: UInt16, types: DiscoveryAddressTypes = .le) async throws(ManagementError)
        -> DiscoveryAddressTypes
    {
        let parameters = try await send(.startDiscovery(types), index: index)
        return DiscoveryAddressTypes(rawValue: parameters.first ?? types.rawValue)
    }

    public func stopDiscovery(index: UInt16, types: DiscoveryAddressTypes = .le) async throws(ManagementError) {
        try await send(.stopDiscovery(types), index: index)
    }

    /// Pairs (and bonds) with a device. The kernel connects by itself; while SMP runs it may raise User
    /// Confirmation / Passkey requests, which a `PairingAgent` must answer or this waits until `pairingTimeout`.
    /// On timeout the pairing is cancelled so the kernel does not keep the link.
    public func pair(
        address: BluetoothAddress, type: BluetoothAddressType, ioCapability: IOCapability = .noInputNoOutput,
        index: UInt16
    ) async throws(ManagementError) -> PairingOutcome {
        let device = DeviceAddress(address, type: type)
        let reply: Reply
        do {
            reply = try await exchange(
                .pairDevice(device, ioCapability: ioCapability), index: index, timeout: options.pairingTimeout)
        } catch {
            if case .timeout = error {
                _ = try? await exchange(.cancelPairDevice(device), index: index, timeout: options.commandTimeout)
            }
            throw error
        }
        switch reply.status {
        case .success:
            let identity = try decode(.pairDevice) { () throws(CharacteristicDecodeError) in
                try DeviceAddress(returnParameters: reply.parameters, command: .pairDevice)
            }
            return .paired(identity: identity)
        case .alreadyPaired:
            return .alreadyPaired
        default:
            throw .commandFailed(.pairDevice, index: index, status: reply.status)
        }
    }

    public func cancelPairing(address: BluetoothAddress, type: BluetoothAddressType, index: UInt16)
        async throws(ManagementError)
    {
        try await send(.cancelPairDevice(DeviceAddress(address, type: type)), index: index)
    }

    /// Removes the kernel's keys for the device (and disconnects it). "Not Paired" counts as done.
    public func unpair(address: BluetoothAddress, type: BluetoothAddressType, disconnect: Bool = true, index: UInt16)
        async throws(ManagementError)
    {
        let reply = try await exchange(
            .unpairDevice(DeviceAddress(address, type: type), disconnect: disconnect), index: index,
            timeout: options.commandTimeout)
        guard reply.status == .success || reply.status == .notPaired else {
            throw .commandFailed(.unpairDevice, index: index, status: reply.status)
        }
    }

    /// Adds (or replaces) an advertising instance; returns its number.
    @discardableResult
    public func addAdvertising(_ instance: AdvertisingInstance, index: UInt16) async throws(ManagementError) -> UInt8 {
        let parameters = try await send(.addAdvertising(instance), index: index)
        return parameters.first ?? instance.instance
    }

    public func removeAdvertising(instance: UInt8 = 0, index: UInt16) async throws(ManagementError) {
        try await send(.removeAdvertising(instance: instance), index: index)
    }

    /// Replays stored bonds (Load Long Term Keys, then Load Identity Resolving Keys) — only when gatewayd, not
    /// bluetoothd, owns the controller, since each load replaces the kernel's whole list.
    public func restoreBonds(from store: BondStore, index: UInt16) async throws(ManagementError) {
        for request in await store.loadCommands(index: index) { try await send(request) }
    }

    private func settings(_ command: ManagementCommand, index: UInt16) async throws(ManagementError)
        -> ControllerSettings
    {
        let parameters = try await send(command, index: index)
        return try decode(command.opcode) { () throws(CharacteristicDecodeError) in
            var reader = PayloadReader(parameters, characteristic: "mgmt \(command.opcode.name) reply")
            return try ControllerSettings(&reader, "current_settings")
        }
    }

    private func decode<T>(_ opcode: ManagementOpcode, _ body: () throws(CharacteristicDecodeError) -> T)
        throws(ManagementError) -> T
    {
        do {
            return try body()
        } catch {
            throw .malformedReply(opcode, error)
        }
    }
}
