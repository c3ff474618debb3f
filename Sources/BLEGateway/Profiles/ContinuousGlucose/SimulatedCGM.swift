import Foundation

/// A continuous glucose monitor speaking the CGM Service over real ATT: a session that started on its clock, a record
/// every few minutes on that session's timeline, the RACP by Time Offset (count, report, delete, abort), the Specific
/// Ops Control Point (start and stop a session, the communication interval), and the E2E-CRC on every record when
/// configured. Records go out two to a notification where they fit. Once the collector has downloaded (or the sensor
/// had nothing), it drops the link.
public actor SimulatedCGM: SimulatedHealthDevice {
    public struct Configuration: Sendable {
        public var identity = SimulatedIdentity(
            manufacturer: "Gatewayd Simulated Devices", model: "CG-1", serial: "CG1-000f01",
            systemID: SystemID(manufacturerIdentifier: 0x00_0000_0F01, organizationallyUniqueIdentifier: 0x00_1B_C5))
        public var clock = SimulatedClock()
        /// The session started this long before the sensor was made.
        public var sessionAge: TimeInterval = 3 * 86_400
        /// How long a session is made to run (CGM Session Run Time): a 14-day sensor.
        public var sessionRunHours: UInt16 = 14 * 24
        public var e2eCRC = true
        public var faults = SimulatedFaults()
        public var batteryPercent: UInt8 = 81
        public init() {}
    }

    public nonisolated var profile: HealthProfile { .continuousGlucose }
    public private(set) var configuration: Configuration
    public private(set) var records: [CGMRecord] = []
    /// Every RACP request the sensor accepted, in order.
    public private(set) var acceptedRequests: [RACPRequest] = []
    public private(set) var communicationIntervalMinutes: UInt8 = 5
    public private(set) var sessionRunning = true
    private var sessionStart: Date
    private let database: AttributeDatabase
    private let measurementHandle: UInt16
    private let startTimeHandle: UInt16
    private let statusHandle: UInt16
    private let runTimeHandle: UInt16
    private let controlPointHandle: UInt16
    private let opsHandle: UInt16
    private let now: @Sendable () -> Date
    private var activeServer: ATTServer?
    private var procedureRunning = false
    private var transferDone = false
    private var linkOpen = false
    private var sent = 0

    static let racpSupport = RACPServerSupport(
        opCodes: [.reportStoredRecords, .deleteStoredRecords, .abortOperation, .reportNumberOfStoredRecords],
        operators: [.allRecords, .greaterThanOrEqualTo, .lessThanOrEqualTo, .withinRangeOf, .firstRecord, .lastRecord],
        filterTypes: [.sequenceNumber])

    public init(configuration: Configuration = Configuration(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.now = now
        sessionStart = now().addingTimeInterval(-configuration.sessionAge)
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAccessService)
        db.addCharacteristic(
            .deviceName, properties: [.read], value: .fixed(Array("\(configuration.identity.model) sensor".utf8)))
        db.addPrimaryService(.continuousGlucoseMonitoringService)
        measurementHandle = db.addCharacteristic(.cgmMeasurement, properties: [.notify]).value
        let features: UInt32 =
            (configuration.e2eCRC ? CGMFeature.e2eCRCSupported : 0) | 1 << 15 | 1 << 16 | 1 << 3 | 1 << 2
        db.addCharacteristic(
            .cgmFeature, properties: [.read],
            value: .fixed(CGMFeature(features: features, typeAndLocation: 0x59).encoded()))
        statusHandle = db.addCharacteristic(.cgmStatus, properties: [.read]).value
        startTimeHandle = db.addCharacteristic(.cgmSessionStartTime, properties: [.read]).value
        runTimeHandle =
            db.addCharacteristic(
                .cgmSessionRunTime, properties: [.read],
                value: .fixed(
                    CGMSessionRunTime(hours: configuration.sessionRunHours, crcProtected: configuration.e2eCRC)
                        .encoded())
            ).value
        controlPointHandle = db.addCharacteristic(.recordAccessControlPoint, properties: [.write, .indicate]).value
        opsHandle = db.addCharacteristic(.cgmSpecificOpsControlPoint, properties: [.write, .indicate]).value
        SimulatorDatabase.addDeviceInformation(&db, configuration.identity)
        SimulatorDatabase.addBattery(&db, percent: configuration.batteryPercent)
        db.finishWithGenericAttribute()
        database = db
    }

    /// The session's start on the sensor's clock, with its zone, as the characteristic reads.
    public var sessionStartTime: CGMSessionStartTime {
        let zone = configuration.clock.timeZone.secondsFromGMT(for: sessionStart)
        return CGMSessionStartTime(
            start: configuration.clock.dateTime(at: sessionStart), timeZone: Int8(zone / 900),
            crcProtected: configuration.e2eCRC)
    }

    /// Where the session is now (CGM Status): its time offset, and "session stopped" once stopped.
    public var status: CGMStatus {
        let minutes = max(0, Int((now().timeIntervalSince(sessionStart) / 60).rounded(.down)))
        return CGMStatus(
            timeOffset: UInt16(clamping: minutes), status: sessionRunning ? [] : [.sessionStopped],
            crcProtected: configuration.e2eCRC)
    }

    /// Records a value at `instant` (default now), on the session's timeline.
    public func measure(milligramsPerDeciliter: Int32, annunciation: CGMSensorStatus = [], at instant: Date? = nil) {
        guard sessionRunning else { return }
        let minutes = max(0, Int(((instant ?? now()).timeIntervalSince(sessionStart) / 60).rounded(.down)))
        records.append(
            CGMRecord(
                glucose: .number(mantissa: milligramsPerDeciliter, exponent: 0), timeOffset: UInt16(clamping: minutes),
                annunciation: annunciation, trend: .number(mantissa: Int32(minutes % 5) - 2, exponent: -1),
                quality: .number(mantissa: 95, exponent: 0), crcProtected: configuration.e2eCRC))
    }

    /// A glucose curve around 110 mg/dL with a meal's rise, one in twelve flagged "calibration recommended".
    public func measure(count: Int, users: [UInt8], seed: UInt64, end: Date?, spacing: TimeInterval) async {
        var random = seed
        let end = end ?? now()
        for index in 0..<count {
            let r = SimulatedReadings.next(&random)
            let instant = end.addingTimeInterval(-Double(count - 1 - index) * max(spacing, 60))
            let phase = Double(index % 36) / 36 * 2 * .pi
            let value = Int32(110 + 40 * sin(phase)) + Int32(r % 7) - 3
            measure(
                milligramsPerDeciliter: value, annunciation: index % 12 == 11 ? [.calibrationRecommended] : [],
                at: instant)
        }
    }

    public func serve(_ bearer: any ATTBearer) async {
        let link = SimulatorLink(
            reader: { [weak self] handle in await self?.read(handle) ?? .failure(.unlikelyError) },
            writer: { [weak self] handle, value, link in
                guard let self else { return .unlikelyError }
                return await self.write(handle, value, link)
            })
        let server = ATTServer(bearer: bearer, database: database, handler: link)
        activeServer = server
        transferDone = false
        linkOpen = true
        let ended: @Sendable () async -> Void = { await self.linkEnded(server) }
        await whileServing(server, on: link, ended: ended) {
            guard await link.waitForSubscription(measurementHandle, .notifications, timeout: .seconds(60)) else {
                return
            }
            for _ in 0..<3000 where !transferDone && linkOpen { try? await Task.sleep(for: .milliseconds(10)) }
            try? await Task.sleep(for: .milliseconds(20))
            await server.disconnect()
        }
        if activeServer === server { activeServer = nil }
    }

    private func linkEnded(_ server: ATTServer) {
        if activeServer === server {
            linkOpen = false
            procedureRunning = false
        }
    }

    private func read(_ handle: UInt16) async -> Result<[UInt8], ATTErrorCode> {
        if let delay = configuration.faults.responseDelay { try? await Task.sleep(for: delay) }
        if handle == statusHandle { return .success(status.encoded()) }
        guard handle == startTimeHandle else { return .failure(.unlikelyError) }
        return .success(sessionStartTime.encoded())
    }

    private func write(_ handle: UInt16, _ value: [UInt8], _ link: SimulatorLink) async -> ATTErrorCode? {
        if handle == opsHandle {
            guard await link.isSubscribed(opsHandle, .indications) else { return .cccdImproperlyConfigured }
            guard
                let request = try? CGMSpecificOpsControlPoint(
                    decoding: configuration.e2eCRC ? Array(value.dropLast(2)) : value)
            else {
                return .valueNotAllowed
            }
            Task { await self.perform(request) }
            return nil
        }
        guard handle == controlPointHandle else { return .writeNotPermitted }
        guard await link.isSubscribed(controlPointHandle, .indications) else { return .cccdImproperlyConfigured }
        if procedureRunning && value.first != RACPOpCode.abortOperation.rawValue { return .procedureAlreadyInProgress }
        switch RACPRequest.validate(value, support: Self.racpSupport) {
        case .success(let request):
            acceptedRequests.append(request)
            procedureRunning = true
            Task { await self.perform(request) }
        case .failure(let rejection):
            if let response = rejection.response {
                Task { await self.indicate(controlPointHandle, response.encoded()) }
            }
        }
        return nil
    }

    private func indicate(_ handle: UInt16, _ bytes: [UInt8]) async {
        _ = await activeServer?.indicate(handle, bytes)
    }

    /// Start: a new session from now, its time offsets from 0 (the records of the old one are gone, as on a new sensor).
    private func perform(_ request: CGMSpecificOpsControlPoint) async {
        let code: UInt8
        switch CGMSpecificOpsControlPoint.OpCode(rawValue: request.opCode) {
        case .startSession:
            sessionStart = now()
            records.removeAll()
            sessionRunning = true
            code = 1
        case .stopSession:
            sessionRunning = false
            code = 1
        case .setCommunicationInterval:
            communicationIntervalMinutes = request.operand.first ?? communicationIntervalMinutes
            code = 1
        case .getCommunicationInterval:
            await indicate(
                opsHandle,
                CGMSpecificOpsControlPoint(
                    .communicationIntervalResponse, operand: [communicationIntervalMinutes],
                    crcProtected: configuration.e2eCRC
                ).encoded())
            return
        default:
            code = 2  // op code not supported
        }
        await indicate(
            opsHandle,
            CGMSpecificOpsControlPoint(
                .responseCode, operand: [request.opCode, code], crcProtected: configuration.e2eCRC
            ).encoded())
    }

    private func matching(_ selection: RACPRecordSelection) -> [Int] {
        let indices = Array(records.indices)
        func key(_ value: RACPFilterValue) -> UInt16 {
            if case .sequenceNumber(let offset) = value { offset } else { 0 }
        }
        switch selection {
        case .allRecords: return indices
        case .firstRecord: return indices.isEmpty ? [] : [indices[0]]
        case .lastRecord: return indices.isEmpty ? [] : [indices[indices.count - 1]]
        case .greaterThanOrEqualTo(let value): return indices.filter { records[$0].timeOffset >= key(value) }
        case .lessThanOrEqualTo(let value): return indices.filter { records[$0].timeOffset <= key(value) }
        case .withinRangeOf(let range):
            return indices.filter { (key(range.minimum)...key(range.maximum)).contains(records[$0].timeOffset) }
        }
    }

    /// Ends the procedure, then indicates its answer: a collector that writes its next request as soon as it has
    /// confirmed this one is not refused.
    private func complete(_ response: RACPResponse) async {
        procedureRunning = false
        await indicate(controlPointHandle, response.encoded())
    }

    private func perform(_ request: RACPRequest) async {
        guard let server = activeServer, let selection = request.selection else {
            await complete(.responseCode(for: .abortOperation, .success))
            return
        }
        let selected = matching(selection)
        switch request {
        case .reportNumberOfStoredRecords:
            await complete(.numberOfStoredRecords(UInt16(clamping: selected.count)))
            // Nothing to download: the collector is done once it has this answer.
            if selected.isEmpty, case .allRecords = selection { transferDone = true }
        case .deleteStoredRecords:
            let doomed = Set(selected)
            records = records.enumerated().filter { !doomed.contains($0.offset) }.map(\.element)
            await complete(.responseCode(for: .deleteStoredRecords, selected.isEmpty ? .noRecordsFound : .success))
        case .reportStoredRecords:
            var index = 0
            while index < selected.count {
                // Two records to a notification where both fit in the default MTU's 20 octets.
                var payload = records[selected[index]].encoded()
                if index + 1 < selected.count {
                    let next = records[selected[index + 1]].encoded()
                    if payload.count + next.count <= 20 {
                        payload += next
                        index += 1
                    }
                }
                index += 1
                sent += 1
                if let every = configuration.faults.malformedEvery, every > 0, sent % every == 0 {
                    payload = payload.truncatedByOne
                }
                guard await server.notify(measurementHandle, payload) else {
                    procedureRunning = false
                    return
                }
            }
            await complete(.responseCode(for: .reportStoredRecords, selected.isEmpty ? .noRecordsFound : .success))
            transferDone = true  // after the answer was confirmed: the link stays until the collector has it
        case .abortOperation:
            await complete(.responseCode(for: .abortOperation, .success))
        }
    }
}
