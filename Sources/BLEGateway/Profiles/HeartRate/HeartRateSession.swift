import Foundation

/// The Heart Rate profile, collector side: identity, body sensor location, then notifications until the
/// strap goes away. Notifications need no acknowledgement; the strap does not keep them.
public struct HeartRateSession: Sendable {
    public let client: GATTClient
    public let options: ProfileSessionOptions

    public init(client: GATTClient, options: ProfileSessionOptions = ProfileSessionOptions()) {
        self.client = client
        self.options = options
    }

    /// Resets the strap's Energy Expended counter (Heart Rate Control Point, op code 1).
    public static func resetEnergyExpended(client: GATTClient, database: DiscoveredDatabase) async throws(ProfileError)
    {
        guard let controlPoint = database.characteristic(.heartRateControlPoint, in: .heartRateService) else {
            throw .missing("the Heart Rate Control Point (energy expended is not supported)")
        }
        do {
            try await client.write(
                handle: controlPoint.valueHandle, value: HeartRateControlPoint(opCode: .resetEnergyExpended).encoded())
        } catch {
            throw .gatt(error)
        }
    }

    public func run() -> ProfileEvents {
        disconnectEndedStream(client, options, Self.body)
    }

    private static func body(
        _ client: GATTClient, _ options: ProfileSessionOptions, _ emit: @escaping @Sendable (ProfileEvent) async -> Void
    ) async throws(GATTError) {
        let database = try await SessionPrelude.discover(client, emit: emit)
        guard let service = database.service(.heartRateService),
            let measurement = service.characteristic(.heartRateMeasurement), measurement.properties.contains(.notify)
        else { throw .missing("the Heart Rate Service with a notifying Heart Rate Measurement") }
        await emit(.identity(try await SessionPrelude.identity(client, database, link: options.link)))
        if let location = service.characteristic(.bodySensorLocation), location.properties.contains(.read),
            let value = try? BodySensorLocation(decoding: try await client.read(handle: location.valueHandle))
        {
            await emit(.characteristicRead(value))
        }
        try await SessionPrelude.battery(client, database, emit: emit)

        let inbox = SessionInbox(client: client, clock: options.timeoutClock)
        defer { inbox.finish() }
        try await client.configure(measurement, .notifications)
        for await input in inbox.stream {
            switch input {
            case .event(.notification(let handle, let value)) where handle == measurement.valueHandle:
                await emit(
                    decodedEvent(
                        HeartRateMeasurement.self, value, receivedAt: options.clock.now(), delivery: .notification,
                        acknowledgement: .none))
            case .event(.indication(let indication)):
                try await indication.acknowledgeDurable()
            case .event, .deadline: continue
            case .linkClosed:
                throw await client.failure ?? .linkClosed(nil)
            }
        }
    }
}
