import Logging
import Metrics

/// Something the device sent without being asked.
public enum GATTServerEvent: Sendable {
    case notification(handle: UInt16, value: [UInt8])
    /// Must be acknowledged (`Indication.acknowledgeDurable()`) once the reading is durable; only then is the
    /// ATT Handle Value Confirmation sent (DESIGN.md rule 3).
    case indication(Indication)
    /// An indication on a characteristic no one subscribed to hold (Service Changed after a reconnection, a
    /// characteristic no session reads): already confirmed when it arrives, so the device may indicate again.
    case confirmedIndication(handle: UInt16, value: [UInt8])
}

/// An indication awaiting the caller's word that its reading is durable.
public struct Indication: Sendable {
    public let handle: UInt16
    public let value: [UInt8]
    let id: UInt64
    let client: GATTClient

    /// Sends the ATT Handle Value Confirmation. Call only after the reading is durably stored.
    public func acknowledgeDurable() async throws(GATTError) {
        try await client.confirmIndication(id: id, handle: handle)
    }
}

/// Timeouts of the ATT client.
public struct GATTClientOptions: Sendable {
    /// The ATT transaction timeout: 30 s in the Core Specification; tests shorten it.
    public var transactionTimeout: Duration = .seconds(30)
    /// How long the caller has to acknowledge an indication as durable. It must stay below the device's own
    /// 30 s transaction timeout, or the device gives up on the link first.
    public var indicationAcknowledgementTimeout: Duration = .seconds(20)
    /// The MTU we offer in the MTU exchange.
    public var preferredMTU: UInt16 = 517
    /// The clock both timeouts run on (a test moves a manual one instead of waiting).
    public var timeoutClock: any Clock<Duration> = ContinuousClock()

    public init(
        transactionTimeout: Duration = .seconds(30), indicationAcknowledgementTimeout: Duration = .seconds(20),
        preferredMTU: UInt16 = 517, timeoutClock: any Clock<Duration> = ContinuousClock()
    ) {
        self.transactionTimeout = transactionTimeout
        self.indicationAcknowledgementTimeout = indicationAcknowledgementTimeout
        self.preferredMTU = preferredMTU
        self.timeoutClock = timeoutClock
    }
}

/// The ATT client role of the gateway and the GATT procedures over it.
///
/// At most one request is outstanding (callers queue in FIFO order); every response is matched to its
/// request by opcode; a transaction that times out poisons the bearer as the specification requires.
/// Requests the peer sends us are answered "request not supported"; unknown commands are ignored.
public actor GATTClient {
    public nonisolated let bearer: any ATTBearer
    public nonisolated let options: GATTClientOptions
    /// Notifications and indications, in arrival order; ends when the link closes.
    public nonisolated let events: AsyncStream<GATTServerEvent>
    private let eventSink: AsyncStream<GATTServerEvent>.Continuation
    let logger: Logger

    /// The negotiated ATT_MTU (23 until an exchange).
    public private(set) var mtu: Int = 23
    /// Why the client stopped working, once it has.
    public private(set) var failure: GATTError?

    private struct Pending {
        var opcode: UInt8
        var id: UInt64
        var result: Result<ATTPDU, GATTError>?
        var continuation: CheckedContinuation<Result<ATTPDU, GATTError>, Never>?
    }

    private var pending: Pending?
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var nextID: UInt64 = 1
    private var outstandingIndication: (id: UInt64, handle: UInt16)?
    /// Each held indication's number, for the receive loop's child that times its acknowledgement (`timeIndications`).
    private let heldIndications: AsyncStream<UInt64>
    private let heldIndication: AsyncStream<UInt64>.Continuation
    /// That child, waiting for the outstanding indication to be settled (confirmed, timed out, or the link gone).
    private var settlementWaiter: CheckedContinuation<Void, Never>?
    /// Value handles whose indications wait for `Indication.acknowledgeDurable()`: the ones subscribed with
    /// `configure(_, .indications)`, whose content a session stores. Any other indication is confirmed at once:
    /// ATT allows one outstanding indication, so leaving one unconfirmed would silence the device until its
    /// 30-second timeout drops the link.
    private var heldIndicationHandles: Set<UInt16> = []

    /// What `discoverAll` found on this link (nil until then).
    private(set) var discoveredDatabase: DiscoveredDatabase?
    /// The handles a Service Changed indication named since the last discovery: discovered again on the next call.
    private(set) var pendingChange: HandleRange?
    /// How many times this link's database was discovered, wholly or the changed range (diagnostics and tests: once
    /// per connection, not at all when a cache entry held).
    public private(set) var discoveries = 0
    /// How many times a cached database was used instead of discovering (`GATTDatabaseCache`).
    public private(set) var cacheHits = 0
    /// Requests sent on this link (what discovery costs in radio round trips).
    public private(set) var requestsSent = 0
    /// Where this device's discovered database is kept between links (nil: discovered on every link).
    public nonisolated let cacheSlot: GATTCacheSlot?

    func rememberDiscovered(_ database: DiscoveredDatabase, fromCache: Bool = false) {
        discoveredDatabase = database
        if fromCache { cacheHits += 1 } else { discoveries += 1 }
        Counter(label: "gatewayd_gatt_discoveries_total", dimensions: [("source", fromCache ? "cache" : "device")])
            .increment()
    }

    /// The change a Service Changed indication announced, taken by the discovery that handles it.
    func takePendingChange() -> HandleRange? {
        defer { pendingChange = nil }
        return pendingChange
    }

    /// Indications of `handle` are confirmed only once acknowledged as durable (or not, when `held` is false).
    func holdIndications(_ handle: UInt16, _ held: Bool) {
        if held { heldIndicationHandles.insert(handle) } else { heldIndicationHandles.remove(handle) }
    }
    /// PDUs that were neither a match for a request nor something we answer (counted for diagnostics).
    public private(set) var unexpectedPDUs = 0

    public init(
        bearer: any ATTBearer, options: GATTClientOptions = GATTClientOptions(), cache: GATTCacheSlot? = nil,
        logger: Logger? = nil
    ) {
        self.bearer = bearer
        self.options = options
        self.cacheSlot = cache
        self.logger = logger ?? Logger(label: "gatewayd.gatt-client")
        (events, eventSink) = AsyncStream.makeStream(of: GATTServerEvent.self, bufferingPolicy: .unbounded)
        (heldIndications, heldIndication) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .unbounded)
    }

    /// Reads PDUs from the bearer until the link closes: the client's receive loop. Its owner runs it beside the work
    /// that uses the client, as a child task (`receiving(_:)`); nothing else reads the link, so a request made while
    /// no loop runs waits for its timeout.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.timeIndications() }
            for await bytes in bearer.incoming { await handle(bytes) }
            linkEnded()
        }
    }

    /// Gives each held indication `indicationAcknowledgementTimeout` to be acknowledged as durable (one at a time: ATT
    /// allows one outstanding indication); ends with the link.
    private func timeIndications() async {
        for await id in heldIndications {
            await withExpiry(
                after: options.indicationAcknowledgementTimeout, on: options.timeoutClock,
                expire: { [weak self] cause in if cause == .deadline { await self?.indicationTimedOut(id: id) } },
                body: { await self.settled(id) })
        }
    }

    /// Returns once indication `id` is no longer outstanding.
    private func settled(_ id: UInt64) async {
        guard outstandingIndication?.id == id else { return }
        await withCheckedContinuation { settlementWaiter = $0 }
    }

    private func settle() {
        outstandingIndication = nil
        settlementWaiter?.resume()
        settlementWaiter = nil
    }

    /// Runs `body` with the receive loop as a child task, closes the link once `body` ends (returning or throwing),
    /// and returns when the loop has ended too: a connection's whole life in one scope.
    public nonisolated func receiving<Value: Sendable, Failure: Error>(_ body: () async throws(Failure) -> Value)
        async throws(Failure) -> Value
    {
        let outcome = await withTaskGroup(of: Void.self, returning: Result<Value, Failure>.self) { group in
            group.addTask { await self.run() }
            let outcome: Result<Value, Failure>
            do throws(Failure) { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            close()
            return outcome
        }
        return try outcome.get()
    }

    /// Closes the link.
    public nonisolated func close() {
        bearer.close()
    }

    // MARK: Transactions

    /// Sends `request` and waits for its response; ATT Error Responses become `GATTError.errorResponse`.
    public func transaction(_ request: ATTPDU) async throws(GATTError) -> ATTPDU {
        await acquire()
        defer { release() }
        if let failure { throw failure }
        let id = nextID
        nextID += 1
        requestsSent += 1
        pending = Pending(opcode: request.opcode, id: id)
        do {
            try await bearer.send(request.encoded())
        } catch {
            pending = nil
            throw .bearer(error)
        }
        let result = await withExpiry(
            after: options.transactionTimeout, on: options.timeoutClock,
            expire: { [weak self] cause in await self?.transactionExpired(id: id, cause) },
            body: {
                await withCheckedContinuation { (continuation: CheckedContinuation<Result<ATTPDU, GATTError>, Never>) in
                    if let early = pending?.result {
                        continuation.resume(returning: early)
                    } else {
                        pending?.continuation = continuation
                    }
                }
            })
        pending = nil
        return try result.get()
    }

    /// Sends a Write Command (no response; the device may drop it).
    public func writeCommand(handle: UInt16, value: [UInt8]) async throws(GATTError) {
        if let failure { throw failure }
        guard value.count <= mtu - 3 else { throw .valueTooLong(size: value.count, limit: mtu - 3) }
        do {
            try await bearer.send(ATTPDU.writeCommand(handle: handle, value: value).encoded())
        } catch {
            throw .bearer(error)
        }
    }

    func setMTU(_ value: Int) { mtu = value }
    private(set) var mtuExchanged = false
    func markMTUExchanged() { mtuExchanged = true }

    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }

    private func complete(_ result: Result<ATTPDU, GATTError>) {
        guard pending != nil else { return }
        if let continuation = pending?.continuation {
            pending?.continuation = nil
            continuation.resume(returning: result)
        } else if pending?.result == nil {
            pending?.result = result
        }
    }

    /// A transaction's response did not come in time, or its caller stopped waiting: either way a response may still
    /// come, and would be taken for the next request's, so the link is closed (ATT: a timed-out bearer is done).
    private func transactionExpired(id: UInt64, _ cause: ExpiryCause) {
        guard let current = pending, current.id == id, current.result == nil else { return }
        let request = GATTError.opcodeName(current.opcode)
        let error: GATTError
        if cause == .deadline {
            error = .transactionTimeout(request: current.opcode, seconds: options.transactionTimeout.seconds)
            logger.warning("ATT transaction timed out; closing the link", metadata: ["request": "\(request)"])
            Counter(label: "gatewayd_att_transaction_timeouts_total").increment()
        } else {
            error = .linkClosed(nil)
            logger.debug(
                "ATT transaction abandoned by its caller; closing the link", metadata: ["request": "\(request)"])
        }
        failure = error
        complete(.failure(error))
        bearer.close()
    }

    private func linkEnded() {
        let error = GATTError.linkClosed(bearer.closeReason)
        if failure == nil { failure = error }
        complete(.failure(failure ?? error))
        settle()
        heldIndication.finish()
        eventSink.finish()
    }

    // MARK: Incoming PDUs

    private func handle(_ bytes: [UInt8]) async {
        let pdu: ATTPDU
        do {
            pdu = try ATTPDU(decoding: bytes)
        } catch {
            await malformed(bytes, error)
            return
        }
        switch pdu {
        case .errorResponse(let requestOpcode, let handle, let code):
            if let current = pending, current.opcode == requestOpcode {
                Counter(label: "gatewayd_att_error_responses_total", dimensions: [("code", "\(code.rawValue)")])
                    .increment()
                complete(.failure(.errorResponse(request: requestOpcode, handle: handle, code: code)))
            } else {
                unexpected(pdu)
            }
        case .handleValueNotification(let handle, let value):
            eventSink.yield(.notification(handle: handle, value: value))
        case .handleValueIndication(let handle, let value):
            await receivedIndication(handle: handle, value: value)
        default:
            let opcode = pdu.opcode
            if let current = pending, opcode == current.opcode &+ 1, !(ATTOpcode(rawValue: opcode)?.isRequest ?? false)
            {
                complete(.success(pdu))
            } else if ATTOpcode.isCommand(opcode) {
                unexpected(pdu)  // commands we do not handle are ignored (Vol 3 F 3.4.9)
            } else if ATTOpcode.mustBeAnswered(opcode) {
                // The gateway hosts no attributes of its own: every request is "not supported".
                try? await bearer.send(
                    ATTPDU.errorResponse(requestOpcode: opcode, handle: 0, error: .requestNotSupported).encoded())
            } else {
                unexpected(pdu)
            }
        }
    }

    private func malformed(_ bytes: [UInt8], _ error: ATTPDUError) async {
        guard let opcode = bytes.first else { return }
        if let current = pending, opcode == current.opcode &+ 1 || opcode == ATTOpcode.errorResponse.rawValue {
            complete(.failure(.invalidResponse(request: current.opcode, reason: error.description)))
        } else if ATTOpcode.mustBeAnswered(opcode) {
            try? await bearer.send(ATTPDU.errorResponse(requestOpcode: opcode, handle: 0, error: .invalidPDU).encoded())
        } else {
            logger.notice("ignoring a malformed PDU from the device", metadata: ["error": "\(error)"])
            unexpectedPDUs += 1
        }
    }

    private func unexpected(_ pdu: ATTPDU) {
        unexpectedPDUs += 1
        logger.debug("ignoring an unexpected PDU", metadata: ["opcode": "\(GATTError.opcodeName(pdu.opcode))"])
    }

    // MARK: Indications

    private func receivedIndication(handle: UInt16, value: [UInt8]) async {
        guard outstandingIndication == nil else {
            // A second indication before our confirmation breaks the protocol; the device will resend it.
            unexpectedPDUs += 1
            logger.notice("device sent an indication before the previous one was confirmed; ignored")
            return
        }
        guard heldIndicationHandles.contains(handle) else {
            Counter(label: "gatewayd_att_indications_confirmed_at_once_total").increment()
            logger.info("confirmed an indication no session holds", metadata: ["handle": "\(handle)"])
            try? await bearer.send(ATTPDU.handleValueConfirmation.encoded())
            // (Known from this link's discovery, or from the cached copy an early indication would contradict.)
            let reference = discoveredDatabase ?? cacheSlot.flatMap { $0.cache.entry($0.key)?.database }
            if let reference, reference.characteristic(.serviceChanged)?.valueHandle == handle {
                // The device's attribute database changed in the range it names (all of it, if it names none we can
                // read): that range is discovered again on the next call, and no cached copy is trusted any more.
                let changed =
                    value.count >= 4
                    ? HandleRange(
                        start: UInt16(value[0]) | UInt16(value[1]) << 8, end: UInt16(value[2]) | UInt16(value[3]) << 8)
                    : HandleRange.all
                let range = changed.isValid ? changed : HandleRange.all
                pendingChange = pendingChange.map { $0.union(range) } ?? range
                if let slot = cacheSlot { slot.cache.forget(slot.key) }
                logger.notice(
                    "the device's GATT database changed; the changed handles are discovered again",
                    metadata: ["start": "\(range.start)", "end": "\(range.end)"])
            }
            eventSink.yield(.confirmedIndication(handle: handle, value: value))
            return
        }
        let id = nextID
        nextID += 1
        outstandingIndication = (id, handle)
        heldIndication.yield(id)
        eventSink.yield(.indication(Indication(handle: handle, value: value, id: id, client: self)))
    }

    func confirmIndication(id: UInt64, handle: UInt16) async throws(GATTError) {
        guard outstandingIndication?.id == id else { throw failure ?? .indicationNotOutstanding(handle: handle) }
        settle()
        do {
            try await bearer.send(ATTPDU.handleValueConfirmation.encoded())
        } catch {
            throw .bearer(error)
        }
    }

    private func indicationTimedOut(id: UInt64) {
        guard let outstanding = outstandingIndication, outstanding.id == id else { return }
        settle()
        let error = GATTError.indicationNotAcknowledged(
            handle: outstanding.handle, seconds: options.indicationAcknowledgementTimeout.seconds)
        logger.warning("indication not acknowledged as durable in time; not confirming, closing the link")
        Counter(label: "gatewayd_att_indications_unacknowledged_total").increment()
        failure = error
        bearer.close()
    }
}
