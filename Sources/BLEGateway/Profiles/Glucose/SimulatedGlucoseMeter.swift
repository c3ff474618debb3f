import Foundation

/// A glucose meter that speaks the Glucose Service over real ATT: stored records with optional context,
/// served through the Record Access Control Point (count, report, delete, abort) exactly as a collector
/// sees a real meter. Knobs reproduce what real meters do.
public actor SimulatedGlucoseMeter: SimulatedPeripheral {
    public struct Configuration: Sendable {
        public var identity = SimulatedIdentity(
            manufacturer: "Gatewayd Simulated Devices", model: "GL-1", serial: "GL1-002201",
            systemID: SystemID(manufacturerIdentifier: 0x00_0000_2201, organizationallyUniqueIdentifier: 0x00_1B_C5))
        public var clock = SimulatedClock()
        public var clockWritable = false
        /// Ignores the RACP filter and reports every record, every time (the gateway must deduplicate).
        public var ignoresRecordFilter = false
        /// Deletes records once they have been reported.
        public var deletesAfterTransfer = false
        /// Drops the link after this many records of a report, once.
        public var disconnectAfterRecords: Int?
        /// Sends each context before its measurement (allowed: the collector links them by sequence number).
        public var contextBeforeMeasurement = false
        /// Announces a context for every n-th record but never sends it.
        public var dropsContextEvery: Int?
        /// Pause between notifications of a report.
        public var recordInterval: Duration = .milliseconds(2)
        /// Delay before RACP answers (set past the collector's procedure timeout to see it abort).
        public var controlPointDelay: Duration?
        public var faults = SimulatedFaults()
        public var batteryPercent: UInt8 = 64
        public init() {}
    }

    public struct Record: Sendable {
        public var measurement: GlucoseMeasurement
        public var context: GlucoseMeasurementContext?
    }

    public nonisolated var profile: HealthProfile { .glucose }
    public private(set) var configuration: Configuration
    public private(set) var records: [Record] = []
    private var nextSequence: UInt16 = 1
    private let database: AttributeDatabase
    private let measurementHandle: UInt16
    private let contextHandle: UInt16
    private let controlPointHandle: UInt16
    private let currentTimeHandle: UInt16
    private let now: @Sendable () -> Date
    private var activeServer: ATTServer?
    private var activeLink: SimulatorLink?
    private var procedureRunning = false
    private var abortRequested = false
    private var disconnectUsed = false
    private var notificationsSent = 0
    /// Requests the meter refused, with the response code it indicated (for tests).
    public private(set) var rejectedRequests: [RACPRequestRejection] = []
    /// Every RACP request the meter accepted, in order.
    public private(set) var acceptedRequests: [RACPRequest] = []

    public init(configuration: Configuration = Configuration(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.now = now
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAccessService)
        db.addCharacteristic(
            .deviceName, properties: [.read], value: .fixed(Array("\(configuration.identity.model) meter".utf8)))
        db.addPrimaryService(.glucoseService)
        measurementHandle = db.addCharacteristic(.glucoseMeasurement, properties: [.notify]).value
        contextHandle = db.addCharacteristic(.glucoseMeasurementContext, properties: [.notify]).value
        db.addCharacteristic(
            .glucoseFeature, properties: [.read],
            value: .fixed(
                GlucoseFeature([
                    .lowBatteryDetection, .sensorMalfunctionDetection, .sensorSampleSize,
                    .sensorStripInsertionErrorDetection, .timeFault,
                ]).encoded()))
        controlPointHandle = db.addCharacteristic(.recordAccessControlPoint, properties: [.write, .indicate]).value
        currentTimeHandle = SimulatorDatabase.addCurrentTime(
            &db, writable: configuration.clockWritable, zone: configuration.clock.timeZone)
        var identity = configuration.identity
        if identity.regulatoryCertification == nil {
            identity.regulatoryCertification = SimulatedRegulatoryData.continua(deviceClass: 0x1011)
        }
        SimulatorDatabase.addDeviceInformation(&db, identity)
        SimulatorDatabase.addBattery(&db, percent: configuration.batteryPercent)
        db.finishWithGenericAttribute()
        database = db
    }

    /// Records a measurement now (or at `instant`), time-stamped by the meter's clock; returns its sequence number.
    /// `statusOnly`: a record without a concentration, only its sensor status (a strip error), as real meters keep.
    @discardableResult
    public func measure(
        milligramsPerDeciliter: Int32, type: GlucoseSampleType = .capillaryPlasma,
        location: GlucoseSampleLocation = .finger,
        status: GlucoseSensorStatus? = nil, context: GlucoseMeasurementContext? = nil, nan: Bool = false,
        statusOnly: Bool = false,
        at instant: Date? = nil
    ) -> UInt16 {
        let sequence = nextSequence
        nextSequence &+= 1
        // mg/dL → kg/L: 1 mg/dL = 10⁻⁵ kg/L, exactly.
        let value: MedicalFloat = nan ? .nan : .number(mantissa: milligramsPerDeciliter, exponent: -5)
        var linked = context
        linked?.sequenceNumber = sequence
        let measurement = GlucoseMeasurement(
            sequenceNumber: sequence, baseTime: configuration.clock.dateTime(at: instant ?? now()), timeOffset: 0,
            concentration: statusOnly ? nil : GlucoseConcentration(value: value, type: type, sampleLocation: location),
            concentrationUnits: .kilogramsPerLiter,
            sensorStatus: status, contextInformationFollows: linked != nil)
        records.append(Record(measurement: measurement, context: linked))
        return sequence
    }

    public func changeBattery() { configuration.clock.batteryChangedAt = now() }

    /// Clears the meter's memory, as a reset (or a replacement meter at the same address) does: the next record is
    /// numbered `startingAt` (1 after a reset; near 65535 to try the numbers' wrap).
    public func clearMemory(startingAt sequence: UInt16 = 1) {
        records.removeAll()
        nextSequence = sequence
    }

    public func reconfigure(_ change: @Sendable (inout Configuration) -> Void) { change(&configuration) }

    public func serve(_ bearer: any ATTBearer) async {
        let link = SimulatorLink(
            reader: { [weak self] handle in await self?.read(handle) ?? .failure(.unlikelyError) },
            writer: { [weak self] handle, value, link in
                guard let self else { return .unlikelyError }
                return await self.write(handle, value, link)
            })
        let server = ATTServer(bearer: bearer, database: database, handler: link)
        activeServer = server
        activeLink = link
        await server.run()
        // A new connection may have begun meanwhile: its server is not this one's to forget.
        guard activeServer === server else { return }
        activeServer = nil
        activeLink = nil
        abortRequested = procedureRunning
    }

    private func read(_ handle: UInt16) async -> Result<[UInt8], ATTErrorCode> {
        guard handle == currentTimeHandle else { return .failure(.unlikelyError) }
        return await configuration.clock.currentTimeRead(at: now(), faults: configuration.faults)
    }

    private func write(_ handle: UInt16, _ value: [UInt8], _ link: SimulatorLink) async -> ATTErrorCode? {
        if handle == currentTimeHandle {
            return configuration.clock.currentTimeWritten(value, writable: configuration.clockWritable, at: now())
        }
        guard handle == controlPointHandle else { return .writeNotPermitted }
        guard await link.isSubscribed(controlPointHandle, .indications) else { return .cccdImproperlyConfigured }
        let isAbort = value.first == RACPOpCode.abortOperation.rawValue
        if procedureRunning && !isAbort { return .procedureAlreadyInProgress }
        // Accept the write (the Write Response goes first), then run the procedure.
        switch RACPRequest.validate(value) {
        case .success(let request):
            acceptedRequests.append(request)
            if case .abortOperation = request {
                abortRequested = procedureRunning
                Task { await self.finishAbort() }
            } else {
                procedureRunning = true
                Task { await self.perform(request) }
            }
        case .failure(let rejection):
            rejectedRequests.append(rejection)
            if let response = rejection.response { Task { await self.indicate(response) } }
        }
        return nil
    }

    /// Ends the running procedure and indicates its response: the procedure is over once the response is
    /// sent, so a collector that writes its next request right after confirming is not refused.
    private func complete(_ response: RACPResponse) async {
        procedureRunning = false
        await indicate(response)
    }

    private func indicate(_ response: RACPResponse) async {
        if let delay = configuration.controlPointDelay { try? await Task.sleep(for: delay) }
        _ = await activeServer?.indicate(controlPointHandle, response.encoded())
    }

    private func finishAbort() async {
        // Wait until a running report has noticed the abort, then answer it.
        while procedureRunning { try? await Task.sleep(for: .milliseconds(1)) }
        abortRequested = false
        await indicate(.responseCode(for: .abortOperation, .success))
    }

    private func matching(_ selection: RACPRecordSelection) -> [Int] {
        let indices = Array(records.indices)
        if configuration.ignoresRecordFilter { return indices }
        func key(_ record: Record, _ type: RACPFilterType) -> [Int] {
            switch type {
            case .sequenceNumber: return [Int(record.measurement.sequenceNumber)]
            case .userFacingTime:
                let time = record.measurement.baseTime
                return [time.year ?? 0, time.month ?? 0, time.day ?? 0, time.hour, time.minute, time.second]
            }
        }
        switch selection {
        case .allRecords: return indices
        case .firstRecord: return indices.isEmpty ? [] : [indices[0]]
        case .lastRecord: return indices.isEmpty ? [] : [indices[indices.count - 1]]
        case .greaterThanOrEqualTo(let value):
            return indices.filter { !key(records[$0], value.filterType).lexicographicallyPrecedes(value.orderKey) }
        case .lessThanOrEqualTo(let value):
            return indices.filter { !value.orderKey.lexicographicallyPrecedes(key(records[$0], value.filterType)) }
        case .withinRangeOf(let range):
            return indices.filter {
                let k = key(records[$0], range.filterType)
                return !k.lexicographicallyPrecedes(range.minimum.orderKey)
                    && !range.maximum.orderKey.lexicographicallyPrecedes(k)
            }
        }
    }

    private func perform(_ request: RACPRequest) async {
        defer { procedureRunning = false }
        guard let server = activeServer, let selection = request.selection else { return }
        let selected = matching(selection)
        switch request {
        case .reportNumberOfStoredRecords:
            await complete(.numberOfStoredRecords(UInt16(clamping: selected.count)))
        case .deleteStoredRecords:
            let doomed = Set(selected)
            records = records.enumerated().filter { !doomed.contains($0.offset) }.map(\.element)
            await complete(.responseCode(for: .deleteStoredRecords, selected.isEmpty ? .noRecordsFound : .success))
        case .reportStoredRecords:
            guard !selected.isEmpty else {
                await complete(.responseCode(for: .reportStoredRecords, .noRecordsFound))
                return
            }
            var sent = 0
            var reported: [UInt16] = []
            for index in selected {
                if abortRequested { return }
                guard index < records.count else { break }
                let record = records[index]
                notificationsSent += 1
                var payload = record.measurement.encoded()
                if let every = configuration.faults.malformedEvery, every > 0, notificationsSent % every == 0 {
                    payload = payload.truncatedByOne
                }
                let dropContext = configuration.dropsContextEvery.map { $0 > 0 && notificationsSent % $0 == 0 } ?? false
                if let context = record.context, configuration.contextBeforeMeasurement, !dropContext {
                    await server.notify(contextHandle, context.encoded())
                }
                guard await server.notify(measurementHandle, payload) else { return }
                if let context = record.context, !configuration.contextBeforeMeasurement, !dropContext {
                    await server.notify(contextHandle, context.encoded())
                }
                reported.append(record.measurement.sequenceNumber)
                sent += 1
                if let limit = configuration.disconnectAfterRecords, !disconnectUsed, sent >= limit {
                    disconnectUsed = true
                    await server.disconnect()
                    return
                }
                try? await Task.sleep(for: configuration.recordInterval)
            }
            if abortRequested { return }
            if configuration.deletesAfterTransfer {
                let done = Set(reported)
                records.removeAll { done.contains($0.measurement.sequenceNumber) }
            }
            await complete(.responseCode(for: .reportStoredRecords, .success))
        case .abortOperation:
            return
        }
    }
}
