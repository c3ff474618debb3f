import Foundation

/// A bathroom scale with body composition, speaking the Weight Scale and Body Composition Services over real ATT.
///
/// It keeps each weighing — a Weight Measurement and a Body Composition Measurement, of one of its user slots — until
/// the collector has confirmed both, sends what it holds when a collector subscribes, and then drops the link. The body
/// composition goes as two packets ("multiple packet measurement"), as it must on a link of the default ATT MTU.
public actor SimulatedScale: SimulatedHealthDevice {
    public struct Configuration: Sendable {
        public var identity = SimulatedIdentity(
            manufacturer: "Gatewayd Simulated Devices", model: "WS-1", serial: "WS1-000d01",
            systemID: SystemID(manufacturerIdentifier: 0x00_0000_0D01, organizationallyUniqueIdentifier: 0x00_1B_C5))
        public var clock = SimulatedClock()
        public var clockWritable = true
        public var units = MassUnits.si
        /// false: a body composition analyser without the Weight Scale Service.
        public var hasWeightScaleService = true
        /// The User Data Service: a user's weighings are sent only after the collector consents as that user.
        public var usesUserData = false
        /// Users already registered on the scale (slot → consent code).
        public var consentCodes: [UInt8: UInt16] = [:]
        /// Body composition as two packets (false: one, as on a link with a larger MTU).
        public var splitsBodyComposition = true
        public var faults = SimulatedFaults()
        public var batteryPercent: UInt8 = 58
        public init() {}
    }

    /// One stored weighing and how far its confirmation got.
    public struct Weighing: Sendable {
        public var weight: WeightMeasurement
        public var composition: BodyCompositionMeasurement
        public var weightConfirmed = false
    }

    public nonisolated var profile: HealthProfile {
        configuration.hasWeightScaleService ? .weightScale : .bodyComposition
    }
    private nonisolated let configuration: Configuration
    public private(set) var stored: [Weighing] = []
    /// Every weighing whose last indication the collector confirmed, in order.
    public private(set) var confirmed: [Weighing] = []
    private let database: AttributeDatabase
    private let weightHandle: UInt16?
    private let compositionHandle: UInt16
    private let currentTimeHandle: UInt16
    private let userIndexHandle: UInt16?
    private let userControlPointHandle: UInt16?
    /// Registered users (slot → consent code), and the slot consented on the current link.
    public private(set) var consentCodes: [UInt8: UInt16]
    private var consented: UInt8?
    private var activeServer: ATTServer?
    private let now: @Sendable () -> Date
    private var clock: SimulatedClock
    private var sentCount = 0

    public init(configuration: Configuration = Configuration(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.now = now
        clock = configuration.clock
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAccessService)
        db.addCharacteristic(
            .deviceName, properties: [.read], value: .fixed(Array("\(configuration.identity.model) scale".utf8)))
        if configuration.hasWeightScaleService {
            db.addPrimaryService(.weightScaleService)
            weightHandle = db.addCharacteristic(.weightMeasurement, properties: [.indicate]).value
            db.addCharacteristic(
                .weightScaleFeature, properties: [.read],
                value: .fixed(
                    WeightScaleFeature(
                        timeStamp: true, multipleUsers: true, bmi: true, weightResolution: 7, heightResolution: 3
                    ).encoded()))
        } else {
            weightHandle = nil
        }
        if configuration.usesUserData {
            db.addPrimaryService(.userDataService)
            userIndexHandle = db.addCharacteristic(.userIndex, properties: [.read]).value
            db.addCharacteristic(
                .databaseChangeIncrement, properties: [.read],
                value: .fixed(DatabaseChangeIncrement(value: 0).encoded()))
            userControlPointHandle = db.addCharacteristic(.userControlPoint, properties: [.write, .indicate]).value
        } else {
            (userIndexHandle, userControlPointHandle) = (nil, nil)
        }
        consentCodes = configuration.consentCodes
        db.addPrimaryService(.bodyCompositionService)
        compositionHandle = db.addCharacteristic(.bodyCompositionMeasurement, properties: [.indicate]).value
        db.addCharacteristic(
            .bodyCompositionFeature, properties: [.read],
            value: .fixed(BodyCompositionFeature(rawValue: 0x7FF | 7 << 11).encoded()))
        currentTimeHandle = SimulatorDatabase.addCurrentTime(
            &db, writable: configuration.clockWritable, zone: configuration.clock.timeZone)
        SimulatorDatabase.addDeviceInformation(&db, configuration.identity)
        SimulatorDatabase.addBattery(&db, percent: configuration.batteryPercent)
        db.finishWithGenericAttribute()
        database = db
    }

    /// Weighs user `user` now (or at `instant`): `kilograms` in 0.005 kg steps, body fat in 0.1 % steps, the rest
    /// derived; `height` in millimetres (BMI from it). Imperial scales send the same in pounds and inches.
    public func measure(
        user: UInt8, weightSteps: UInt16, bodyFatTenths: UInt16, heightMillimetres: UInt16, at instant: Date? = nil
    ) {
        let stamp = clock.dateTime(at: instant ?? now())
        let kilograms = Double(weightSteps) * 0.005
        let metres = Double(heightMillimetres) / 1000
        let bmiTenths = UInt16((kilograms / (metres * metres) * 10).rounded())
        let units = configuration.units
        let weightRaw = units == .si ? weightSteps : UInt16((kilograms * 2.204_62 * 100).rounded())
        let heightRaw = units == .si ? heightMillimetres : UInt16((metres * 39.3701 * 10).rounded())
        let fatFree = UInt16(Double(weightRaw) * (1 - Double(bodyFatTenths) / 1000))
        let weight = WeightMeasurement(
            units: units, weight: ScaleValue(raw: weightRaw), timeStamp: stamp, userID: user,
            bmiAndHeight: (ScaleValue(raw: bmiTenths), ScaleValue(raw: heightRaw)))
        let composition = BodyCompositionMeasurement(
            units: units, bodyFatPercentage: ScaleValue(raw: bodyFatTenths), timeStamp: stamp, userID: user,
            basalMetabolism: ScaleValue(raw: UInt16(kilograms * 100)),
            musclePercentage: ScaleValue(raw: 1000 - bodyFatTenths - 180),
            muscleMass: ScaleValue(raw: UInt16(Double(fatFree) * 0.9)), fatFreeMass: ScaleValue(raw: fatFree),
            softLeanMass: ScaleValue(raw: UInt16(Double(fatFree) * 0.93)),
            bodyWaterMass: ScaleValue(raw: UInt16(Double(fatFree) * 0.73)),
            impedance: ScaleValue(raw: 5123), weight: ScaleValue(raw: weightRaw), height: ScaleValue(raw: heightRaw))
        stored.append(Weighing(weight: weight, composition: composition))
    }

    /// Stores a weighing exactly as given.
    public func store(_ weighing: Weighing) { stored.append(weighing) }

    /// Weighings of the given users in turn: user 1 about 62 kg, 1.60 m; user 2 about 78 kg, 1.75 m; body fat 22-30 %.
    public func measure(count: Int, users: [UInt8], seed: UInt64, end: Date?, spacing: TimeInterval) async {
        var random = seed
        let users = users.isEmpty ? [1] : users
        for index in 0..<count {
            let r = SimulatedReadings.next(&random)
            let user = users[index % users.count]
            let instant = end.map { $0.addingTimeInterval(-Double(count - 1 - index) * spacing) }
            let (base, height): (UInt16, UInt16) = user % 2 == 1 ? (12_460, 1600) : (15_700, 1750)
            measure(
                user: user, weightSteps: base + UInt16(r % 200), bodyFatTenths: 220 + UInt16((r >> 8) % 80),
                heightMillimetres: height,
                at: instant)
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
        activeServer = server
        consented = nil
        await whileServing(server, on: link) {
            guard await link.waitForSubscription(weightHandle ?? compositionHandle, .indications, timeout: .seconds(60))
            else { return }
            await sendStored(server, link)
            try? await Task.sleep(for: .milliseconds(20))
            await server.disconnect()
        }
    }

    /// The body composition packets of a weighing: one, or two each marked "multiple packet".
    func packets(_ composition: BodyCompositionMeasurement) -> [BodyCompositionMeasurement] {
        guard configuration.splitsBodyComposition else { return [composition] }
        var first = composition
        var second = BodyCompositionMeasurement(
            units: composition.units, bodyFatPercentage: composition.bodyFatPercentage, multiplePacket: true)
        first.multiplePacket = true
        for field in BodyCompositionMeasurement.Field.allCases.suffix(5) {
            second[field] = composition[field]
            first[field] = nil
        }
        return [first, second]
    }

    private func indicate(_ handle: UInt16, _ bytes: [UInt8], _ server: ATTServer) async -> Bool {
        sentCount += 1
        var payload = bytes
        if let every = configuration.faults.malformedEvery, every > 0, sentCount % every == 0 {
            payload = payload.truncatedByOne
        }
        return await server.indicate(handle, payload)
    }

    private func sendStored(_ server: ATTServer, _ link: SimulatorLink) async {
        let compositionSubscribed = await link.isSubscribed(compositionHandle, .indications)
        // With the User Data Service, only the consented user's weighings go; the others stay for their own user.
        while let position = stored.firstIndex(where: { !configuration.usesUserData || $0.weight.userID == consented })
        {
            var weighing = stored[position]
            if let weightHandle, !weighing.weightConfirmed {
                // link gone: keep it
                guard await indicate(weightHandle, weighing.weight.encoded(), server) else { return }
                weighing.weightConfirmed = true
                stored[position] = weighing
            }
            if compositionSubscribed {
                for packet in packets(weighing.composition) {
                    guard await indicate(compositionHandle, packet.encoded(), server) else { return }
                }
            }
            confirmed.append(weighing)
            stored.remove(at: position)
        }
    }

    /// The scale's current user: whoever stepped on it last (the newest weighing's slot); 0xFF when nobody has.
    public var currentUser: UInt8 { stored.last?.weight.userID ?? confirmed.last?.weight.userID ?? 0xFF }

    private func read(_ handle: UInt16) async -> Result<[UInt8], ATTErrorCode> {
        if handle == userIndexHandle { return .success(UserIndex(index: currentUser).encoded()) }
        guard handle == currentTimeHandle else { return .failure(.unlikelyError) }
        return await clock.currentTimeRead(at: now(), faults: configuration.faults)
    }

    private func write(_ handle: UInt16, _ value: [UInt8]) -> ATTErrorCode? {
        if handle == userControlPointHandle {
            let answer: UserControlPoint
            switch try? UserControlPoint(decoding: value) {
            case .registerNewUser(let code)?:
                let slot = (1...UInt8(254)).first { consentCodes[$0] == nil } ?? 0xFF
                if slot != 0xFF { consentCodes[slot] = code }
                answer = .response(
                    request: 0x01, result: slot == 0xFF ? .operationFailed : .success,
                    userIndex: slot == 0xFF ? nil : slot)
            case .consent(let slot, let code)?:
                let known = consentCodes[slot]
                if known == code { consented = slot }
                answer = .response(
                    request: 0x02,
                    result: known == nil ? .invalidParameter : (known == code ? .success : .userNotAuthorized),
                    userIndex: nil)
            case .deleteUserData?:
                guard let slot = consented else {
                    answer = .response(request: 0x03, result: .userNotAuthorized, userIndex: nil)
                    break
                }
                consentCodes[slot] = nil
                stored.removeAll { $0.weight.userID == slot }
                answer = .response(request: 0x03, result: .success, userIndex: nil)
            case .response?, nil:
                answer = .response(
                    request: value.first ?? 0, result: value.isEmpty ? .invalidParameter : .opCodeNotSupported,
                    userIndex: nil)
            }
            let server = activeServer
            Task { _ = await server?.indicate(handle, answer.encoded()) }
            return nil
        }
        guard handle == currentTimeHandle else { return .writeNotPermitted }
        return clock.currentTimeWritten(value, writable: configuration.clockWritable, at: now())
    }
}
