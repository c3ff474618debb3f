import Foundation

/// A blood-pressure cuff that speaks the Blood Pressure Service over real ATT.
///
/// Like real cuffs it keeps readings until the collector confirms their indications, sends them when a
/// collector subscribes, and then drops the link. Knobs reproduce what real cuffs do wrong.
public actor SimulatedBloodPressureMonitor: SimulatedPeripheral {
    public struct Configuration: Sendable {
        public var identity = SimulatedIdentity(
            manufacturer: "Gatewayd Simulated Devices", model: "BP-2", serial: "BP2-000417",
            systemID: SystemID(manufacturerIdentifier: 0x00_0000_0417, organizationallyUniqueIdentifier: 0x00_1B_C5))
        public var clock = SimulatedClock()
        /// Whether the gateway may set the clock through CTS.
        public var clockWritable = true
        /// Readings already confirmed are sent again on every connection (many cuffs keep a memory of 60+).
        public var resendsStoredReadings = false
        /// Notify a few Intermediate Cuff Pressure values before each new reading.
        public var sendsIntermediateCuffPressure = false
        /// Drop the link after the last indication (what cuffs do); false keeps it open.
        public var disconnectsWhenDone = true
        /// With `disconnectsWhenDone` false: readings taken (`measure`, `store`) while a collector is connected are
        /// indicated as they are taken, like a cuff on a monitoring link; false sends only what was held at
        /// subscription. Each new reading starts a pass over the memory, as a connection does.
        public var indicatesNewReadingsWhileConnected = false
        /// Called with the time from sending each Blood Pressure Measurement indication to receiving its Handle
        /// Value Confirmation, for confirmed indications only (benchmarks measure the gateway's latency with it).
        public var indicationLatencyRecorder: (@Sendable (Duration) -> Void)?
        public var faults = SimulatedFaults()
        public var batteryPercent: UInt8 = 80
        public init() {}
    }

    /// One stored reading.
    public struct StoredReading: Sendable {
        public var measurement: BloodPressureMeasurement
        public var confirmed = false
    }

    public nonisolated var profile: HealthProfile { .bloodPressure }
    public private(set) var configuration: Configuration
    public private(set) var stored: [StoredReading] = []
    private let database: AttributeDatabase
    private let measurementHandle: UInt16
    private let cuffHandle: UInt16
    private let currentTimeHandle: UInt16
    private let now: @Sendable () -> Date
    private var sentCount = 0
    /// Indications the collector confirmed, over all connections.
    public private(set) var confirmedCount = 0
    /// Every reading whose indication the collector confirmed, in order: what the gateway promised to keep.
    public private(set) var confirmedReadings: [BloodPressureMeasurement] = []
    /// Wakes a connection waiting for new readings (`indicatesNewReadingsWhileConnected`); nil when none waits.
    private var newReadings: AsyncStream<Void>.Continuation?

    public init(configuration: Configuration = Configuration(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.now = now
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAccessService)
        db.addCharacteristic(
            .deviceName, properties: [.read], value: .fixed(Array("\(configuration.identity.model) cuff".utf8)))
        db.addPrimaryService(.bloodPressureService)
        measurementHandle = db.addCharacteristic(.bloodPressureMeasurement, properties: [.indicate]).value
        cuffHandle = db.addCharacteristic(.intermediateCuffPressure, properties: [.notify]).value
        db.addCharacteristic(
            .bloodPressureFeature, properties: [.read],
            value: .fixed(
                BloodPressureFeature(
                    bodyMovementDetection: true, cuffFitDetection: true, irregularPulseDetection: true,
                    pulseRateRangeDetection: true, measurementPositionDetection: true, multipleBond: true
                ).encoded()))
        currentTimeHandle = SimulatorDatabase.addCurrentTime(
            &db, writable: configuration.clockWritable, zone: configuration.clock.timeZone)
        var identity = configuration.identity
        if identity.regulatoryCertification == nil {
            identity.regulatoryCertification = SimulatedRegulatoryData.continua(deviceClass: 0x1007)
        }
        SimulatorDatabase.addDeviceInformation(&db, identity)
        SimulatorDatabase.addBattery(&db, percent: configuration.batteryPercent)
        db.finishWithGenericAttribute()
        database = db
    }

    /// Takes a reading now (or at `instant`): it is time-stamped by the device's own (possibly wrong) clock.
    public func measure(
        systolic: MedicalFloat, diastolic: MedicalFloat, meanArterialPressure: MedicalFloat, pulseRate: MedicalFloat?,
        user: BloodPressureUser?, status: BloodPressureMeasurementStatus? = nil,
        unit: BloodPressureUnit = .millimetresOfMercury,
        at instant: Date? = nil
    ) {
        let record = BloodPressureRecord(
            unit: unit, systolic: systolic, diastolic: diastolic, meanArterialPressure: meanArterialPressure,
            timeStamp: configuration.clock.dateTime(at: instant ?? now()), pulseRate: pulseRate, userID: user,
            measurementStatus: status)
        stored.append(StoredReading(measurement: BloodPressureMeasurement(record: record)))
        newReadings?.yield()
    }

    /// Adds a reading exactly as given (time stamp included).
    public func store(_ measurement: BloodPressureMeasurement) {
        stored.append(StoredReading(measurement: measurement))
        newReadings?.yield()
    }

    /// The battery is changed: the clock restarts at 2000-01-01 00:00:00.
    public func changeBattery() {
        configuration.clock.batteryChangedAt = now()
    }

    public func reconfigure(_ change: @Sendable (inout Configuration) -> Void) {
        change(&configuration)
    }

    public func serve(_ bearer: any ATTBearer) async {
        let link = SimulatorLink(
            reader: { [weak self] handle in await self?.read(handle) ?? .failure(.unlikelyError) },
            writer: { [weak self] handle, value, _ in
                guard let self else { return .unlikelyError }
                return await self.write(handle, value)
            })
        let server = ATTServer(bearer: bearer, database: database, handler: link)
        let (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let ended: @Sendable () async -> Void = { signal.finish() }
        await whileServing(server, on: link, ended: ended) {
            guard await link.waitForSubscription(measurementHandle, .indications, timeout: .seconds(60)) else { return }
            let staysForNewReadings =
                !configuration.disconnectsWhenDone && configuration.indicatesNewReadingsWhileConnected
            if staysForNewReadings { newReadings = signal }
            await sendReadings(server)
            if configuration.disconnectsWhenDone {
                try? await Task.sleep(for: .milliseconds(20))
                await server.disconnect()
            } else if staysForNewReadings {
                for await _ in signals { await sendReadings(server) }  // until the link closes
                newReadings = nil
            }
        }
    }

    private func sendReadings(_ server: ATTServer) async {
        var index = 0
        while index < stored.count {
            if stored[index].confirmed && !configuration.resendsStoredReadings {
                index += 1
                continue
            }
            if configuration.sendsIntermediateCuffPressure && !stored[index].confirmed {
                for pressure in [1500, 1200, 900] as [Int32] {
                    let cuff = IntermediateCuffPressure(
                        record: BloodPressureRecord(
                            unit: .millimetresOfMercury, systolic: .number(mantissa: pressure, exponent: -1),
                            diastolic: .nan,
                            meanArterialPressure: .nan, timeStamp: nil, pulseRate: nil,
                            userID: stored[index].measurement.record.userID,
                            measurementStatus: nil))
                    await server.notify(cuffHandle, cuff.encoded())
                }
            }
            sentCount += 1
            var payload = stored[index].measurement.encoded()
            if let every = configuration.faults.malformedEvery, every > 0, sentCount % every == 0 {
                payload = payload.truncatedByOne
            }
            let sentAt = ContinuousClock.now
            guard await server.indicate(measurementHandle, payload) else { return }  // link gone: keep it
            configuration.indicationLatencyRecorder?(sentAt.duration(to: .now))
            if !stored[index].confirmed {
                confirmedCount += 1
                confirmedReadings.append(stored[index].measurement)
            }
            stored[index].confirmed = true
            index += 1
        }
        if !configuration.resendsStoredReadings { stored.removeAll { $0.confirmed } }
    }

    private func read(_ handle: UInt16) async -> Result<[UInt8], ATTErrorCode> {
        guard handle == currentTimeHandle else { return .failure(.unlikelyError) }
        return await configuration.clock.currentTimeRead(at: now(), faults: configuration.faults)
    }

    private func write(_ handle: UInt16, _ value: [UInt8]) -> ATTErrorCode? {
        guard handle == currentTimeHandle else { return .writeNotPermitted }
        return configuration.clock.currentTimeWritten(value, writable: configuration.clockWritable, at: now())
    }
}
