import Foundation

/// A spot-check thermometer that speaks the Health Thermometer Service over real ATT.
///
/// Like real ones it keeps its measurements until the collector confirms their indications, notifies a few
/// Intermediate Temperature values as it settles, sends what it holds when a collector subscribes, and then drops
/// the link. Where it measures is either its Temperature Type characteristic or a field of every measurement.
public actor SimulatedThermometer: SimulatedHealthDevice {
    public struct Configuration: Sendable {
        public var identity = SimulatedIdentity(
            manufacturer: "Gatewayd Simulated Devices", model: "TH-1", serial: "TH1-000901",
            systemID: SystemID(manufacturerIdentifier: 0x00_0000_0901, organizationallyUniqueIdentifier: 0x00_1B_C5))
        public var clock = SimulatedClock()
        public var clockWritable = true
        public var unit = TemperatureUnit.celsius
        public var site = TemperatureSite.mouth
        /// The site travels in each measurement (flags bit 2) instead of the Temperature Type characteristic.
        public var siteInMeasurement = false
        /// Notify Intermediate Temperature values before each new measurement.
        public var sendsIntermediateTemperature = true
        public var faults = SimulatedFaults()
        public var batteryPercent: UInt8 = 72
        public init() {}
    }

    public nonisolated var profile: HealthProfile { .healthThermometer }
    public private(set) var configuration: Configuration
    /// Measurements not yet confirmed, oldest first.
    public private(set) var stored: [TemperatureMeasurement] = []
    /// Every measurement whose indication the collector confirmed, in order: what the gateway promised to keep.
    public private(set) var confirmedMeasurements: [TemperatureMeasurement] = []
    private let database: AttributeDatabase
    private let measurementHandle: UInt16
    private let intermediateHandle: UInt16
    private let currentTimeHandle: UInt16
    private let now: @Sendable () -> Date
    private var sentCount = 0

    public init(configuration: Configuration = Configuration(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.now = now
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAccessService)
        db.addCharacteristic(
            .deviceName, properties: [.read], value: .fixed(Array("\(configuration.identity.model) thermometer".utf8)))
        db.addPrimaryService(.healthThermometerService)
        measurementHandle = db.addCharacteristic(.temperatureMeasurement, properties: [.indicate]).value
        if !configuration.siteInMeasurement {
            db.addCharacteristic(
                .temperatureType, properties: [.read],
                value: .fixed(TemperatureType(site: configuration.site).encoded()))
        }
        intermediateHandle = db.addCharacteristic(.intermediateTemperature, properties: [.notify]).value
        db.addCharacteristic(
            .measurementInterval, properties: [.read], value: .fixed(MeasurementInterval(seconds: 0).encoded()))
        currentTimeHandle = SimulatorDatabase.addCurrentTime(
            &db, writable: configuration.clockWritable, zone: configuration.clock.timeZone)
        SimulatorDatabase.addDeviceInformation(&db, configuration.identity)
        SimulatorDatabase.addBattery(&db, percent: configuration.batteryPercent)
        db.finishWithGenericAttribute()
        database = db
    }

    /// Takes a measurement now (or at `instant`), time-stamped by the thermometer's own (possibly wrong) clock.
    public func measure(_ value: MedicalFloat, at instant: Date? = nil) {
        let record = TemperatureRecord(
            unit: configuration.unit, value: value, timeStamp: configuration.clock.dateTime(at: instant ?? now()),
            site: configuration.siteInMeasurement ? configuration.site : nil)
        stored.append(TemperatureMeasurement(record: record))
    }

    /// Adds a measurement exactly as given.
    public func store(_ measurement: TemperatureMeasurement) { stored.append(measurement) }

    /// Plausible temperatures around 36.4-37.3 °C (or the same in °F), one in eight a fever, every tenth one a
    /// measurement the thermometer could not finish (NaN).
    public func measure(count: Int, users: [UInt8], seed: UInt64, end: Date?, spacing: TimeInterval) async {
        var random = seed
        for index in 0..<count {
            let r = SimulatedReadings.next(&random)
            let instant = end.map { $0.addingTimeInterval(-Double(count - 1 - index) * spacing) }
            if index % 10 == 9 {
                measure(.nan, at: instant)
                continue
            }
            let tenths = Int32(364 + r % 10) + (r % 8 == 0 ? 15 : 0)
            let value: MedicalFloat =
                configuration.unit == .celsius
                ? .number(mantissa: tenths, exponent: -1)
                : .number(mantissa: tenths * 18 + 3200, exponent: -2)  // °F = °C × 9/5 + 32, exactly
            measure(value, at: instant)
        }
    }

    public func serve(_ bearer: any ATTBearer) async {
        let link = SimulatorLink(
            reader: { [weak self] handle in await self?.read(handle) ?? .failure(.unlikelyError) },
            writer: { [weak self] handle, value, _ in
                guard let self else { return .unlikelyError }
                return await self.write(handle, value)
            })
        let server = ATTServer(bearer: bearer, database: database, handler: link)
        await whileServing(server, on: link) {
            guard await link.waitForSubscription(measurementHandle, .indications, timeout: .seconds(60)) else { return }
            await sendMeasurements(server)
            try? await Task.sleep(for: .milliseconds(20))
            await server.disconnect()
        }
    }

    private func sendMeasurements(_ server: ATTServer) async {
        while let measurement = stored.first {
            if configuration.sendsIntermediateTemperature,
                case .number(let mantissa, let exponent) = measurement.record.value
            {
                for step in [Int32(12), 6, 2] {
                    var settling = measurement.record
                    settling.value = .number(mantissa: mantissa - step * (exponent == -1 ? 1 : 10), exponent: exponent)
                    await server.notify(intermediateHandle, IntermediateTemperature(record: settling).encoded())
                }
            }
            sentCount += 1
            var payload = measurement.encoded()
            if let every = configuration.faults.malformedEvery, every > 0, sentCount % every == 0 {
                payload = payload.truncatedByOne
            }
            guard await server.indicate(measurementHandle, payload) else { return }  // link gone: keep it
            confirmedMeasurements.append(measurement)
            stored.removeFirst()
        }
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
