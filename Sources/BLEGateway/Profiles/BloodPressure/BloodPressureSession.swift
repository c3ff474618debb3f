import Foundation

/// The Blood Pressure profile, collector side: identity and clock first, then every stored and new reading
/// the cuff indicates, each confirmed only when the caller acknowledges it as durable.
///
/// Cuffs typically connect after a measurement, indicate what they hold, and disconnect; the session ends
/// normally when the peer closes the link.
public struct BloodPressureSession: Sendable {
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
        guard let service = database.service(.bloodPressureService),
            let measurement = service.characteristic(.bloodPressureMeasurement),
            measurement.properties.contains(.indicate)
        else { throw .missing("the Blood Pressure Service with an indicating Blood Pressure Measurement") }
        await emit(.identity(try await SessionPrelude.identity(client, database, link: options.link)))
        if let feature = service.characteristic(.bloodPressureFeature), feature.properties.contains(.read),
            let value = try? BloodPressureFeature(decoding: try await client.read(handle: feature.valueHandle))
        {
            await emit(.characteristicRead(value))
        }
        try await SessionPrelude.battery(client, database, emit: emit)
        try await SessionPrelude.clock(client, database, options: options, emit: emit)

        let inbox = SessionInbox(client: client, clock: options.timeoutClock)
        defer { inbox.finish() }
        let cuff = service.characteristic(.intermediateCuffPressure)
        if let cuff, cuff.properties.contains(.notify) { try await client.configure(cuff, .notifications) }
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
                        BloodPressureMeasurement.self, indication.value, receivedAt: options.clock.now(),
                        delivery: .indication,
                        acknowledgement: DurabilityAcknowledgement(kind: .indication(indication))))
            case .event(.notification(let handle, let value)):
                guard handle == cuff?.valueHandle else { continue }
                await emit(
                    decodedEvent(
                        IntermediateCuffPressure.self, value, receivedAt: options.clock.now(), delivery: .notification,
                        acknowledgement: .none))
            case .event(.confirmedIndication), .deadline: continue
            case .linkClosed:
                throw await client.failure ?? .linkClosed(nil)
            }
        }
    }
}
