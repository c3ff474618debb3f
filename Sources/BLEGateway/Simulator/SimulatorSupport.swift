import Foundation

/// The per-connection side of a simulated device: answers dynamic reads and writes through closures into the
/// device, and lets the device wait until the client has subscribed.
actor SimulatorLink: GATTServerHandler {
    typealias Reader = @Sendable (UInt16) async -> Result<[UInt8], ATTErrorCode>
    typealias Writer = @Sendable (UInt16, [UInt8], SimulatorLink) async -> ATTErrorCode?

    private let reader: Reader
    private let writer: Writer
    private var subscriptions: [UInt16: CCCDValue] = [:]
    private var isClosed = false
    private var waiters: [(handle: UInt16, kind: CCCDValue, continuation: CheckedContinuation<Bool, Never>)] = []

    init(reader: @escaping Reader, writer: @escaping Writer) {
        self.reader = reader
        self.writer = writer
    }

    func readValue(handle: UInt16) async -> Result<[UInt8], ATTErrorCode> { await reader(handle) }

    func writeValue(handle: UInt16, value: [UInt8], withResponse: Bool) async -> ATTErrorCode? {
        await writer(handle, value, self)
    }

    func configurationChanged(valueHandle: UInt16, value: CCCDValue) async {
        subscriptions[valueHandle] = value
        let ready = waiters.filter { $0.handle == valueHandle && $0.kind == value }
        waiters.removeAll { $0.handle == valueHandle && $0.kind == value }
        for waiter in ready { waiter.continuation.resume(returning: true) }
    }

    func isSubscribed(_ handle: UInt16, _ kind: CCCDValue) -> Bool { subscriptions[handle] == kind }

    /// Waits until the client turns `kind` on for `handle`; false when `timeout` passes first.
    func waitForSubscription(_ handle: UInt16, _ kind: CCCDValue, timeout: Duration) async -> Bool {
        if subscriptions[handle] == kind { return true }
        if isClosed { return false }
        return await withExpiry(
            after: timeout, on: ContinuousClock(), expire: { [weak self] _ in await self?.expire(handle, kind) },
            body: {
                await withCheckedContinuation { waiters.append((handle, kind, $0)) }
            })
    }

    /// The link closed: nobody will subscribe on it any more.
    func closed() {
        isClosed = true
        let all = waiters
        waiters.removeAll()
        for waiter in all { waiter.continuation.resume(returning: false) }
    }

    private func expire(_ handle: UInt16, _ kind: CCCDValue) {
        let expired = waiters.filter { $0.handle == handle && $0.kind == kind }
        waiters.removeAll { $0.handle == handle && $0.kind == kind }
        for waiter in expired { waiter.continuation.resume(returning: false) }
    }
}

/// Plays a simulated device's part of one link (`device`) while `server` answers the client on it, as a child task, and
/// returns once the link has ended (`ended` runs then: the device's own note of a closed link). A device whose task is
/// cancelled (the demo stopping) disconnects, as a device switched off does.
func whileServing(
    _ server: ATTServer, on link: SimulatorLink, isolation: isolated (any Actor)? = #isolation,
    ended: @escaping @Sendable () async -> Void = {}, _ device: () async -> Void
) async {
    await withDiscardingTaskGroup(isolation: isolation) { group in
        group.addTask {
            await server.run()
            await link.closed()
            await ended()
        }
        await device()
        if Task.isCancelled { await server.disconnect() }
    }
}

/// What a simulated device says about itself in its Device Information Service.
public struct SimulatedIdentity: Sendable {
    public var manufacturer: String
    public var model: String
    public var serial: String
    public var hardwareRevision = "1.0"
    public var firmwareRevision = "2.3.1"
    public var softwareRevision = "2.3"
    public var systemID: SystemID?
    public var regulatoryCertification: [UInt8]?
    public var pnpID: PnPID?

    public init(manufacturer: String, model: String, serial: String, systemID: SystemID?) {
        self.manufacturer = manufacturer
        self.model = model
        self.serial = serial
        self.systemID = systemID
    }
}

/// Knobs every simulated device has.
public struct SimulatedFaults: Sendable {
    /// Every n-th measurement payload is sent truncated by one byte (a firmware bug).
    public var malformedEvery: Int?
    /// Dynamic reads (the clock, control-point answers) take this long — set it past the client's ATT
    /// transaction timeout to see the timeout.
    public var responseDelay: Duration?
    public init(malformedEvery: Int? = nil, responseDelay: Duration? = nil) {
        self.malformedEvery = malformedEvery
        self.responseDelay = responseDelay
    }
}

enum SimulatorDatabase {
    /// Adds the Device Information Service with fixed values.
    static func addDeviceInformation(_ db: inout AttributeDatabase, _ identity: SimulatedIdentity) {
        db.addPrimaryService(.deviceInformationService)
        db.addCharacteristic(
            .manufacturerNameString, properties: [.read], value: .fixed(Array(identity.manufacturer.utf8)))
        db.addCharacteristic(.modelNumberString, properties: [.read], value: .fixed(Array(identity.model.utf8)))
        db.addCharacteristic(.serialNumberString, properties: [.read], value: .fixed(Array(identity.serial.utf8)))
        db.addCharacteristic(
            .hardwareRevisionString, properties: [.read], value: .fixed(Array(identity.hardwareRevision.utf8)))
        db.addCharacteristic(
            .firmwareRevisionString, properties: [.read], value: .fixed(Array(identity.firmwareRevision.utf8)))
        db.addCharacteristic(
            .softwareRevisionString, properties: [.read], value: .fixed(Array(identity.softwareRevision.utf8)))
        if let systemID = identity.systemID {
            db.addCharacteristic(.systemID, properties: [.read], value: .fixed(systemID.encoded()))
        }
        if let regulatory = identity.regulatoryCertification {
            db.addCharacteristic(.regulatoryCertificationDataList, properties: [.read], value: .fixed(regulatory))
        }
        if let pnp = identity.pnpID {
            db.addCharacteristic(.pnpID, properties: [.read], value: .fixed(pnp.encoded()))
        }
    }

    /// Adds the Current Time Service; returns the Current Time value handle (dynamic, read + optional write).
    static func addCurrentTime(_ db: inout AttributeDatabase, writable: Bool, zone: TimeZone) -> UInt16 {
        db.addPrimaryService(.currentTimeService)
        let handles = db.addCharacteristic(
            .currentTime, properties: writable ? [.read, .write, .notify] : [.read, .notify])
        let minutes = zone.secondsFromGMT() / 60
        let daylight = zone.isDaylightSavingTime()
        let standard = (minutes - (daylight ? 60 : 0)) / 15
        db.addCharacteristic(
            .localTimeInformation, properties: [.read],
            value: .fixed(
                LocalTimeInformation(
                    timeZone: Int8(clamping: standard), dstOffset: daylight ? .daylightTime : .standardTime
                ).encoded()))
        return handles.value
    }

    static func addBattery(_ db: inout AttributeDatabase, percent: UInt8) {
        db.addPrimaryService(.batteryService)
        db.addCharacteristic(.batteryLevel, properties: [.read], value: .fixed([percent]))
    }
}

/// A canned Regulatory Certification Data List: Continua-certified, regulated (the shape PHD devices send).
enum SimulatedRegulatoryData {
    static func continua(deviceClass: UInt16) -> [UInt8] {
        let list = RegulatoryCertificationDataList(entries: [
            .continuaVersion(
                ContinuaVersionStructure(
                    majorIGVersion: 7, minorIGVersion: 0,
                    certifiedDeviceClasses: [ContinuaCertifiedDeviceClass(rawValue: deviceClass)])),
            .continuaRegulation(ContinuaRegulationStructure(regulationBitField: 0)),
        ])
        return list.encoded()
    }
}

extension Array where Element == UInt8 {
    /// The payload with its last byte cut off, as a buggy firmware would send it.
    var truncatedByOne: [UInt8] { isEmpty ? self : Array(dropLast()) }
}

extension SimulatedClock {
    /// A collector reading the Current Time characteristic (after the device's configured response delay, if any).
    func currentTimeRead(at instant: Date, faults: SimulatedFaults) async -> Result<[UInt8], ATTErrorCode> {
        if let delay = faults.responseDelay { try? await Task.sleep(for: delay) }
        return .success(currentTime(at: instant).encoded())
    }

    /// A collector writing Current Time: the clock is set when it may be and the value is a whole date and time; the
    /// ATT error a device answers otherwise.
    mutating func currentTimeWritten(_ value: [UInt8], writable: Bool, at instant: Date) -> ATTErrorCode? {
        guard writable else { return .writeNotPermitted }
        guard let time = try? CurrentTime(decoding: value), time.dateTime.isComplete else { return .valueNotAllowed }
        set(to: time.dateTime, at: instant)
        return nil
    }
}
