import Foundation

/// Options every profile session shares.
public struct ProfileSessionOptions: Sendable {
    /// Set the device's clock through CTS when it is writable and off by more than this; nil never writes.
    public var setDeviceClockWhenOffBy: Duration? = .seconds(60)
    /// The time zone whose wall clock the device should show when the gateway sets it.
    public var deviceTimeZone: TimeZone = .current
    /// How long a RACP procedure may go without progress before it is aborted (30 s, as devices use).
    public var procedureTimeout: Duration = .seconds(30)
    /// The clock procedure timeouts run on (a test moves a manual one instead of waiting).
    public var timeoutClock: any Clock<Duration> = ContinuousClock()
    public var clock: GatewayClock = .system
    /// A label for the link in identities and logs.
    public var link: String = "unknown"
    /// The consent codes this gateway holds for a device's User Data Service slots (slot → code), asked once its
    /// identity is known: a multi-user device sends a user's data only after the collector consents as that user.
    public var userConsents: @Sendable (DeviceIdentity) async -> [UInt8: UInt16] = { _ in [:] }
    /// Asked once when the device has a User Data Service (pairing): a consent code (0-9999) to register a new user
    /// under, whose data the session then collects, or nil to consent as a user the gateway already holds a code for.
    public var newUserConsentCode: @Sendable (DeviceIdentity) async -> UInt16? = { _ in nil }
    /// A CGM's Specific Ops Control Point procedures to run before the download (start or stop a session, the
    /// communication interval), in order; their answers are emitted as characteristics read.
    public var cgmOperations: [CGMSpecificOpsControlPoint] = []

    public init(
        setDeviceClockWhenOffBy: Duration? = .seconds(60), deviceTimeZone: TimeZone = .current,
        procedureTimeout: Duration = .seconds(30), clock: GatewayClock = .system, link: String = "unknown"
    ) {
        self.setDeviceClockWhenOffBy = setDeviceClockWhenOffBy
        self.deviceTimeZone = deviceTimeZone
        self.procedureTimeout = procedureTimeout
        self.clock = clock
        self.link = link
    }
}

/// What a session loop waits on: the device's notifications/indications, its deadlines, the link's end.
enum SessionInput: Sendable {
    case event(GATTServerEvent)
    case deadline(UInt64)
    case linkClosed
}

/// Merges the client's events and the session's timers into one ordered stream, so a session loop is a
/// single `for await` without racing iterators.
final class SessionInbox: Sendable {
    let stream: AsyncStream<SessionInput>
    private let sink: AsyncStream<SessionInput>.Continuation
    private let pump: Task<Void, Never>

    private let clock: any Clock<Duration>

    init(client: GATTClient, clock: any Clock<Duration>) {
        let (stream, sink) = AsyncStream.makeStream(of: SessionInput.self, bufferingPolicy: .unbounded)
        self.stream = stream
        self.sink = sink
        self.clock = clock
        let events = client.events
        pump = Task {
            for await event in events { sink.yield(.event(event)) }
            sink.yield(.linkClosed)
        }
    }

    /// Delivers `.deadline(id)` after `delay`.
    func schedule(_ id: UInt64, after delay: Duration) -> Task<Void, Never> {
        let (sink, clock) = (self.sink, self.clock)
        return Task {
            try? await clock.sleep(for: delay, tolerance: nil)
            if !Task.isCancelled { sink.yield(.deadline(id)) }
        }
    }

    func finish() {
        pump.cancel()
        sink.finish()
    }
}

/// The steps every health profile starts with: MTU, discovery, Device Information, battery, the clock.
enum SessionPrelude {
    static func discover(_ client: GATTClient, emit: (ProfileEvent) async -> Void) async throws(GATTError)
        -> DiscoveredDatabase
    {
        try await client.exchangeMTU()
        let database = try await client.discoverAll()
        await emit(.discovered(database))
        return database
    }

    /// Reads every DIS characteristic present; one that fails to decode is noted, not fatal.
    static func identity(_ client: GATTClient, _ database: DiscoveredDatabase, link: String) async throws(GATTError)
        -> DeviceIdentity
    {
        var identity = DeviceIdentity(link: link)
        guard let dis = database.service(.deviceInformationService) else {
            identity.problems.append("no Device Information Service")
            return identity
        }
        func value<V: CharacteristicValue>(_ type: V.Type) async throws(GATTError) -> V? {
            guard let characteristic = dis.characteristic(V.uuid), characteristic.properties.contains(.read) else {
                return nil
            }
            let bytes = try await client.read(handle: characteristic.valueHandle)
            do {
                return try V(decoding: bytes)
            } catch {
                identity.problems.append(error.description)
                return nil
            }
        }
        identity.manufacturerName = try await value(ManufacturerNameString.self)?.displayValue
        identity.modelNumber = try await value(ModelNumberString.self)?.displayValue
        identity.serialNumber = try await value(SerialNumberString.self)?.displayValue
        identity.hardwareRevision = try await value(HardwareRevisionString.self)?.displayValue
        identity.firmwareRevision = try await value(FirmwareRevisionString.self)?.displayValue
        identity.softwareRevision = try await value(SoftwareRevisionString.self)?.displayValue
        identity.systemID = try await value(SystemID.self)
        identity.regulatoryCertification = try await value(RegulatoryCertificationDataList.self)
        identity.pnpID = try await value(PnPID.self)
        return identity
    }

    static func battery(_ client: GATTClient, _ database: DiscoveredDatabase, emit: (ProfileEvent) async -> Void)
        async throws(GATTError)
    {
        guard let characteristic = database.characteristic(.batteryLevel, in: .batteryService) else { return }
        if let level = try? BatteryLevel(decoding: try await client.read(handle: characteristic.valueHandle)) {
            await emit(.batteryLevel(level))
        }
    }

    /// Reads the device clock through CTS and, when allowed and needed, sets it and reads it back.
    static func clock(
        _ client: GATTClient, _ database: DiscoveredDatabase, options: ProfileSessionOptions,
        emit: (ProfileEvent) async -> Void
    ) async throws(GATTError) {
        guard let current = database.characteristic(.currentTime, in: .currentTimeService),
            current.properties.contains(.read)
        else { return }
        let localTime: LocalTimeInformation?
        if let local = database.characteristic(.localTimeInformation, in: .currentTimeService),
            local.properties.contains(.read)
        {
            localTime = try? LocalTimeInformation(decoding: try await client.read(handle: local.valueHandle))
        } else {
            localTime = nil
        }
        guard let first = try await readClock(client, current.valueHandle, localTime, .read, options) else { return }
        await emit(.clock(first))
        guard let threshold = options.setDeviceClockWhenOffBy, current.properties.contains(.write) else { return }
        // A device that states its own UTC offset (Local Time Information) shows its wall clock in that offset;
        // otherwise it is taken to be in the configured zone.
        let zone = localTime?.utcOffsetMinutes.flatMap { TimeZone(secondsFromGMT: $0 * 60) } ?? options.deviceTimeZone
        let offset = abs(deviceOffsetSeconds(first, zone: zone) ?? .infinity)
        guard offset > threshold.seconds else { return }
        let target = currentTime(at: options.clock.now(), zone: zone)
        do {
            try await client.write(handle: current.valueHandle, value: target.encoded())
        } catch .errorResponse {
            return  // the device refused (e.g. value not allowed); its clock stays as observed
        }
        if let after = try await readClock(client, current.valueHandle, localTime, .afterSet, options) {
            await emit(.clock(after))
        }
    }

    private static func readClock(
        _ client: GATTClient, _ handle: UInt16, _ localTime: LocalTimeInformation?, _ kind: ClockObservation.Kind,
        _ options: ProfileSessionOptions
    ) async throws(GATTError) -> ClockObservation? {
        let before = options.clock.now()
        let bytes = try await client.read(handle: handle)
        let after = options.clock.now()
        guard let time = try? CurrentTime(decoding: bytes) else { return nil }
        let roundTrip = after.timeIntervalSince(before)
        return ClockObservation(
            kind: kind, deviceTime: time, localTime: localTime, gatewayTime: before.addingTimeInterval(roundTrip / 2),
            roundTrip: .milliseconds(Int64((roundTrip * 1000).rounded())))
    }

    /// Device wall clock minus gateway wall clock in `zone`, in seconds; nil when the device's date is unknown.
    static func deviceOffsetSeconds(_ observation: ClockObservation, zone: TimeZone) -> Double? {
        guard let deviceDate = date(of: observation.deviceTime.dateTime, zone: zone) else { return nil }
        return deviceDate.timeIntervalSince(observation.gatewayTime)
    }

    static func date(of time: DateTime, zone: TimeZone) -> Date? {
        guard let year = time.year, let month = time.month, let day = time.day else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar.date(
            from: DateComponents(
                year: year, month: month, day: day, hour: time.hour, minute: time.minute, second: time.second))
    }

    /// The Current Time value for `date` shown in `zone`, marked as an external-reference update.
    static func currentTime(at date: Date, zone: TimeZone) -> CurrentTime {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
        let weekday = parts.weekday.map { ($0 + 5) % 7 + 1 }  // Calendar: 1 = Sunday; CTS: 1 = Monday
        return CurrentTime(
            dateTime: DateTime(
                year: parts.year, month: parts.month, day: parts.day, hour: parts.hour ?? 0,
                minute: parts.minute ?? 0,
                second: parts.second ?? 0),
            dayOfWeek: weekday.flatMap { CurrentTime.DayOfWeek(rawValue: UInt8($0)) },
            fractions256: UInt8(min(255, (parts.nanosecond ?? 0) / 3_906_250)),
            adjustReason: CurrentTime.AdjustReason(externalReferenceTimeUpdate: true))
    }
}
