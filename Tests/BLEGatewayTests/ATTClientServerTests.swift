import Foundation
import TestSupport
import Testing

@testable import BLEGateway

/// A small application behind the test server: values by handle, a slow device's reads (held until the test lets
/// them go, so nothing waits for time), recorded writes.
actor RecordingHandler: GATTServerHandler {
    var values: [UInt16: [UInt8]] = [:]
    var holdsReads = false
    private var heldReads: [CheckedContinuation<Void, Never>] = []
    /// How many reads are held, each time one more is.
    nonisolated let heldReadCounts: AsyncStream<Int>
    private let heldReadCount: AsyncStream<Int>.Continuation
    var writes: [(handle: UInt16, value: [UInt8], withResponse: Bool)] = []

    init() { (heldReadCounts, heldReadCount) = AsyncStream.makeStream() }

    func set(_ handle: UInt16, _ value: [UInt8]) { values[handle] = value }
    /// From now on every read waits for `releaseReads()`.
    func holdReads() { holdsReads = true }
    func releaseReads() {
        let held = heldReads
        heldReads.removeAll()
        for read in held { read.resume() }
    }

    func readValue(handle: UInt16) async -> Result<[UInt8], ATTErrorCode> {
        if holdsReads {
            await withCheckedContinuation {
                heldReads.append($0)
                heldReadCount.yield(heldReads.count)
            }
        }
        return values[handle].map { .success($0) } ?? .failure(.unlikelyError)
    }

    func writeValue(handle: UInt16, value: [UInt8], withResponse: Bool) async -> ATTErrorCode? {
        guard value.count <= 4 else { return .invalidAttributeValueLength }
        writes.append((handle, value, withResponse))
        values[handle] = value
        return nil
    }

    func configurationChanged(valueHandle: UInt16, value: CCCDValue) async {}
}

struct TestPeripheral {
    let server: ATTServer
    let client: GATTClient
    let handler: RecordingHandler
    let database: AttributeDatabase
    let heartRate: CharacteristicHandles
    let longName: CharacteristicHandles
    let control: CharacteristicHandles
    let bloodPressure: CharacteristicHandles
    let custom: CharacteristicHandles

    /// A server with a heart-rate service, a long device name, a custom 128-bit service; client and server
    /// joined by a real socketpair.
    static func make(options: GATTClientOptions = GATTClientOptions(), inProcess: Bool = false) async throws
        -> TestPeripheral
    {
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAccessService)
        let longName = db.addCharacteristic(.deviceName, properties: [.read])
        db.addPrimaryService(.heartRateService)
        let heartRate = db.addCharacteristic(.heartRateMeasurement, properties: [.notify])
        db.addCharacteristic(.bodySensorLocation, properties: [.read], value: .fixed([0x01]))
        let control = db.addCharacteristic(.heartRateControlPoint, properties: [.write, .writeWithoutResponse])
        db.addPrimaryService(.bloodPressureService)
        let bloodPressure = db.addCharacteristic(.bloodPressureMeasurement, properties: [.indicate])
        db.addPrimaryService(try #require(BluetoothUUID(parsing: "6E400001-B5A3-F393-E0A9-E50E24DCCA9E")))
        let custom = db.addCharacteristic(
            try #require(BluetoothUUID(parsing: "6E400002-B5A3-F393-E0A9-E50E24DCCA9E")), properties: [.read],
            value: .fixed([1, 2, 3]))
        db.finish()
        let handler = RecordingHandler()
        await handler.set(
            longName.value, Array("A blood pressure monitor with a rather long device name, 60+ bytes".utf8))
        let serverEnd: any ATTBearer
        let clientEnd: any ATTBearer
        if inProcess {
            (serverEnd, clientEnd) = InProcessBearer.pair()
        } else {
            (serverEnd, clientEnd) = try SeqPacketBearer.pair()
        }
        let server = ATTServer(
            bearer: serverEnd, database: db, handler: handler, supportedMTU: 64, indicationTimeout: .seconds(5))
        Task { await server.run() }
        let client = GATTClient(bearer: clientEnd, options: options)
        client.startReceiving()
        return TestPeripheral(
            server: server, client: client, handler: handler, database: db, heartRate: heartRate, longName: longName,
            control: control, bloodPressure: bloodPressure, custom: custom)
    }
}

@Suite struct ATTClientServerTests {
    @Test(arguments: [false, true]) func discoversServicesCharacteristicsAndDescriptors(inProcess: Bool) async throws {
        let peripheral = try await TestPeripheral.make(inProcess: inProcess)
        #expect(try await peripheral.client.exchangeMTU() == 64)
        let database = try await peripheral.client.discoverAll()
        #expect(
            database.services.map(\.uuid).prefix(3) == [
                .genericAccessService, .heartRateService, .bloodPressureService,
            ])
        #expect(database.services.count == 4)
        let hrm = try #require(database.characteristic(.heartRateMeasurement))
        #expect(hrm.valueHandle == peripheral.heartRate.value)
        #expect(hrm.cccdHandle == peripheral.heartRate.cccd)
        #expect(hrm.properties == [.notify])
        let custom = try #require(database.services.last?.characteristics.first)
        #expect(custom.uuid.description == "6E400002-B5A3-F393-E0A9-E50E24DCCA9E")
        #expect(try await peripheral.client.read(handle: custom.valueHandle) == [1, 2, 3])
        let control = try #require(database.characteristic(.heartRateControlPoint, in: .heartRateService))
        #expect(control.properties.contains(.write))
        #expect(control.descriptors.isEmpty)
        peripheral.client.close()
    }

    @Test func readsLongValuesWithReadBlob() async throws {
        let peripheral = try await TestPeripheral.make()
        // Default MTU 23: a 66-byte name needs a Read and three Read Blobs.
        let name = try await peripheral.client.read(handle: peripheral.longName.value)
        #expect(
            String(decoding: name, as: UTF8.self)
                == "A blood pressure monitor with a rather long device name, 60+ bytes")
        peripheral.client.close()
    }

    @Test func writesWithAndWithoutResponseAndSurfacesErrorResponses() async throws {
        let peripheral = try await TestPeripheral.make()
        try await peripheral.client.write(handle: peripheral.control.value, value: [0x01])
        try await peripheral.client.writeCommand(handle: peripheral.control.value, value: [0x02])
        // Writes are answered in order, so a following read sees the command's value.
        await #expect(
            throws: GATTError.errorResponse(
                request: 0x12, handle: peripheral.control.value, code: .invalidAttributeValueLength)
        ) {
            try await peripheral.client.write(handle: peripheral.control.value, value: [1, 2, 3, 4, 5])
        }
        let writes = await peripheral.handler.writes
        #expect(writes.map(\.value) == [[0x01], [0x02]])
        #expect(writes.map(\.withResponse) == [true, false])
        await #expect(throws: GATTError.errorResponse(request: 0x0A, handle: 0x0999, code: .invalidHandle)) {
            try await peripheral.client.read(handle: 0x0999)
        }
        await #expect(
            throws: GATTError.errorResponse(request: 0x0A, handle: peripheral.heartRate.value, code: .readNotPermitted)
        ) {
            try await peripheral.client.read(handle: peripheral.heartRate.value)
        }
        await #expect(
            throws: GATTError.errorResponse(request: 0x12, handle: peripheral.custom.value, code: .writeNotPermitted)
        ) {
            try await peripheral.client.write(handle: peripheral.custom.value, value: [0])
        }
        peripheral.client.close()
    }

    @Test func concurrentRequestsAreSerialisedOneAtATime() async throws {
        let peripheral = try await TestPeripheral.make()
        let handler = peripheral.handler
        await handler.holdReads()
        let client = peripheral.client
        let handle = peripheral.longName.value
        // The device answers each request (a read, then its blobs) only when let go: the others wait at the client.
        let device = Task {
            for await held in handler.heldReadCounts {
                #expect(held == 1, "the client sent a request while one was outstanding")
                await handler.releaseReads()
            }
        }
        defer { device.cancel() }
        try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<8 { group.addTask { try await client.read(handle: handle) } }
            for try await value in group { #expect(value.count == 66) }
        }
        #expect(await client.unexpectedPDUs == 0)
        client.close()
    }

    @Test func notificationsArriveAfterTheClientEnablesThem() async throws {
        let peripheral = try await TestPeripheral.make()
        let database = try await peripheral.client.discoverAll()
        let hrm = try #require(database.characteristic(.heartRateMeasurement))
        #expect(await peripheral.server.notify(hrm.valueHandle, [0x00, 72]) == false)  // not enabled yet
        try await peripheral.client.configure(hrm, .notifications)
        #expect(try await peripheral.client.read(handle: try #require(hrm.cccdHandle)) == [0x01, 0x00])
        #expect(await peripheral.server.notify(hrm.valueHandle, [0x00, 72]))
        var events = peripheral.client.events.makeAsyncIterator()
        guard case .notification(let handle, let value) = await events.next() else {
            Issue.record("expected a notification")
            return
        }
        #expect(handle == hrm.valueHandle)
        #expect(value == [0x00, 72])
        peripheral.client.close()
    }

    @Test func indicationIsConfirmedOnlyWhenAcknowledgedAsDurable() async throws {
        let peripheral = try await TestPeripheral.make()
        let database = try await peripheral.client.discoverAll()
        let bpm = try #require(database.characteristic(.bloodPressureMeasurement))
        try await peripheral.client.configure(bpm, .indications)
        let confirmed = Task { await peripheral.server.indicate(bpm.valueHandle, [0x00, 1, 2, 3, 4, 5, 6]) }
        var events = peripheral.client.events.makeAsyncIterator()
        guard case .indication(let indication) = await events.next() else {
            Issue.record("expected an indication")
            return
        }
        #expect(indication.value == [0x00, 1, 2, 3, 4, 5, 6])
        // Not confirmed until acknowledged: the server is still waiting. A read after the event proves it without
        // waiting for time: the server handles PDUs in order, so a confirmation sent before it would be handled first.
        _ = try await peripheral.client.read(handle: try #require(bpm.cccdHandle))
        #expect(await peripheral.server.awaitsConfirmation)
        #expect(await peripheral.server.isSubscribed(bpm.valueHandle, for: .indications))
        try await indication.acknowledgeDurable()
        #expect(await confirmed.value == true)
        await #expect(throws: GATTError.indicationNotOutstanding(handle: bpm.valueHandle)) {
            try await indication.acknowledgeDurable()
        }
        peripheral.client.close()
    }

    /// A public GATT client test replayed: an indication right after the MTU exchange, before any subscription (a
    /// bonded device's persisted CCCD), on a characteristic no session holds — and the common real case, Service
    /// Changed indicated right after a bonded client reconnects. Both are confirmed at once, so the device may go on
    /// to indicate its measurements; a subscribed measurement still waits for the durable acknowledgement.
    @Test func indicationsNoSessionHoldsAreConfirmedAtOnce() async throws {
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAttributeService)
        let serviceChanged = db.addCharacteristic(.serviceChanged, properties: [.indicate])
        db.addPrimaryService(.bloodPressureService)
        let bpm = db.addCharacteristic(.bloodPressureMeasurement, properties: [.indicate])
        db.finish()
        let (serverEnd, clientEnd) = try SeqPacketBearer.pair()
        let server = ATTServer(
            bearer: serverEnd, database: db, handler: RecordingHandler(), supportedMTU: 64,
            indicationTimeout: .seconds(5))
        Task { await server.run() }
        // The device's side of a bond: both CCCDs already say "indicate" (written here as the earlier connection did).
        let setup = GATTClient(
            bearer: clientEnd, options: GATTClientOptions(indicationAcknowledgementTimeout: .seconds(2)))
        setup.startReceiving()
        _ = try await setup.exchangeMTU()
        for handles in [serviceChanged, bpm] {
            try await setup.write(handle: try #require(handles.cccd), value: [0x02, 0x00])
        }
        var events = setup.events.makeAsyncIterator()
        // Discovery runs once per link: a second call answers from what the first found.
        _ = try await setup.discoverAll()
        _ = try await setup.discoverAll()
        #expect(await setup.discoveries == 1)

        // Service Changed (handles 0x0001–0xFFFF) before anything is subscribed: confirmed at once, and reported.
        #expect(await server.indicate(serviceChanged.value, [0x01, 0x00, 0xFF, 0xFF]) == true)
        guard case .confirmedIndication(let handle, let value) = await events.next() else {
            Issue.record("expected an already confirmed indication")
            return
        }
        #expect(handle == serviceChanged.value && value == [0x01, 0x00, 0xFF, 0xFF])
        // A measurement indicated before the session subscribed is not held either: nobody would store it.
        #expect(await server.indicate(bpm.value, [0x00, 1, 2, 3, 4, 5, 6]) == true)
        _ = await events.next()

        // Once a session subscribes to the measurement, its indications wait for the durable acknowledgement. (The
        // database changed, so it is discovered again.)
        let database = try await setup.discoverAll()
        #expect(await setup.discoveries == 2)
        try await setup.configure(try #require(database.characteristic(.bloodPressureMeasurement)), .indications)
        let confirmed = Task { await server.indicate(bpm.value, [0x00, 7, 8, 9, 10, 11, 12]) }
        guard case .indication(let indication) = await events.next() else {
            Issue.record("expected a held indication")
            return
        }
        // Still held: a read answered after the event means no confirmation went before it (PDUs are handled in order).
        _ = try await setup.read(handle: try #require(bpm.cccd))
        #expect(await server.awaitsConfirmation)
        #expect(await server.isSubscribed(bpm.value, for: .indications))
        try await indication.acknowledgeDurable()
        #expect(await confirmed.value == true)
        setup.close()
    }

    @Test(.timeLimit(.minutes(1))) func unacknowledgedIndicationIsNeverConfirmedAndTheLinkCloses() async throws {
        let clock = ManualClock()
        let options = GATTClientOptions(indicationAcknowledgementTimeout: .milliseconds(200), timeoutClock: clock)
        let peripheral = try await TestPeripheral.make(options: options)
        let database = try await peripheral.client.discoverAll()
        let bpm = try #require(database.characteristic(.bloodPressureMeasurement))
        try await peripheral.client.configure(bpm, .indications)
        let confirmed = Task { await peripheral.server.indicate(bpm.valueHandle, [0x00]) }
        var events = peripheral.client.events.makeAsyncIterator()
        guard case .indication(let indication) = await events.next() else {
            Issue.record("expected an indication")
            return
        }
        // Nothing acknowledges it; once only the acknowledgement timer waits, its 0.2 s pass.
        await clock.sleeping(atLeast: 1)
        clock.advance(by: .milliseconds(200))
        #expect(await confirmed.value == false)  // the device keeps its reading
        await #expect(throws: GATTError.indicationNotAcknowledged(handle: bpm.valueHandle, seconds: 0.2)) {
            try await indication.acknowledgeDurable()
        }
        #expect(await events.next() == nil)
    }

    @Test(.timeLimit(.minutes(1))) func aSlowDeviceTimesOutTheTransactionAndPoisonsTheBearer() async throws {
        let clock = ManualClock()
        let options = GATTClientOptions(transactionTimeout: .milliseconds(200), timeoutClock: clock)
        let peripheral = try await TestPeripheral.make(options: options)
        await peripheral.handler.holdReads()  // a device that never answers
        let read = Task { try await peripheral.client.read(handle: peripheral.longName.value) }
        await clock.sleeping(atLeast: 1)
        clock.advance(by: .milliseconds(200))
        await #expect(throws: GATTError.transactionTimeout(request: 0x0A, seconds: 0.2)) { try await read.value }
        // No further PDUs on a timed-out bearer (Vol 3 F 3.3.3).
        await #expect(throws: GATTError.transactionTimeout(request: 0x0A, seconds: 0.2)) {
            try await peripheral.client.read(handle: peripheral.custom.value)
        }
        await peripheral.handler.releaseReads()
    }

    /// A caller that gives up on a transaction (its session cancelled) does not wait out the 30 s: the link closes at
    /// once, since the device's late response would otherwise be taken for the next request's.
    @Test(.timeLimit(.minutes(1))) func aCancelledTransactionClosesTheLinkAtOnce() async throws {
        let clock = ManualClock()
        let peripheral = try await TestPeripheral.make(options: GATTClientOptions(timeoutClock: clock))
        await peripheral.handler.holdReads()
        let read = Task { try await peripheral.client.read(handle: peripheral.longName.value) }
        await clock.sleeping(atLeast: 1)
        read.cancel()
        await #expect(throws: GATTError.linkClosed(nil)) { try await read.value }
        #expect(clock.now.offset == .zero)  // no time had to pass
        await #expect(throws: GATTError.linkClosed(nil)) {
            try await peripheral.client.read(handle: peripheral.custom.value)
        }
        await peripheral.handler.releaseReads()
    }

    @Test func serverAnswersUnknownAndMalformedRequestsAndIgnoresUnknownCommands() async throws {
        let (serverEnd, rawPeer) = try SeqPacketBearer.pair()
        var db = AttributeDatabase()
        db.addPrimaryService(.batteryService)
        db.addCharacteristic(.batteryLevel, properties: [.read], value: .fixed([87]))
        db.finish()
        let server = ATTServer(bearer: serverEnd, database: db, handler: RecordingHandler())
        Task { await server.run() }
        var replies = rawPeer.incoming.makeAsyncIterator()
        // Unknown opcode 0x3F (no command bit) → Error Response "request not supported".
        try await rawPeer.send([0x3F, 0x01])
        #expect(await replies.next() == [0x01, 0x3F, 0x00, 0x00, 0x06])
        // Prepare Write is a request we do not implement → "request not supported" too.
        try await rawPeer.send([0x16, 0x03, 0x00, 0x00, 0x00, 0xAA])
        #expect(await replies.next() == [0x01, 0x16, 0x00, 0x00, 0x06])
        // Unknown command 0x7F is ignored; a truncated Read Request is "invalid PDU".
        try await rawPeer.send([0x7F, 0x01, 0x02])
        try await rawPeer.send([0x0A, 0x03])
        #expect(await replies.next() == [0x01, 0x0A, 0x00, 0x00, 0x04])
        // An invalid handle range is refused with the starting handle.
        try await rawPeer.send([0x10, 0x05, 0x00, 0x01, 0x00, 0x00, 0x28])
        #expect(await replies.next() == [0x01, 0x10, 0x05, 0x00, 0x01])
        try await rawPeer.send([0x0A, 0x03, 0x00])
        #expect(await replies.next() == [0x0B, 87])
        #expect(await server.malformedRequests == 1)
        rawPeer.close()
    }

    /// A client that never confirms an indication: once the transaction timeout has passed on the server's clock (a
    /// manual one here, so the test waits for none of its 30 s), the indication was not delivered — the device keeps its
    /// reading — and the server closes the link, as it may send nothing more on it (Vol 3 F 3.3.3).
    @Test(.timeLimit(.minutes(1))) func serverClosesTheLinkWhenAnIndicationIsNeverConfirmed() async throws {
        let (serverEnd, rawPeer) = try SeqPacketBearer.pair()
        var db = AttributeDatabase()
        db.addPrimaryService(.bloodPressureService)
        let measurement = db.addCharacteristic(.bloodPressureMeasurement, properties: [.indicate])
        db.finish()
        let clock = ManualClock()
        let server = ATTServer(bearer: serverEnd, database: db, handler: RecordingHandler(), timeoutClock: clock)
        Task { await server.run() }
        var replies = rawPeer.incoming.makeAsyncIterator()
        let cccd = try #require(measurement.cccd)
        try await rawPeer.send([0x12, UInt8(cccd & 0xFF), UInt8(cccd >> 8), 0x02, 0x00])  // indications on
        #expect(await replies.next() == [0x13])
        async let delivered = server.indicate(measurement.value, [0x00, 0x01])
        #expect(
            await replies.next() == [0x1D, UInt8(measurement.value & 0xFF), UInt8(measurement.value >> 8), 0x00, 0x01])
        await clock.sleeping(atLeast: 1)
        clock.advance(by: .seconds(29))
        #expect(clock.sleepers == 1, "it gave up before the timeout")
        clock.advance(by: .seconds(1))
        #expect(await delivered == false)
        #expect(await replies.next() == nil, "the link is closed")
    }

    @Test func clientAnswersRequestsFromThePeerAsNotSupported() async throws {
        let (clientEnd, rawPeer) = try SeqPacketBearer.pair()
        let client = GATTClient(bearer: clientEnd)
        client.startReceiving()
        var replies = rawPeer.incoming.makeAsyncIterator()
        try await rawPeer.send([0x0A, 0x01, 0x00])  // the device tries to read from the gateway
        #expect(await replies.next() == [0x01, 0x0A, 0x00, 0x00, 0x06])
        try await rawPeer.send([0x13])  // a Write Response nobody asked for is ignored
        try await rawPeer.send([0x0A])  // malformed request → invalid PDU
        #expect(await replies.next() == [0x01, 0x0A, 0x00, 0x00, 0x04])
        #expect(await client.unexpectedPDUs == 1)
        // A malformed response to our request is a typed error, not a crash.
        let reading = Task { try await client.exchangeMTU() }
        #expect(await replies.next() == [0x02, 0x05, 0x02])
        try await rawPeer.send([0x03, 0x40])
        await #expect(throws: GATTError.self) { try await reading.value }
        client.close()
    }

    @Test func peerDisconnectEndsEventsAndFailsRequests() async throws {
        let peripheral = try await TestPeripheral.make()
        await peripheral.server.disconnect()
        var events = peripheral.client.events.makeAsyncIterator()
        #expect(await events.next() == nil)
        await #expect(throws: GATTError.self) { try await peripheral.client.read(handle: 1) }
    }
}
