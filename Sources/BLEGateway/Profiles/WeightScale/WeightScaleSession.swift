import Foundation
import Metrics

/// The Weight Scale and Body Composition profiles, collector side: identity, both Feature characteristics, battery
/// and clock; then every Weight Measurement and Body Composition Measurement the scale indicates, each confirmed only
/// when the caller acknowledges it as durable. A scale ends the session by dropping the link.
///
/// A body composition measurement longer than the link allows comes as two indications, both marked "multiple packet".
/// The first is confirmed as it arrives — the scale sends nothing more before it is — and held; the measurement is the
/// two joined, and the second packet's confirmation waits until the measurement is durable. A link lost in between
/// leaves the measurement on the scale (its last packet unconfirmed), which sends it again.
public struct WeightScaleSession: Sendable {
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
        let weight = database.characteristic(.weightMeasurement, in: .weightScaleService).flatMap {
            $0.properties.contains(.indicate) ? $0 : nil
        }
        let composition = database.characteristic(.bodyCompositionMeasurement, in: .bodyCompositionService).flatMap {
            $0.properties.contains(.indicate) ? $0 : nil
        }
        guard weight != nil || composition != nil else {
            throw .missing("an indicating Weight Measurement or Body Composition Measurement")
        }
        await emit(.identity(try await SessionPrelude.identity(client, database, link: options.link)))
        if let feature = database.characteristic(.weightScaleFeature, in: .weightScaleService),
            feature.properties.contains(.read),
            let value = try? WeightScaleFeature(decoding: try await client.read(handle: feature.valueHandle))
        {
            await emit(.characteristicRead(value))
        }
        if let feature = database.characteristic(.bodyCompositionFeature, in: .bodyCompositionService),
            feature.properties.contains(.read),
            let value = try? BodyCompositionFeature(decoding: try await client.read(handle: feature.valueHandle))
        {
            await emit(.characteristicRead(value))
        }
        try await SessionPrelude.battery(client, database, emit: emit)
        try await SessionPrelude.clock(client, database, options: options, emit: emit)

        let inbox = SessionInbox(client: client)
        defer { inbox.finish() }
        if let composition { try await client.configure(composition, .indications) }
        if let weight { try await client.configure(weight, .indications) }

        /// The first packet of a two-packet body composition measurement, confirmed and waiting for the second.
        var firstPacket: (packet: BodyCompositionMeasurement, bytes: [UInt8], receivedAt: Date)?

        func emitComposition(
            _ packets: [(BodyCompositionMeasurement, [UInt8])], receivedAt: Date,
            acknowledgement: DurabilityAcknowledgement
        ) async {
            await emit(
                .measurement(
                    ReceivedMeasurement(
                        measurement: Measurement(BodyCompositionRecord(packets: packets.map(\.0))),
                        characteristic: .bodyCompositionMeasurement,
                        rawPayloads: packets.map(\.1), receivedAt: receivedAt, delivery: .indication,
                        contextMissing: false,
                        acknowledgement: acknowledgement)))
        }

        for await input in inbox.stream {
            switch input {
            case .event(.indication(let indication)) where indication.handle == weight?.valueHandle:
                await emit(
                    decodedEvent(
                        WeightMeasurement.self, indication.value, receivedAt: options.clock.now(),
                        delivery: .indication,
                        acknowledgement: DurabilityAcknowledgement(kind: .indication(indication))))
            case .event(.indication(let indication)) where indication.handle == composition?.valueHandle:
                let now = options.clock.now()
                let acknowledgement = DurabilityAcknowledgement(kind: .indication(indication))
                let packet: BodyCompositionMeasurement
                do {
                    packet = try BodyCompositionMeasurement(decoding: indication.value)
                } catch {
                    Counter(
                        label: "gatewayd_ble_malformed_payloads_total",
                        dimensions: [("characteristic", "\(BluetoothUUID.bodyCompositionMeasurement)")]
                    )
                    .increment()
                    await emit(
                        .malformed(
                            MalformedPayload(
                                characteristic: .bodyCompositionMeasurement, bytes: indication.value, error: error,
                                receivedAt: now,
                                delivery: .indication, acknowledgement: acknowledgement)))
                    continue
                }
                if let first = firstPacket {
                    firstPacket = nil
                    if packet.multiplePacket {
                        await emitComposition(
                            [(first.packet, first.bytes), (packet, indication.value)], receivedAt: now,
                            acknowledgement: acknowledgement)
                        continue
                    }
                    // The second packet never came: the first is kept as it is (its measurement incomplete, and said so).
                    await emitComposition(
                        [(first.packet, first.bytes)], receivedAt: first.receivedAt, acknowledgement: .none)
                }
                if packet.multiplePacket {
                    firstPacket = (packet, indication.value, now)
                    try await indication.acknowledgeDurable()  // the scale waits for it before the second packet
                } else {
                    await emitComposition(
                        [(packet, indication.value)], receivedAt: now, acknowledgement: acknowledgement)
                }
            case .event(.indication(let indication)):
                try await indication.acknowledgeDurable()  // not a reading (e.g. Service Changed)
            case .event, .deadline: continue
            case .linkClosed:
                throw await client.failure ?? .linkClosed(nil)
            }
        }
    }
}
