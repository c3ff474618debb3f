import Foundation
import Synchronization
import TestSupport
import Testing

@testable import BLEGateway

/// A fixed "now" so device clocks, time stamps and clock observations are the same every run.
let simulationNow = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18T11:06:40Z
let tokyo = TimeZone(identifier: "Asia/Tokyo")!

/// Connects a GATT client to `device` over a real socketpair, the device serving one connection.
func connect(_ device: some SimulatedPeripheral, options: GATTClientOptions = GATTClientOptions()) async throws
    -> GATTClient
{
    let (deviceEnd, gatewayEnd) = try SeqPacketBearer.pair()
    Task { await device.serve(deviceEnd) }
    let client = GATTClient(bearer: gatewayEnd, options: options)
    client.startReceiving()
    return client
}

func sessionOptions(procedureTimeout: Duration = .seconds(30), setClockWhenOffBy: Duration? = .seconds(60))
    -> ProfileSessionOptions
{
    ProfileSessionOptions(
        setDeviceClockWhenOffBy: setClockWhenOffBy, deviceTimeZone: tokyo, procedureTimeout: procedureTimeout,
        clock: GatewayClock { simulationNow }, link: "socketpair")
}

/// What a session produced, with every measurement acknowledged as durable on arrival (unless told not to).
struct SessionLog {
    var events: [ProfileEvent] = []
    var error: (any Error)?

    var measurements: [ReceivedMeasurement] {
        events.compactMap { if case .measurement(let m) = $0 { m } else { nil } }
    }
    var malformed: [MalformedPayload] {
        events.compactMap { if case .malformed(let m) = $0 { m } else { nil } }
    }
    var clocks: [ClockObservation] {
        events.compactMap { if case .clock(let c) = $0 { c } else { nil } }
    }
    var identity: DeviceIdentity? {
        events.lazy.compactMap { if case .identity(let i) = $0 { i } else { nil } }.first
    }
    var transfer: StoredRecordTransfer? {
        events.lazy.compactMap { if case .transferComplete(let t) = $0 { t } else { nil } }.first
    }
    var bloodPressures: [BloodPressureMeasurement] {
        measurements.compactMap { $0.measurement.as(BloodPressureMeasurement.self) }
    }
    var glucose: [(GlucoseMeasurement, GlucoseMeasurementContext?)] {
        measurements.compactMap { $0.measurement.as(GlucoseRecord.self).map { ($0.measurement, $0.context) } }
    }
    var heartRates: [HeartRateMeasurement] {
        measurements.compactMap { $0.measurement.as(HeartRateMeasurement.self) }
    }

    static func collect(_ stream: ProfileEvents, acknowledge: Bool = true) async -> SessionLog {
        var log = SessionLog()
        do {
            for try await event in stream {
                log.events.append(event)
                if acknowledge {
                    if case .measurement(let m) = event { try await m.acknowledgeDurable() }
                    if case .malformed(let m) = event { try await m.acknowledgement.acknowledgeDurable() }
                }
            }
        } catch {
            log.error = error
        }
        return log
    }
}

@Suite struct BloodPressureSessionTests {
    static func cuff(_ change: (inout SimulatedBloodPressureMonitor.Configuration) -> Void = { _ in })
        -> SimulatedBloodPressureMonitor
    {
        var configuration = SimulatedBloodPressureMonitor.Configuration()
        configuration.clock = SimulatedClock(offset: 0, reference: simulationNow, timeZone: tokyo)
        change(&configuration)
        return SimulatedBloodPressureMonitor(configuration: configuration, now: { simulationNow })
    }

    @Test func twoUsersDoubtfulAndNaNReadingsArriveExactAndAreConfirmedOnlyWhenDurable() async throws {
        let cuff = Self.cuff { $0.sendsIntermediateCuffPressure = true }
        await cuff.measure(
            systolic: .number(mantissa: 1205, exponent: -1), diastolic: .number(mantissa: 80, exponent: 0),
            meanArterialPressure: .number(mantissa: 935, exponent: -1), pulseRate: .number(mantissa: 64, exponent: 0),
            user: .user(1))
        await cuff.measure(
            systolic: .number(mantissa: 142, exponent: 0), diastolic: .number(mantissa: 91, exponent: 0),
            meanArterialPressure: .number(mantissa: 108, exponent: 0), pulseRate: .number(mantissa: 88, exponent: 0),
            user: .user(2),
            status: BloodPressureMeasurementStatus(
                bodyMovementDetected: true, cuffTooLoose: true, irregularPulseDetected: true))
        await cuff.measure(
            systolic: .nan, diastolic: .nan, meanArterialPressure: .nan, pulseRate: nil, user: .unknown,
            status: BloodPressureMeasurementStatus(cuffTooLoose: true))
        await cuff.measure(
            systolic: .nan, diastolic: .nan, meanArterialPressure: .nan, pulseRate: .nres, user: .user(1))
        let client = try await connect(cuff)
        let log = await SessionLog.collect(BloodPressureSession(client: client, options: sessionOptions()).run())
        #expect(log.error == nil)
        let readings = log.bloodPressures
        try #require(readings.count == 4)
        #expect(readings[0].record.systolic.description == "120.5")
        #expect(readings[0].record.userID == .user(1))
        #expect(readings[0].record.timeStamp?.description == "2026-11-18T20:06:40")  // the cuff shows Tokyo wall time
        #expect(readings[1].record.measurementStatus?.bodyMovementDetected == true)
        #expect(readings[1].record.measurementStatus?.irregularPulseDetected == true)
        #expect(readings[2].record.systolic == .nan && readings[2].record.userID == .unknown)
        #expect(readings[2].record.measurementStatus?.cuffTooLoose == true)
        #expect(readings[3].record.measurementStatus == nil && readings[3].record.pulseRate == .nres)
        let indicated = log.measurements.filter { $0.measurement.as(BloodPressureMeasurement.self) != nil }
        #expect(indicated.allSatisfy { $0.delivery == .indication && $0.receivedAt == simulationNow })
        #expect(indicated[0].rawPayloads == [readings[0].encoded()])
        // Intermediate cuff pressure notifications came first, for each new reading.
        let cuffPressures = log.measurements.filter { $0.measurement.as(IntermediateCuffPressure.self) != nil }
        #expect(cuffPressures.count == 12)
        #expect(cuffPressures.allSatisfy { $0.delivery == .notification })
        let identity = try #require(log.identity)
        #expect(identity.manufacturerName == "Gatewayd Simulated Devices")
        #expect(identity.serialNumber == "BP2-000417")
        #expect(identity.systemID?.eui64Text == "00-1B-C5-00-00-00-04-17")
        #expect(identity.regulatoryCertification?.continuaRegulation?.unregulatedDevice == false)
        #expect(identity.problems.isEmpty)
        #expect(log.clocks.count == 1)  // in time: read, not set
        #expect(await cuff.stored.isEmpty)  // every confirmed reading left the cuff
        #expect(await cuff.confirmedCount == 4)
    }

    @Test func anUnacknowledgedReadingStaysOnTheCuffAndComesBackNextConnection() async throws {
        let cuff = Self.cuff()
        await cuff.measure(
            systolic: .number(mantissa: 118, exponent: 0), diastolic: .number(mantissa: 76, exponent: 0),
            meanArterialPressure: .number(mantissa: 90, exponent: 0), pulseRate: nil, user: .user(1))
        let impatient = GATTClientOptions(indicationAcknowledgementTimeout: .milliseconds(150))
        let first = await SessionLog.collect(
            BloodPressureSession(client: try await connect(cuff, options: impatient), options: sessionOptions()).run(),
            acknowledge: false)
        #expect(first.bloodPressures.count == 1)
        #expect(
            (first.error as? ProfileError) == .gatt(.indicationNotAcknowledged(handle: 3, seconds: 0.15))
                || (first.error as? ProfileError).map {
                    if case .gatt(.indicationNotAcknowledged) = $0 { true } else { false }
                } == true)
        #expect(await cuff.stored.count == 1)
        #expect(await cuff.confirmedCount == 0)
        let second = await SessionLog.collect(
            BloodPressureSession(client: try await connect(cuff), options: sessionOptions()).run())
        #expect(second.bloodPressures == first.bloodPressures)
        #expect(await cuff.stored.isEmpty)
    }

    @Test func aCuffThatResendsItsMemorySendsTheSameBytesEveryConnection() async throws {
        let cuff = Self.cuff { $0.resendsStoredReadings = true }
        for systolic in [121, 125] as [Int32] {
            await cuff.measure(
                systolic: .number(mantissa: systolic, exponent: 0), diastolic: .number(mantissa: 79, exponent: 0),
                meanArterialPressure: .number(mantissa: 93, exponent: 0), pulseRate: nil, user: .user(1))
        }
        let first = await SessionLog.collect(
            BloodPressureSession(client: try await connect(cuff), options: sessionOptions()).run())
        let second = await SessionLog.collect(
            BloodPressureSession(client: try await connect(cuff), options: sessionOptions()).run())
        #expect(first.bloodPressures.count == 2)
        #expect(second.measurements.map(\.rawPayloads) == first.measurements.map(\.rawPayloads))
        #expect(await cuff.stored.count == 2)
    }

    @Test func aClockResetByABatteryChangeIsObservedAndSet() async throws {
        let cuff = Self.cuff()
        await cuff.changeBattery()
        await cuff.measure(
            systolic: .number(mantissa: 131, exponent: 0), diastolic: .number(mantissa: 84, exponent: 0),
            meanArterialPressure: .number(mantissa: 99, exponent: 0), pulseRate: nil, user: .user(1))
        let log = await SessionLog.collect(
            BloodPressureSession(client: try await connect(cuff), options: sessionOptions()).run())
        #expect(log.bloodPressures.first?.record.timeStamp?.year == 2000)  // evidence kept as sent
        #expect(log.clocks.count == 2)
        #expect(log.clocks[0].kind == .read && log.clocks[0].deviceTime.dateTime.year == 2000)
        #expect(log.clocks[1].kind == .afterSet)
        #expect(log.clocks[1].deviceTime.dateTime.description == "2026-11-18T20:06:40")
        #expect(await cuff.configuration.clock.batteryChangedAt == nil)
    }

    @Test func aDriftingClockWithinTheThresholdIsOnlyRead() async throws {
        let cuff = Self.cuff {
            $0.clock = SimulatedClock(
                offset: 25, driftPPM: 40, reference: simulationNow.addingTimeInterval(-86_400), timeZone: tokyo)
        }
        let log = await SessionLog.collect(
            BloodPressureSession(client: try await connect(cuff), options: sessionOptions()).run())
        #expect(log.clocks.count == 1)
        let offset = try #require(SessionPrelude.deviceOffsetSeconds(log.clocks[0], zone: tokyo))
        #expect(abs(offset - 28) <= 1)  // 25 s + 40 ppm of a day (3.5 s)
    }

    @Test func aMalformedReadingIsReportedWithItsBytesAndStillConfirmed() async throws {
        let cuff = Self.cuff { $0.faults.malformedEvery = 2 }
        for systolic in [110, 111, 112] as [Int32] {
            await cuff.measure(
                systolic: .number(mantissa: systolic, exponent: 0), diastolic: .number(mantissa: 70, exponent: 0),
                meanArterialPressure: .number(mantissa: 83, exponent: 0), pulseRate: .number(mantissa: 60, exponent: 0),
                user: .user(3))
        }
        let log = await SessionLog.collect(
            BloodPressureSession(client: try await connect(cuff), options: sessionOptions()).run())
        #expect(log.bloodPressures.map(\.record.systolic.description) == ["110", "112"])
        let bad = try #require(log.malformed.first)
        #expect(bad.characteristic == .bloodPressureMeasurement)
        #expect(bad.error.field == "user_id")  // truncated: the last field is missing
        if case .truncated = bad.error.problem {} else { Issue.record("expected truncation, got \(bad.error)") }
        #expect(await cuff.stored.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func aCuffThatStaysConnectedIndicatesReadingsTakenWhileConnectedAndTimesEachConfirmation() async throws {
        final class Latencies: @unchecked Sendable {
            let lock = NSLock()
            var values: [Duration] = []
            func append(_ value: Duration) { lock.withLock { values.append(value) } }
            var all: [Duration] { lock.withLock { values } }
        }
        let latencies = Latencies()
        let cuff = Self.cuff {
            $0.disconnectsWhenDone = false
            $0.indicatesNewReadingsWhileConnected = true
            $0.indicationLatencyRecorder = { latencies.append($0) }
        }
        func take(_ systolic: Int32) async {
            await cuff.measure(
                systolic: .number(mantissa: systolic, exponent: 0), diastolic: .number(mantissa: 78, exponent: 0),
                meanArterialPressure: .number(mantissa: 92, exponent: 0), pulseRate: nil, user: .user(1))
        }
        await take(118)  // held when the collector subscribes
        let client = try await connect(cuff)
        var systolics: [String] = []
        for try await event in BloodPressureSession(client: client, options: sessionOptions()).run() {
            guard case .measurement(let m) = event, let reading = m.measurement.as(BloodPressureMeasurement.self) else {
                continue
            }
            try await m.acknowledgeDurable()
            systolics.append(reading.record.systolic.description)
            if systolics.count == 1 { await take(131) }  // taken while connected: indicated without a reconnect
            if systolics.count == 2 {
                // The confirmation is on its way to the cuff; wait for it before closing the link.
                while await cuff.confirmedCount < 2 { await Task.yield() }
                client.close()
            }
        }
        #expect(systolics == ["118", "131"])
        #expect(await cuff.confirmedCount == 2)
        #expect(latencies.all.count == 2 && latencies.all.allSatisfy { $0 > .zero })
    }

    @Test func aSlowCuffHitsTheATTTransactionTimeout() async throws {
        let cuff = Self.cuff { $0.faults.responseDelay = .seconds(2) }
        let options = GATTClientOptions(transactionTimeout: .milliseconds(200))
        let log = await SessionLog.collect(
            BloodPressureSession(client: try await connect(cuff, options: options), options: sessionOptions()).run())
        // The slow read times out; on a loaded machine any request before it (the MTU exchange, a discovery request, a
        // descriptor write) may be first to miss the 0.2 s: each is the timeout this test is about.
        guard case .gatt(.transactionTimeout(let request, let seconds))? = log.error as? ProfileError else {
            Issue.record("expected an ATT transaction timeout, got \(String(describing: log.error))")
            return
        }
        #expect(ATTOpcode(rawValue: request)?.isRequest == true, "0x\(String(request, radix: 16)) is not a request")
        #expect(seconds == 0.2)
    }
}

@Suite struct GlucoseSessionTests {
    static func meter(_ change: (inout SimulatedGlucoseMeter.Configuration) -> Void = { _ in }) -> SimulatedGlucoseMeter
    {
        var configuration = SimulatedGlucoseMeter.Configuration()
        configuration.clock = SimulatedClock(reference: simulationNow, timeZone: tokyo)
        configuration.recordInterval = .zero
        change(&configuration)
        return SimulatedGlucoseMeter(configuration: configuration, now: { simulationNow })
    }

    static func fill(_ meter: SimulatedGlucoseMeter, count: Int) async {
        for index in 0..<count {
            let context =
                index % 2 == 0
                ? GlucoseMeasurementContext(
                    sequenceNumber: 0, meal: index % 4 == 0 ? .preprandial : .postprandial,
                    testerHealth: GlucoseTesterHealth(tester: .`self`, health: .noHealthIssues))
                : nil
            await meter.measure(milligramsPerDeciliter: Int32(90 + index), context: context)
        }
    }

    @Test(arguments: [false, true]) func downloadsRecordsWithTheirContextsInEitherOrder(contextFirst: Bool) async throws
    {
        let meter = Self.meter { $0.contextBeforeMeasurement = contextFirst }
        await Self.fill(meter, count: 6)
        await meter.measure(milligramsPerDeciliter: 0, status: [.sampleSizeInsufficient], nan: true)
        let cursor = StoredRecordCursor(next: nil)
        let log = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(log.error == nil)
        #expect(log.transfer == StoredRecordTransfer(announced: 7, delivered: 7, responseCode: .success))
        let records = log.glucose
        try #require(records.map(\.0.sequenceNumber) == [1, 2, 3, 4, 5, 6, 7])
        // 90 mg/dL = 90 × 10⁻⁵ kg/L, exactly as sent
        #expect(records[0].0.concentration?.value.description == "0.00090")
        #expect(records[0].1?.meal == .preprandial && records[0].1?.sequenceNumber == 1)
        #expect(records[1].1 == nil)
        #expect(records[2].1?.meal == .postprandial)
        #expect(records[6].0.concentration?.value == .nan)
        #expect(records[6].0.sensorStatus == [.sampleSizeInsufficient])
        #expect(log.measurements.allSatisfy { !$0.contextMissing })
        #expect(log.measurements[0].rawPayloads.count == 2)
        #expect(await cursor.next == 8)
    }

    @Test func theCursorMovesOnlyWithAcknowledgementsAndTheNextConnectionAsksFromIt() async throws {
        let meter = Self.meter()
        await Self.fill(meter, count: 4)
        let cursor = StoredRecordCursor(next: nil)
        var events = GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run()
            .makeAsyncIterator()
        var received: [ReceivedMeasurement] = []
        while let event = try await events.next() {
            if case .measurement(let m) = event { received.append(m) }
        }
        try #require(received.count == 4)
        #expect(await cursor.next == nil)  // nothing acknowledged yet
        try await received[1].acknowledgeDurable()
        #expect(await cursor.next == 1)  // record 1 is not durable, so the cursor cannot pass it
        try await received[0].acknowledgeDurable()
        #expect(await cursor.next == 3)
        try await received[3].acknowledgeDurable()
        try await received[2].acknowledgeDurable()
        #expect(await cursor.next == 5)

        await meter.measure(milligramsPerDeciliter: 101)
        let second = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(second.glucose.map(\.0.sequenceNumber) == [5])
        #expect(await meter.acceptedRequests.last == .reportStoredRecords(.greaterThanOrEqualTo(.sequenceNumber(5))))
        let third = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(third.transfer == StoredRecordTransfer(announced: 0, delivered: 0, responseCode: .noRecordsFound))
    }

    /// Every move of the cursor, as the daemon is told them (nil: restarted).
    final class CursorMoves: Sendable {
        let moves = Mutex<[UInt16?]>([])
        func append(_ next: UInt16?) { moves.withLock { $0.append(next) } }
        var all: [UInt16?] { moves.withLock { $0 } }
    }

    /// A meter whose memory was cleared (or another meter behind the same address) numbers its records from 1 again:
    /// it no longer holds the last durable record, so everything it holds is downloaded — not "no records" for ever.
    /// The cursor is handed over at each durable record, not only when the connection ends.
    @Test func aMeterWhoseNumbersWentBackIsDownloadedFromItsFirstRecord() async throws {
        let meter = Self.meter()
        await Self.fill(meter, count: 5)
        let moves = CursorMoves()
        let cursor = StoredRecordCursor(next: nil, onMove: { moves.append($0) })
        let first = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(first.glucose.count == 5 && first.transfer?.restartedFromFirstRecord == false)
        #expect(moves.all == [2, 3, 4, 5, 6])

        await meter.clearMemory()
        for value in [120, 121, 122] as [Int32] { await meter.measure(milligramsPerDeciliter: value) }
        let second = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(second.error == nil)
        #expect(second.glucose.map(\.0.sequenceNumber) == [1, 2, 3])
        #expect(
            second.transfer
                == StoredRecordTransfer(
                    announced: 3, delivered: 3, responseCode: .success, restartedFromFirstRecord: true))
        #expect(
            await meter.acceptedRequests.contains(
                .reportNumberOfStoredRecords(.greaterThanOrEqualTo(.sequenceNumber(5)))))
        #expect(await cursor.next == 4)
        #expect(Array(moves.all.suffix(4)) == [nil, 2, 3, 4])

        // Nothing new: the last durable record (3) is still there, so nothing is asked for again.
        let third = await SessionLog.collect(
            GlucoseSession(
                client: try await connect(meter), cursor: StoredRecordCursor(next: 4), options: sessionOptions()
            ).run())
        #expect(third.transfer == StoredRecordTransfer(announced: 0, delivered: 0, responseCode: .noRecordsFound))
    }

    /// Sequence numbers are 16 bits: after 65535 comes 0. The cursor follows them past the wrap (serial-number order),
    /// so the records numbered from 0 again are downloaded, not taken for old ones.
    @Test func sequenceNumbersAreFollowedPastTheirWrap() async throws {
        let meter = Self.meter()
        await meter.clearMemory(startingAt: 65_534)
        for value in [100, 101] as [Int32] { await meter.measure(milligramsPerDeciliter: value) }
        let cursor = StoredRecordCursor(next: nil)
        let first = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(first.glucose.map(\.0.sequenceNumber) == [65_534, 65_535])
        #expect(await cursor.next == 0)

        for value in [102, 103] as [Int32] { await meter.measure(milligramsPerDeciliter: value) }  // numbered 0 and 1
        let second = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(second.error == nil)
        #expect(Set(second.glucose.map(\.0.sequenceNumber)).isSuperset(of: [0, 1]))
        #expect(await cursor.next == 2)

        await meter.measure(milligramsPerDeciliter: 104)  // numbered 2
        let third = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(third.glucose.map(\.0.sequenceNumber).contains(2))
        #expect(await cursor.next == 3)
        #expect(StoredRecordCursor.isAfter(0, 65_535) && !StoredRecordCursor.isAfter(65_535, 3))
    }

    @Test func aLinkDroppedMidTransferResumesFromTheDurableCursor() async throws {
        let meter = Self.meter { $0.disconnectAfterRecords = 3 }
        await Self.fill(meter, count: 8)
        let cursor = StoredRecordCursor(next: nil)
        let first = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(first.glucose.count == 3)
        guard case .gatt(.linkClosed)? = first.error as? ProfileError else {
            Issue.record("expected the link to close, got \(String(describing: first.error))")
            return
        }
        #expect(await cursor.next == 4)
        let second = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(second.error == nil)
        #expect(second.glucose.map(\.0.sequenceNumber) == [4, 5, 6, 7, 8])
        #expect(await cursor.next == 9)
    }

    @Test func aMeterThatIgnoresTheFilterResendsEverythingButTheCursorNeverGoesBack() async throws {
        let meter = Self.meter { $0.ignoresRecordFilter = true }
        await Self.fill(meter, count: 3)
        let cursor = StoredRecordCursor(next: nil)
        _ = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        await meter.measure(milligramsPerDeciliter: 99)
        let second = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(second.glucose.map(\.0.sequenceNumber) == [1, 2, 3, 4])  // dedupe is the StreamEngine's job
        #expect(await cursor.next == 5)
    }

    @Test func aMeterThatDeletesAfterTransferIsEmptyAfterward() async throws {
        let meter = Self.meter { $0.deletesAfterTransfer = true }
        await Self.fill(meter, count: 3)
        let log = await SessionLog.collect(
            GlucoseSession(
                client: try await connect(meter), cursor: StoredRecordCursor(next: nil), options: sessionOptions()
            ).run())
        #expect(log.glucose.count == 3)
        #expect(await meter.records.isEmpty)
    }

    @Test func aContextThatNeverArrivesIsMarkedMissing() async throws {
        let meter = Self.meter { $0.dropsContextEvery = 1 }
        await meter.measure(
            milligramsPerDeciliter: 120, context: GlucoseMeasurementContext(sequenceNumber: 0, meal: .fasting))
        let log = await SessionLog.collect(
            GlucoseSession(
                client: try await connect(meter), cursor: StoredRecordCursor(next: nil), options: sessionOptions()
            ).run())
        #expect(log.glucose.count == 1)
        #expect(log.glucose.first?.1 == nil)
        #expect(log.measurements.first?.contextMissing == true)
    }

    @Test func aStalledTransferIsAbortedAfterTheProcedureTimeout() async throws {
        let meter = Self.meter { $0.controlPointDelay = .seconds(1) }
        await Self.fill(meter, count: 2)
        let log = await SessionLog.collect(
            GlucoseSession(
                client: try await connect(meter), cursor: StoredRecordCursor(next: nil),
                options: sessionOptions(procedureTimeout: .milliseconds(200))
            ).run())
        #expect((log.error as? ProfileError) == .procedureTimeout(seconds: 0.2))
        #expect(await meter.acceptedRequests.contains(.abortOperation))
    }

    @Test func malformedRecordsAreReportedAndTheRestStillArrive() async throws {
        let meter = Self.meter { $0.faults.malformedEvery = 2 }
        for value in [100, 101, 102] as [Int32] { await meter.measure(milligramsPerDeciliter: value) }
        let cursor = StoredRecordCursor(next: nil)
        let log = await SessionLog.collect(
            GlucoseSession(client: try await connect(meter), cursor: cursor, options: sessionOptions()).run())
        #expect(log.glucose.map(\.0.sequenceNumber) == [1, 3])
        #expect(log.malformed.count == 1)
        #expect(log.malformed.first?.characteristic == .glucoseMeasurement)
        #expect(await cursor.next == 4)
    }

    @Test func aClockResetMeterKeepsItsYear2000TimesAndAnUnwritableClockIsOnlyRead() async throws {
        let meter = Self.meter()
        await meter.changeBattery()
        await meter.measure(milligramsPerDeciliter: 111)
        let log = await SessionLog.collect(
            GlucoseSession(
                client: try await connect(meter), cursor: StoredRecordCursor(next: nil), options: sessionOptions()
            ).run())
        #expect(log.glucose.first?.0.baseTime.year == 2000)
        #expect(log.clocks.map(\.kind) == [.read])
        #expect(log.clocks.first?.deviceTime.dateTime.description == "2000-01-01T00:00:00")
    }

    @Test func theMeterAnswersMalformedControlPointRequestsWithResponseCodes() async throws {
        let meter = Self.meter()
        await Self.fill(meter, count: 1)
        let client = try await connect(meter)
        try await client.exchangeMTU()
        let database = try await client.discoverAll()
        let racp = try #require(database.characteristic(.recordAccessControlPoint))
        // Without indications enabled the meter refuses at the ATT level (CCCD improperly configured).
        await #expect(
            throws: GATTError.errorResponse(request: 0x12, handle: racp.valueHandle, code: .cccdImproperlyConfigured)
        ) {
            try await client.write(handle: racp.valueHandle, value: [0x01, 0x01])
        }
        try await client.configure(racp, .indications)
        var events = client.events.makeAsyncIterator()
        for (request, expected) in [
            ([0x01, 0x00], RACPResponseCode.invalidOperator), ([0x09, 0x01], .opCodeNotSupported),
            ([0x01, 0x03, 0x07, 0x00], .operandNotSupported), ([0x04, 0x03, 0x01, 0x05], .invalidOperand),
        ] as [([UInt8], RACPResponseCode)] {
            try await client.write(handle: racp.valueHandle, value: request)
            guard case .indication(let indication) = await events.next() else {
                Issue.record("expected an indication")
                return
            }
            try await indication.acknowledgeDurable()
            #expect(
                try RACPResponse(decoding: indication.value)
                    == .responseCode(requestOpCode: request[0], value: expected))
        }
        #expect(await meter.rejectedRequests.count == 4)
        client.close()
    }
}

@Suite struct HeartRateSessionTests {
    @Test func notificationsCarryRRIntervalsEnergyAndContact() async throws {
        var configuration = SimulatedHeartRateStrap.Configuration()
        configuration.interval = .milliseconds(5)
        configuration.count = 6
        configuration.restingRate = 95
        configuration.contactLostAt = [2]
        configuration.location = .wrist
        let strap = SimulatedHeartRateStrap(configuration: configuration)
        let log = await SessionLog.collect(
            HeartRateSession(client: try await connect(strap), options: sessionOptions()).run())
        #expect(log.error == nil)
        let beats = log.heartRates
        try #require(beats.count == 6)
        #expect(beats.allSatisfy { ($0.rrIntervals?.count ?? 0) >= 1 && $0.energyExpended != nil })
        #expect(beats[2].sensorContact == .notDetected && beats[0].sensorContact == .detected)
        #expect(
            log.events.contains {
                if case .characteristicRead(let value) = $0 { value as? BodySensorLocation == .wrist } else { false }
            })
        #expect(log.measurements.allSatisfy { $0.delivery == .notification })
        #expect(log.identity?.model == nil || log.identity?.modelNumber == "HR-5")
    }

    @Test func energyExpendedResetGoesThroughTheControlPoint() async throws {
        var configuration = SimulatedHeartRateStrap.Configuration()
        configuration.interval = .milliseconds(5)
        configuration.count = 3
        configuration.uses16BitValues = true
        let strap = SimulatedHeartRateStrap(configuration: configuration)
        let client = try await connect(strap)
        try await client.exchangeMTU()
        let database = try await client.discoverAll()
        try await HeartRateSession.resetEnergyExpended(client: client, database: database)
        #expect(await strap.energyResets == 1)
        let controlPoint = try #require(database.characteristic(.heartRateControlPoint))
        await #expect(
            throws: GATTError.errorResponse(request: 0x12, handle: controlPoint.valueHandle, code: .application(0x80))
        ) {
            try await client.write(handle: controlPoint.valueHandle, value: [0x02])
        }
        let log = await SessionLog.collect(HeartRateSession(client: client, options: sessionOptions()).run())
        #expect(log.heartRates.count == 3)
        if case .uint16? = log.heartRates.first?.heartRate {} else { Issue.record("expected 16-bit values") }
    }
}

extension DeviceIdentity {
    var model: String? { modelNumber }
}
