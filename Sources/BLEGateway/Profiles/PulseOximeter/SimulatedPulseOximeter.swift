import Foundation

/// A fingertip pulse oximeter that speaks the Pulse Oximeter Service over real ATT.
///
/// It keeps its spot-checks in storage and answers the RACP as the PLX profile allows ("all records" only: count,
/// report, delete, abort); reported records carry "data from measurement storage". Without storage it indicates
/// what it holds once the collector subscribes, keeping each until confirmed. Then it notifies `continuousCount`
/// continuous measurements and drops the link, as a spot-check oximeter does when it is taken off the finger.
public actor SimulatedPulseOximeter: SimulatedHealthDevice {
    public struct Configuration: Sendable {
        public var identity = SimulatedIdentity(
            manufacturer: "Gatewayd Simulated Devices", model: "PO-1", serial: "PO1-000801",
            systemID: SystemID(manufacturerIdentifier: 0x00_0000_0801, organizationallyUniqueIdentifier: 0x00_1B_C5))
        public var clock = SimulatedClock()
        public var clockWritable = true
        /// Spot-checks are stored and downloaded through the RACP (false: indicated when the collector subscribes).
        public var storesSpotChecks = true
        /// Continuous measurements notified after the spot-checks, `continuousInterval` apart.
        public var continuousCount = 3
        public var continuousInterval: Duration = .milliseconds(50)
        public var faults = SimulatedFaults()
        public var batteryPercent: UInt8 = 66
        public init() {}
    }

    public nonisolated var profile: HealthProfile { .pulseOximeter }
    public private(set) var configuration: Configuration
    /// Spot-checks the oximeter holds, oldest first.
    public private(set) var stored: [PLXSpotCheckMeasurement] = []
    /// Every spot-check whose indication the collector confirmed, in order.
    public private(set) var confirmedSpotChecks: [PLXSpotCheckMeasurement] = []
    /// Every RACP request the oximeter accepted, in order.
    public private(set) var acceptedRequests: [RACPRequest] = []
    private let database: AttributeDatabase
    private let spotCheckHandle: UInt16
    private let continuousHandle: UInt16
    private let controlPointHandle: UInt16
    private let currentTimeHandle: UInt16
    private let now: @Sendable () -> Date
    private var activeServer: ATTServer?
    private var procedureRunning = false
    private var abortRequested = false
    /// The collector finished with the storage on this link (deleted what it downloaded, or there was nothing).
    private var storageDone = false
    private var linkOpen = false
    private var sentCount = 0
    private var state: UInt64 = 1

    static let racpSupport = RACPServerSupport(
        opCodes: [.reportStoredRecords, .deleteStoredRecords, .abortOperation, .reportNumberOfStoredRecords],
        operators: [.allRecords], filterTypes: [])

    public init(configuration: Configuration = Configuration(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.now = now
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAccessService)
        db.addCharacteristic(
            .deviceName, properties: [.read], value: .fixed(Array("\(configuration.identity.model) oximeter".utf8)))
        db.addPrimaryService(.pulseOximeterService)
        spotCheckHandle = db.addCharacteristic(.plxSpotCheckMeasurement, properties: [.indicate]).value
        continuousHandle = db.addCharacteristic(.plxContinuousMeasurement, properties: [.notify]).value
        let features = PLXFeatures(
            supported: configuration.storesSpotChecks
                ? [.spotCheckStorage, .spotCheckTimestamp, .pulseAmplitudeIndex]
                : [.spotCheckTimestamp, .pulseAmplitudeIndex],
            measurementStatusSupport: [.dataFromMeasurementStorage, .questionableMeasurementDetected, .validatedData],
            deviceAndSensorStatusSupport: [.lowPerfusionDetected, .sensorDisplaced, .erraticSignalDetected])
        db.addCharacteristic(.plxFeatures, properties: [.read], value: .fixed(features.encoded()))
        controlPointHandle = db.addCharacteristic(.recordAccessControlPoint, properties: [.write, .indicate]).value
        currentTimeHandle = SimulatorDatabase.addCurrentTime(
            &db, writable: configuration.clockWritable, zone: configuration.clock.timeZone)
        SimulatorDatabase.addDeviceInformation(&db, configuration.identity)
        SimulatorDatabase.addBattery(&db, percent: configuration.batteryPercent)
        db.finishWithGenericAttribute()
        database = db
    }

    /// Takes a spot-check now (or at `instant`), time-stamped by the oximeter's own clock.
    public func measure(
        spO2: MedicalFloat, pulseRate: MedicalFloat, status: PLXMeasurementStatus? = nil,
        sensor: PLXDeviceAndSensorStatus? = nil, at instant: Date? = nil
    ) {
        stored.append(
            PLXSpotCheckMeasurement(
                value: SpO2PR(spO2: spO2, pulseRate: pulseRate),
                timeStamp: configuration.clock.dateTime(at: instant ?? now()),
                measurementStatus: status, deviceAndSensorStatus: sensor,
                pulseAmplitudeIndex: .number(mantissa: 42, exponent: -1)))
    }

    /// Plausible spot-checks: SpO2 93-99 %, pulse 55-94/min; one in six with low perfusion (doubtful), every eighth
    /// one a reading the oximeter could not finish (NaN).
    public func measure(count: Int, users: [UInt8], seed: UInt64, end: Date?, spacing: TimeInterval) async {
        var random = seed
        for index in 0..<count {
            let r = SimulatedReadings.next(&random)
            let instant = end.map { $0.addingTimeInterval(-Double(count - 1 - index) * spacing) }
            if index % 8 == 7 {
                measure(spO2: .nan, pulseRate: .nan, sensor: [.sensorDisplaced], at: instant)
                continue
            }
            measure(
                spO2: .number(mantissa: Int32(93 + r % 7), exponent: 0),
                pulseRate: .number(mantissa: Int32(55 + (r >> 8) % 40), exponent: 0),
                status: [.validatedData], sensor: r % 6 == 0 ? [.lowPerfusionDetected] : [], at: instant)
        }
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
        storageDone = false
        linkOpen = true
        if !procedureRunning { abortRequested = false }  // an abort of the last link's procedure is over
        let ended: @Sendable () async -> Void = { await self.linkEnded(server) }
        await whileServing(server, on: link, ended: ended) {
            guard await link.waitForSubscription(spotCheckHandle, .indications, timeout: .seconds(60)) else { return }
            if configuration.storesSpotChecks {
                // The collector downloads and deletes through the RACP; wait until it is done (or goes away).
                for _ in 0..<3000 where !storageDone && linkOpen { try? await Task.sleep(for: .milliseconds(10)) }
            } else {
                await indicateHeld(server)
            }
            if await link.isSubscribed(continuousHandle, .notifications) {
                for _ in 0..<configuration.continuousCount {
                    guard await server.notify(continuousHandle, nextContinuous().encoded()) else { break }
                    try? await Task.sleep(for: configuration.continuousInterval)
                }
            }
            try? await Task.sleep(for: .milliseconds(20))
            await server.disconnect()
        }
        // A new connection may have begun meanwhile: its server is not this one's to forget.
        if activeServer === server {
            activeServer = nil
            abortRequested = procedureRunning
        }
    }

    private func linkEnded(_ server: ATTServer) {
        if activeServer === server { linkOpen = false }
    }

    /// A continuous measurement around the newest spot-check's values.
    private func nextContinuous() -> PLXContinuousMeasurement {
        let r = SimulatedReadings.next(&state)
        return PLXContinuousMeasurement(
            normal: SpO2PR(
                spO2: .number(mantissa: Int32(95 + r % 4), exponent: 0),
                pulseRate: .number(mantissa: Int32(60 + (r >> 8) % 20), exponent: 0)),
            fast: SpO2PR(
                spO2: .number(mantissa: Int32(94 + r % 5), exponent: 0),
                pulseRate: .number(mantissa: Int32(58 + (r >> 16) % 24), exponent: 0)),
            measurementStatus: [.validatedData], pulseAmplitudeIndex: .number(mantissa: 38, exponent: -1))
    }

    private func send(_ measurement: PLXSpotCheckMeasurement, _ server: ATTServer) async -> Bool {
        sentCount += 1
        var payload = measurement.encoded()
        if let every = configuration.faults.malformedEvery, every > 0, sentCount % every == 0 {
            payload = payload.truncatedByOne
        }
        guard await server.indicate(spotCheckHandle, payload) else { return false }  // link gone: keep it
        confirmedSpotChecks.append(measurement)
        return true
    }

    private func indicateHeld(_ server: ATTServer) async {
        while let measurement = stored.first {
            guard await send(measurement, server) else { return }
            stored.removeFirst()
        }
    }

    private func read(_ handle: UInt16) async -> Result<[UInt8], ATTErrorCode> {
        guard handle == currentTimeHandle else { return .failure(.unlikelyError) }
        return await configuration.clock.currentTimeRead(at: now(), faults: configuration.faults)
    }

    private func write(_ handle: UInt16, _ value: [UInt8], _ link: SimulatorLink) async -> ATTErrorCode? {
        if handle == currentTimeHandle {
            return configuration.clock.currentTimeWritten(value, writable: configuration.clockWritable, at: now())
        }
        guard handle == controlPointHandle, configuration.storesSpotChecks else { return .writeNotPermitted }
        guard await link.isSubscribed(controlPointHandle, .indications) else { return .cccdImproperlyConfigured }
        let isAbort = value.first == RACPOpCode.abortOperation.rawValue
        if procedureRunning && !isAbort { return .procedureAlreadyInProgress }
        switch RACPRequest.validate(value, support: Self.racpSupport) {
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
            if let response = rejection.response { Task { await self.indicate(response) } }
        }
        return nil
    }

    private func indicate(_ response: RACPResponse) async {
        _ = await activeServer?.indicate(controlPointHandle, response.encoded())
    }

    private func finishAbort() async {
        while procedureRunning { try? await Task.sleep(for: .milliseconds(1)) }
        abortRequested = false
        await indicate(.responseCode(for: .abortOperation, .success))
    }

    private func perform(_ request: RACPRequest) async {
        guard let server = activeServer else {
            procedureRunning = false
            return
        }
        switch request {
        case .reportNumberOfStoredRecords:
            procedureRunning = false
            if stored.isEmpty { storageDone = true }
            await indicate(.numberOfStoredRecords(UInt16(clamping: stored.count)))
        case .deleteStoredRecords:
            let found = !stored.isEmpty
            stored.removeAll()
            procedureRunning = false
            storageDone = true
            await indicate(.responseCode(for: .deleteStoredRecords, found ? .success : .noRecordsFound))
        case .reportStoredRecords:
            guard !stored.isEmpty else {
                procedureRunning = false
                storageDone = true
                await indicate(.responseCode(for: .reportStoredRecords, .noRecordsFound))
                return
            }
            for var record in stored {
                if abortRequested { break }
                record.measurementStatus = (record.measurementStatus ?? []).union(.dataFromMeasurementStorage)
                guard await send(record, server) else {
                    procedureRunning = false
                    return
                }
            }
            procedureRunning = false
            if abortRequested { return }
            await indicate(.responseCode(for: .reportStoredRecords, .success))
        case .abortOperation:
            procedureRunning = false
        }
    }
}
