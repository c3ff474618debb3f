import Foundation

/// The Health Thermometer profile, collector side: identity, where it measures (Temperature Type), battery and clock,
/// then every stored and new Temperature Measurement the thermometer indicates, each confirmed only when the caller
/// acknowledges it as durable. Intermediate Temperature notifications are reported as progress.
///
/// A spot-check thermometer connects after a measurement, indicates what it holds and disconnects; the session ends
/// normally when the peer closes the link.
public struct HealthThermometerSession: Sendable {
    public let client: GATTClient
    public let options: ProfileSessionOptions

    public init(client: GATTClient, options: ProfileSessionOptions = ProfileSessionOptions()) {
        self.client = client
        self.options = options
    }

    public func run() -> ProfileEvents {
        disconnectEndedStream(client, options, Self.body)
    }

    private static func body(
        _ client: GATTClient, _ options: ProfileSessionOptions, _ emit: @escaping @Sendable (ProfileEvent) async -> Void
    ) async throws(GATTError) {
        let database = try await SessionPrelude.discover(client, emit: emit)
        guard let service = database.service(.healthThermometerService),
            let measurement = service.characteristic(.temperatureMeasurement),
            measurement.properties.contains(.indicate)
        else { throw .missing("the Health Thermometer Service with an indicating Temperature Measurement") }
        await emit(.identity(try await SessionPrelude.identity(client, database, link: options.link)))
        if let type = service.characteristic(.temperatureType), type.properties.contains(.read),
            let value = try? TemperatureType(decoding: try await client.read(handle: type.valueHandle))
        {
            await emit(.characteristicRead(value))
        }
        if let interval = service.characteristic(.measurementInterval), interval.properties.contains(.read),
            let value = try? MeasurementInterval(decoding: try await client.read(handle: interval.valueHandle))
        {
            await emit(.characteristicRead(value))
        }
        try await SessionPrelude.battery(client, database, emit: emit)
        try await SessionPrelude.clock(client, database, options: options, emit: emit)

        let inbox = SessionInbox(client: client, clock: options.timeoutClock)
        defer { inbox.finish() }
        let intermediate = service.characteristic(.intermediateTemperature)
        if let intermediate, intermediate.properties.contains(.notify) {
            try await client.configure(intermediate, .notifications)
        }
        try await client.configure(measurement, .indications)

        for await input in inbox.stream {
            switch input {
            case .event(.indication(let indication)):
                guard indication.handle == measurement.valueHandle else {
                    try await indication.acknowledgeDurable()  // not a reading (e.g. Service Changed)
                    continue
                }
                await emit(
                    decodedEvent(
                        TemperatureMeasurement.self, indication.value, receivedAt: options.clock.now(),
                        delivery: .indication,
                        acknowledgement: DurabilityAcknowledgement(kind: .indication(indication))))
            case .event(.notification(let handle, let value)):
                guard handle == intermediate?.valueHandle else { continue }
                await emit(
                    decodedEvent(
                        IntermediateTemperature.self, value, receivedAt: options.clock.now(), delivery: .notification,
                        acknowledgement: .none))
            case .event(.confirmedIndication), .deadline: continue
            case .linkClosed:
                throw await client.failure ?? .linkClosed(nil)
            }
        }
    }
}
