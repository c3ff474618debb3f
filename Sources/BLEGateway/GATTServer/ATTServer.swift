import Logging

/// The application behind a GATT server: supplies dynamic values and accepts writes.
public protocol GATTServerHandler: Sendable {
    /// The current value of a `.dynamic` attribute, or the ATT error to answer with.
    func readValue(handle: UInt16) async -> Result<[UInt8], ATTErrorCode>
    /// A write to a `.dynamic` attribute; nil accepts it. `withResponse` is false for Write Commands.
    func writeValue(handle: UInt16, value: [UInt8], withResponse: Bool) async -> ATTErrorCode?
    /// A client changed a CCCD.
    func configurationChanged(valueHandle: UInt16, value: CCCDValue) async
}

/// The ATT server role over one bearer: answers requests from an `AttributeDatabase`, keeps CCCD state per
/// link, sends notifications, and sends indications one at a time, each waiting for its confirmation.
public actor ATTServer {
    public nonisolated let bearer: any ATTBearer
    private(set) var database: AttributeDatabase
    let handler: any GATTServerHandler
    let logger: Logger
    /// The MTU this server supports; the link's MTU is the smaller of this and the client's.
    let supportedMTU: Int
    /// How long an indication waits for its confirmation (the ATT transaction timeout).
    let indicationTimeout: Duration
    /// What `indicationTimeout` is measured on (a test's manual clock moves it without waiting).
    let timeoutClock: any Clock<Duration>
    public private(set) var mtu = 23
    private var configuration: [UInt16: CCCDValue] = [:]
    private var confirmationWaiter: CheckedContinuation<Bool, Never>?
    /// The indication awaiting its confirmation, by number. Cleared when the confirmation is handled — not when the
    /// sending task resumes later — so an indication a write answers right after can be sent (ATT allows the next one
    /// once the confirmation arrived; clearing late dropped a CGM control point's second answer now and then).
    private var indicationInFlight: Int?
    private var indicationsSent = 0
    private var lastConfirmed = 0
    private var isClosed = false
    /// Requests answered with an error because they were malformed (for tests and logs).
    public private(set) var malformedRequests = 0

    public init(
        bearer: any ATTBearer, database: AttributeDatabase, handler: any GATTServerHandler, supportedMTU: Int = 247,
        indicationTimeout: Duration = .seconds(30), timeoutClock: any Clock<Duration> = ContinuousClock(),
        logger: Logger? = nil
    ) {
        self.bearer = bearer
        self.database = database
        self.handler = handler
        self.supportedMTU = supportedMTU
        self.indicationTimeout = indicationTimeout
        self.timeoutClock = timeoutClock
        self.logger = logger ?? Logger(label: "gatewayd.att-server")
    }

    /// Serves requests until the link closes.
    public func run() async {
        for await bytes in bearer.incoming {
            await handle(bytes)
        }
        isClosed = true
        indicationInFlight = nil
        confirmationWaiter?.resume(returning: false)
        confirmationWaiter = nil
    }

    /// An indication was sent and its confirmation has not been handled yet.
    public var awaitsConfirmation: Bool { indicationInFlight != nil }

    public func isSubscribed(_ valueHandle: UInt16, for kind: CCCDValue) -> Bool { configuration[valueHandle] == kind }

    /// Replaces the attribute table while connected (a firmware update added a service or a characteristic); the
    /// device then indicates Service Changed with the handles that changed.
    public func replaceDatabase(_ new: AttributeDatabase) { database = new }

    /// Sends a notification when the client enabled notifications on `valueHandle`; false otherwise.
    @discardableResult
    public func notify(_ valueHandle: UInt16, _ value: [UInt8]) async -> Bool {
        guard !isClosed, configuration[valueHandle] == .notifications else { return false }
        do {
            try await bearer.send(
                ATTPDU.handleValueNotification(handle: valueHandle, value: Array(value.prefix(mtu - 3))).encoded())
            return true
        } catch {
            return false
        }
    }

    /// Sends an indication and waits for the client's confirmation: true when confirmed, false when the client
    /// had not enabled indications, the link closed, or no confirmation came within the timeout.
    public func indicate(_ valueHandle: UInt16, _ value: [UInt8]) async -> Bool {
        guard !isClosed, configuration[valueHandle] == .indications, indicationInFlight == nil else { return false }
        indicationsSent += 1
        let number = indicationsSent
        indicationInFlight = number
        do {
            try await bearer.send(
                ATTPDU.handleValueIndication(handle: valueHandle, value: Array(value.prefix(mtu - 3))).encoded())
        } catch {
            if indicationInFlight == number { indicationInFlight = nil }
            return false
        }
        // The confirmation can be handled while this task was suspended in `send`.
        if lastConfirmed >= number { return true }
        return await withExpiry(
            after: indicationTimeout, on: timeoutClock, expire: { [weak self] _ in await self?.confirmationTimedOut() },
            body: {
                await withCheckedContinuation { confirmationWaiter = $0 }
            })
    }

    private func confirmationTimedOut() {
        guard let waiter = confirmationWaiter else { return }
        confirmationWaiter = nil
        indicationInFlight = nil
        logger.notice("no Handle Value Confirmation within the transaction timeout; closing the link")
        waiter.resume(returning: false)
        bearer.close()
    }

    /// Closes the link (a device walking away, a battery pulled mid-transfer).
    public func disconnect() { bearer.close() }

    // MARK: Requests

    private func send(_ pdu: ATTPDU) async {
        try? await bearer.send(pdu.encoded())
    }

    private func handle(_ bytes: [UInt8]) async {
        let pdu: ATTPDU
        do {
            pdu = try ATTPDU(decoding: bytes)
        } catch {
            malformedRequests += 1
            if let opcode = bytes.first, ATTOpcode.mustBeAnswered(opcode) {
                await send(.errorResponse(requestOpcode: opcode, handle: 0, error: .invalidPDU))
            }
            return
        }
        switch pdu {
        case .exchangeMTURequest(let clientMTU):
            mtu = max(23, min(Int(clientMTU), supportedMTU))
            await send(.exchangeMTUResponse(serverRxMTU: UInt16(supportedMTU)))
        case .readByGroupTypeRequest(let range, let type):
            await send(readByGroupType(range, type))
        case .readByTypeRequest(let range, let type):
            await send(await readByType(range, type))
        case .findInformationRequest(let range):
            await send(findInformation(range))
        case .findByTypeValueRequest(let range, let type, let value):
            await send(findByTypeValue(range, type, value))
        case .readRequest(let handle):
            switch await readAttribute(handle) {
            case .success(let value): await send(.readResponse(value: Array(value.prefix(mtu - 1))))
            case .failure(let error):
                await send(.errorResponse(requestOpcode: pdu.opcode, handle: handle, error: error))
            }
        case .readBlobRequest(let handle, let offset):
            switch await readAttribute(handle) {
            case .success(let value):
                if Int(offset) > value.count {
                    await send(.errorResponse(requestOpcode: pdu.opcode, handle: handle, error: .invalidOffset))
                } else if value.count <= mtu - 1 && offset > 0 && Int(offset) == value.count {
                    await send(.readBlobResponse(value: []))
                } else {
                    await send(.readBlobResponse(value: Array(value[Int(offset)...].prefix(mtu - 1))))
                }
            case .failure(let error):
                await send(.errorResponse(requestOpcode: pdu.opcode, handle: handle, error: error))
            }
        case .writeRequest(let handle, let value):
            if let error = await write(handle, value, withResponse: true) {
                await send(.errorResponse(requestOpcode: pdu.opcode, handle: handle, error: error))
            } else {
                await send(.writeResponse)
            }
        case .writeCommand(let handle, let value):
            _ = await write(handle, value, withResponse: false)
        case .handleValueConfirmation:
            guard let number = indicationInFlight else { break }  // none outstanding: nothing to confirm
            indicationInFlight = nil
            lastConfirmed = number
            if let waiter = confirmationWaiter {
                confirmationWaiter = nil
                waiter.resume(returning: true)
            }
        default:
            let opcode = pdu.opcode
            if ATTOpcode.mustBeAnswered(opcode) {
                await send(.errorResponse(requestOpcode: opcode, handle: 0, error: .requestNotSupported))
            }
        }
    }

    private func readAttribute(_ handle: UInt16) async -> Result<[UInt8], ATTErrorCode> {
        guard let attribute = database.attribute(handle) else { return .failure(.invalidHandle) }
        guard attribute.readable else { return .failure(.readNotPermitted) }
        return await value(of: attribute)
    }

    private func value(of attribute: Attribute) async -> Result<[UInt8], ATTErrorCode> {
        switch attribute.value {
        case .fixed(let bytes): return .success(bytes)
        case .dynamic: return await handler.readValue(handle: attribute.handle)
        case .clientConfiguration(let valueHandle):
            let raw = configuration[valueHandle]?.rawValue ?? 0
            return .success([UInt8(raw & 0xFF), UInt8(raw >> 8)])
        }
    }

    private func write(_ handle: UInt16, _ value: [UInt8], withResponse: Bool) async -> ATTErrorCode? {
        guard let attribute = database.attribute(handle) else { return .invalidHandle }
        guard attribute.writable else { return .writeNotPermitted }
        switch attribute.value {
        case .fixed: return .writeNotPermitted
        case .dynamic: return await handler.writeValue(handle: handle, value: value, withResponse: withResponse)
        case .clientConfiguration(let valueHandle):
            guard value.count == 2 else { return .invalidAttributeValueLength }
            let raw = UInt16(value[0]) | UInt16(value[1]) << 8
            guard let setting = CCCDValue(rawValue: raw) else { return .valueNotAllowed }
            configuration[valueHandle] = setting
            await handler.configurationChanged(valueHandle: valueHandle, value: setting)
            return nil
        }
    }

    private func readByGroupType(_ range: HandleRange, _ type: BluetoothUUID) -> ATTPDU {
        let opcode = ATTOpcode.readByGroupTypeRequest.rawValue
        guard range.isValid else {
            return .errorResponse(requestOpcode: opcode, handle: range.start, error: .invalidHandle)
        }
        guard type == .primaryService || type == .secondaryService else {
            return .errorResponse(requestOpcode: opcode, handle: range.start, error: .unsupportedGroupType)
        }
        var entries: [GroupValue] = []
        for attribute in database.attributes(in: range) where attribute.type == type {
            guard case .fixed(let value) = attribute.value else { continue }
            if let first = entries.first, first.value.count != value.count { break }
            if (entries.count + 1) * (4 + value.count) > mtu - 2 { break }
            entries.append(
                GroupValue(
                    handle: attribute.handle, endGroupHandle: attribute.groupEnd ?? attribute.handle, value: value))
        }
        guard !entries.isEmpty else {
            return .errorResponse(requestOpcode: opcode, handle: range.start, error: .attributeNotFound)
        }
        return .readByGroupTypeResponse(entries)
    }

    private func readByType(_ range: HandleRange, _ type: BluetoothUUID) async -> ATTPDU {
        let opcode = ATTOpcode.readByTypeRequest.rawValue
        guard range.isValid else {
            return .errorResponse(requestOpcode: opcode, handle: range.start, error: .invalidHandle)
        }
        var entries: [HandleValue] = []
        for attribute in database.attributes(in: range) where attribute.type == type {
            guard attribute.readable else {
                if entries.isEmpty {
                    return .errorResponse(requestOpcode: opcode, handle: attribute.handle, error: .readNotPermitted)
                }
                break
            }
            guard case .success(var value) = await self.value(of: attribute) else { break }
            value = Array(value.prefix(min(mtu - 4, 253)))
            if let first = entries.first, first.value.count != value.count { break }
            if (entries.count + 1) * (2 + value.count) > mtu - 2 { break }
            entries.append(HandleValue(handle: attribute.handle, value: value))
        }
        guard !entries.isEmpty else {
            return .errorResponse(requestOpcode: opcode, handle: range.start, error: .attributeNotFound)
        }
        return .readByTypeResponse(entries)
    }

    private func findInformation(_ range: HandleRange) -> ATTPDU {
        let opcode = ATTOpcode.findInformationRequest.rawValue
        guard range.isValid else {
            return .errorResponse(requestOpcode: opcode, handle: range.start, error: .invalidHandle)
        }
        var entries: [HandleType] = []
        for attribute in database.attributes(in: range) {
            let short = attribute.type.shortValue != nil
            if let first = entries.first, (first.type.shortValue != nil) != short { break }
            if (entries.count + 1) * (short ? 4 : 18) > mtu - 2 { break }
            entries.append(HandleType(handle: attribute.handle, type: attribute.type))
        }
        guard !entries.isEmpty else {
            return .errorResponse(requestOpcode: opcode, handle: range.start, error: .attributeNotFound)
        }
        return .findInformationResponse(entries)
    }

    private func findByTypeValue(_ range: HandleRange, _ type: UInt16, _ value: [UInt8]) -> ATTPDU {
        let opcode = ATTOpcode.findByTypeValueRequest.rawValue
        guard range.isValid else {
            return .errorResponse(requestOpcode: opcode, handle: range.start, error: .invalidHandle)
        }
        var entries: [HandleRange] = []
        for attribute in database.attributes(in: range) where attribute.type == BluetoothUUID(type) {
            guard case .fixed(let bytes) = attribute.value, bytes == value else { continue }
            if (entries.count + 1) * 4 > mtu - 1 { break }
            entries.append(HandleRange(start: attribute.handle, end: attribute.groupEnd ?? attribute.handle))
        }
        guard !entries.isEmpty else {
            return .errorResponse(requestOpcode: opcode, handle: range.start, error: .attributeNotFound)
        }
        return .findByTypeValueResponse(entries)
    }
}
