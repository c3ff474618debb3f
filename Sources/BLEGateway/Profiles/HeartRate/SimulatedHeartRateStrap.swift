import Foundation

/// A heart-rate strap that speaks the Heart Rate Service over real ATT: once the collector subscribes, it
/// notifies a measurement every `interval` with RR intervals (1/1024 s) and energy expended, from a seeded,
/// deterministic heart — so tests and the demo see the same beats every run.
public actor SimulatedHeartRateStrap: SimulatedPeripheral {
    public struct Configuration: Sendable {
        public var identity = SimulatedIdentity(
            manufacturer: "Gatewayd Simulated Devices", model: "HR-5", serial: "HR5-010203",
            systemID: SystemID(manufacturerIdentifier: 0x00_0001_0203, organizationallyUniqueIdentifier: 0x00_1B_C5))
        public var interval: Duration = .seconds(1)
        /// Stop after this many notifications (nil: until the link closes).
        public var count: Int?
        public var restingRate = 62
        public var seed: UInt64 = 1
        public var location = BodySensorLocation.chest
        public var sendsRRIntervals = true
        public var sendsEnergyExpended = true
        /// 16-bit heart-rate values (some straps always use them).
        public var uses16BitValues = false
        /// Contact is lost for these notification indices (the strap slipped).
        public var contactLostAt: Set<Int> = []
        public var faults = SimulatedFaults()
        public var batteryPercent: UInt8 = 91
        public init() {}
    }

    public nonisolated var profile: HealthProfile { .heartRate }
    public private(set) var configuration: Configuration
    private let database: AttributeDatabase
    private let measurementHandle: UInt16
    private let controlPointHandle: UInt16
    private var state: UInt64
    private var energyExpended: UInt16 = 0
    private var sent = 0
    /// Resets of energy expended the collector asked for.
    public private(set) var energyResets = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        state = configuration.seed
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAccessService)
        db.addCharacteristic(
            .deviceName, properties: [.read], value: .fixed(Array("\(configuration.identity.model) strap".utf8)))
        db.addPrimaryService(.heartRateService)
        measurementHandle = db.addCharacteristic(.heartRateMeasurement, properties: [.notify]).value
        db.addCharacteristic(.bodySensorLocation, properties: [.read], value: .fixed(configuration.location.encoded()))
        controlPointHandle = db.addCharacteristic(.heartRateControlPoint, properties: [.write]).value
        SimulatorDatabase.addDeviceInformation(&db, configuration.identity)
        SimulatorDatabase.addBattery(&db, percent: configuration.batteryPercent)
        db.finishWithGenericAttribute()
        database = db
    }

    public func reconfigure(_ change: @Sendable (inout Configuration) -> Void) { change(&configuration) }

    /// The next measurement of the simulated heart: a rate wandering around the resting rate, and the RR
    /// intervals of the beats since the last notification.
    func nextMeasurement() -> HeartRateMeasurement {
        let z = SimulatedReadings.next(&state)
        let wobble = Int(z % 11) - 5
        let rate = max(35, configuration.restingRate + wobble + Int(sin(Double(sent) / 30) * 8))
        let ticks = UInt16(clamping: 60 * 1024 / rate)
        let beats = rate >= 90 ? 2 : 1
        let rr = (0..<beats).map { HeartRateMeasurement.RRInterval(ticks: ticks &+ UInt16($0)) }
        if configuration.sendsEnergyExpended { energyExpended &+= UInt16(rate / 20) }
        let contact: HeartRateMeasurement.SensorContact =
            configuration.contactLostAt.contains(sent) ? .notDetected : .detected
        sent += 1
        return HeartRateMeasurement(
            heartRate: configuration.uses16BitValues ? .uint16(UInt16(rate)) : .uint8(UInt8(clamping: rate)),
            sensorContact: contact, energyExpended: configuration.sendsEnergyExpended ? energyExpended : nil,
            rrIntervals: configuration.sendsRRIntervals ? rr : nil)
    }

    public func serve(_ bearer: any ATTBearer) async {
        let link = SimulatorLink(
            reader: { _ in .failure(.unlikelyError) },
            writer: { [weak self] handle, value, _ in
                guard let self else { return .unlikelyError }
                return await self.write(handle, value)
            })
        let server = ATTServer(bearer: bearer, database: database, handler: link)
        await whileServing(server, on: link) {
            guard await link.waitForSubscription(measurementHandle, .notifications, timeout: .seconds(60)) else {
                return
            }
            var index = 0
            while configuration.count.map({ index < $0 }) ?? true {
                var payload = nextMeasurement().encoded()
                index += 1
                if let every = configuration.faults.malformedEvery, every > 0, index % every == 0 {
                    payload = payload.truncatedByOne
                }
                guard await server.notify(measurementHandle, payload) else { break }
                try? await Task.sleep(for: configuration.interval)
            }
            if configuration.count != nil { await server.disconnect() }
        }
    }

    private func write(_ handle: UInt16, _ value: [UInt8]) -> ATTErrorCode? {
        guard handle == controlPointHandle else { return .writeNotPermitted }
        // Heart Rate Service: an unknown control-point value is answered with 0x80 "Control Point Not Supported".
        guard (try? HeartRateControlPoint(decoding: value)) != nil else { return .application(0x80) }
        energyExpended = 0
        energyResets += 1
        return nil
    }
}
