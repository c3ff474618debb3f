import Foundation

/// Everything the gateway knows about one GATT health profile, in one value: how it is recognised (service UUID,
/// appearance), what it decodes, how a connection runs, how it is simulated, and what people and configuration call
/// it. The layers ask the descriptor instead of switching on a kind of device, so a new profile is one folder and one
/// line in `HealthProfile.all` (README "Adding a device profile").
public struct HealthProfile: Sendable, Hashable, CustomStringConvertible {
    /// The name configuration files, `gatewayd pair` and the paired-device list use: "blood_pressure".
    public let id: String
    /// The service's name in the Bluetooth specification: "Blood Pressure".
    public let serviceName: String
    /// The primary service that identifies the profile (0x1810).
    public let service: BluetoothUUID
    /// What a person would call the device on a list of things found nearby: "blood-pressure monitor".
    public let deviceName: String
    /// GAP Appearance categories (the 10 upper bits) devices of this kind advertise.
    public let appearanceCategories: [UInt16]
    /// Every characteristic of the profile the gateway decodes (`gatewayd decode`, the fuzz corpus).
    public let characteristics: [any CharacteristicValue.Type]
    /// Runs the profile's session on a connected, discovered device. `cursor` is the device's durable stored-record
    /// cursor; profiles without stored records ignore it.
    public let session:
        @Sendable (_ client: GATTClient, _ cursor: StoredRecordCursor, _ options: ProfileSessionOptions) ->
            ProfileEvents
    /// A device that notifies its measurements at a nominal cadence (a strap, once a second): a connection's report
    /// expects that many. nil for devices that say how many records they send, or send what was measured.
    public let notificationCadence: Duration?
    /// How `gatewayd simulate`, the demo and the tests make a device of this kind.
    public let simulator: SimulatorRecipe

    public init(
        id: String, serviceName: String, service: BluetoothUUID, deviceName: String, appearanceCategories: [UInt16],
        characteristics: [any CharacteristicValue.Type],
        session: @escaping @Sendable (GATTClient, StoredRecordCursor, ProfileSessionOptions) -> ProfileEvents,
        notificationCadence: Duration? = nil, simulator: SimulatorRecipe
    ) {
        self.notificationCadence = notificationCadence
        (self.id, self.serviceName, self.service, self.deviceName) = (id, serviceName, service, deviceName)
        (self.appearanceCategories, self.characteristics, self.session, self.simulator) =
            (appearanceCategories, characteristics, session, simulator)
    }

    /// "Blood Pressure (0x1810)".
    public var description: String { "\(serviceName) (\(service))" }

    public static func == (lhs: HealthProfile, rhs: HealthProfile) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    /// The profile named `name`: its `id` ("blood_pressure") or its simulator's short name ("bp").
    public static func named(_ name: String) -> HealthProfile? {
        all.first { $0.id == name || $0.simulator.shortName == name }
    }

    /// The profile whose primary service is `uuid`.
    public static func serving(_ uuid: BluetoothUUID) -> HealthProfile? { all.first { $0.service == uuid } }

    /// The profile a discovered device speaks: the first registered profile whose service it has.
    public static func of(_ database: DiscoveredDatabase) -> HealthProfile? {
        all.first { database.service($0.service) != nil }
    }

    /// "a blood pressure, glucose or heart rate service": what a device lacking every profile is told it lacks.
    public static var serviceList: String {
        let names = all.map { $0.serviceName.lowercased() }
        guard let last = names.last else { return "a health service" }
        return "a " + (names.count == 1 ? last : names.dropLast().joined(separator: ", ") + " or " + last) + " service"
    }
}

/// How a profile's simulated device is made and driven.
public struct SimulatorRecipe: Sendable {
    /// The name `gatewayd simulate --device` also accepts: "bp".
    public let shortName: String
    /// The model the demo's devices report ("BP-7") and the base of their System IDs.
    public let model: String
    public let systemIDBase: UInt64
    /// How far apart a device's stored measurements are when it starts with a memory.
    public let recordSpacing: TimeInterval
    /// True for a device that streams notifications while connected (a strap); false for one that measures, then
    /// advertises so the gateway connects and downloads (a cuff, a meter, a thermometer).
    public let streams: Bool
    public let make: @Sendable (SimulatorSettings) -> any SimulatedHealthDevice

    public init(
        shortName: String, model: String, systemIDBase: UInt64, recordSpacing: TimeInterval, streams: Bool,
        make: @escaping @Sendable (SimulatorSettings) -> any SimulatedHealthDevice
    ) {
        (self.shortName, self.model, self.systemIDBase, self.recordSpacing, self.streams, self.make) =
            (shortName, model, systemIDBase, recordSpacing, streams, make)
    }
}

/// What every simulated device can be told; each profile takes what applies to it.
public struct SimulatorSettings: Sendable {
    /// nil: the simulator's own default identity.
    public var identity: SimulatedIdentity?
    public var clock = SimulatedClock()
    public var seed: UInt64 = 7
    /// A streaming device: time between notifications, and how many before it stops (nil: until the link closes).
    public var interval: Duration = .seconds(1)
    public var count: Int?
    public var faults = SimulatedFaults()
    /// Send stored readings again on every connection (a cuff), or ignore the RACP filter (a meter).
    public var resendStored = false
    /// A meter deletes records once reported.
    public var deleteAfterTransfer = false
    /// A meter drops the link after this many records of a transfer, once.
    public var disconnectAfter: Int?
    /// A multi-user device with the User Data Service, its users registered (slot → consent code); nil: no UDS.
    public var userConsents: [UInt8: UInt16]?

    public init() {}
}

/// A simulated device of a health profile: serves connections and takes new measurements when told.
public protocol SimulatedHealthDevice: SimulatedPeripheral {
    /// Takes `count` measurements for the given user slots (ignored by single-user devices), `spacing` apart and
    /// ending at `end` (nil: the device's "now"), deterministically from `seed`. A streaming device measures while
    /// connected and ignores this.
    func measure(count: Int, users: [UInt8], seed: UInt64, end: Date?, spacing: TimeInterval) async
}
