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

    /// The stream ends normally when the scale drops the link; a consent the scale refuses ends it with that error.
    public func run() -> ProfileEvents {
        let (client, options) = (self.client, self.options)
        return profileStream { emit throws(ProfileError) in
            do {
                try await Self.body(client, options, emit)
            } catch let error as ProfileError {
                throw error
            } catch let error as GATTError {
                if !error.isOrdinaryDisconnect { throw .gatt(error) }
            } catch {
                throw .missing("\(error)")
            }
        }
    }

    private static func body(
        _ client: GATTClient, _ options: ProfileSessionOptions, _ emit: @escaping @Sendable (ProfileEvent) async -> Void
    ) async throws {
        let database = try await SessionPrelude.discover(client, emit: emit)
        let weight = database.characteristic(.weightMeasurement, in: .weightScaleService).flatMap {
            $0.properties.contains(.indicate) ? $0 : nil
        }
        let composition = database.characteristic(.bodyCompositionMeasurement, in: .bodyCompositionService).flatMap {
            $0.properties.contains(.indicate) ? $0 : nil
        }
        guard weight != nil || composition != nil else {
            throw GATTError.missing("an indicating Weight Measurement or Body Composition Measurement")
        }
        let identity = try await SessionPrelude.identity(client, database, link: options.link)
        await emit(.identity(identity))
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

        let inbox = SessionInbox(client: client, clock: options.timeoutClock)
        defer { inbox.finish() }
        var inputs = inbox.stream.makeAsyncIterator()
        try await Self.consent(
            client, database, identity: identity, options: options, inbox: inbox, inputs: &inputs, emit: emit)
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

        while let input = await inputs.next() {
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
                throw await client.failure ?? GATTError.linkClosed(nil)
            }
        }
    }

    /// On a device with the User Data Service, before any measurement is asked for (the device sends only the
    /// consented user's data): registers a new user when pairing asks for one and consents as it; otherwise consents as
    /// the current user (User Index) when the gateway holds its code, else as the lowest slot it holds a code for — so
    /// one person's weighings still come when someone whose code the gateway lacks stepped on last. With no code for
    /// the current user nor any other, or a code the device refuses, the session ends with an error saying what to do.
    private static func consent(
        _ client: GATTClient, _ database: DiscoveredDatabase, identity: DeviceIdentity, options: ProfileSessionOptions,
        inbox: SessionInbox, inputs: inout AsyncStream<SessionInput>.Iterator,
        emit: @escaping @Sendable (ProfileEvent) async -> Void
    ) async throws {
        guard let point = database.characteristic(.userControlPoint, in: .userDataService),
            point.properties.contains(.write), point.properties.contains(.indicate),
            let indexCharacteristic = database.characteristic(.userIndex, in: .userDataService)
        else { return }
        let current =
            (try? UserIndex(decoding: try await client.read(handle: indexCharacteristic.valueHandle)))
            ?? UserIndex(index: 0xFF)
        await emit(.characteristicRead(current))
        var held = await options.userConsents(identity)
        try await client.configure(point, .indications)
        let slot: UInt8
        if let code = await options.newUserConsentCode(identity) {
            guard UserControlPoint.consentCodes.contains(code) else {
                throw ProfileError.userConsent(slot: 0xFF, problem: "consent code \(code) is not 0-9999")
            }
            let (result, index) = try await request(
                .registerNewUser(consentCode: code), point: point, client: client, options: options, inbox: inbox,
                inputs: &inputs)
            guard result == .success, let index else {
                throw ProfileError.userConsent(
                    slot: 0xFF, problem: "the device did not register a new user (\(result.specName))")
            }
            await emit(.userRegistered(slot: index, consentCode: code))
            held[index] = code
            slot = index
        } else if !current.isUnknown, held[current.index] != nil {
            slot = current.index
        } else if let lowest = held.keys.min() {
            slot = lowest
        } else if current.isUnknown {
            return  // nobody selected on the device and no code held: nothing of a user's to ask for
        } else {
            throw ProfileError.userConsent(slot: current.index, problem: "this gateway holds no consent code for it")
        }
        let (result, _) = try await request(
            .consent(userIndex: slot, consentCode: held[slot] ?? 0), point: point, client: client, options: options,
            inbox: inbox, inputs: &inputs)
        guard result == .success else {
            throw ProfileError.userConsent(
                slot: slot, problem: "the device refused its consent code (\(result.specName))")
        }
    }

    /// Writes one User Control Point request and waits for the device's Response Code to it: the result, and the new
    /// user's slot after a registration. Other indications meanwhile (e.g. Service Changed) are confirmed and skipped.
    private static func request(
        _ request: UserControlPoint, point: DiscoveredCharacteristic, client: GATTClient,
        options: ProfileSessionOptions, inbox: SessionInbox, inputs: inout AsyncStream<SessionInput>.Iterator
    ) async throws -> (UserControlPoint.Result, UInt8?) {
        let bytes = request.encoded()
        try await client.write(handle: point.valueHandle, value: bytes)
        let deadline = inbox.schedule(2, after: options.procedureTimeout)
        defer { deadline.cancel() }
        while let input = await inputs.next() {
            switch input {
            case .event(.indication(let indication)):
                try await indication.acknowledgeDurable()
                guard indication.handle == point.valueHandle,
                    case .response(bytes.first ?? 0, let result, let index)? = try? UserControlPoint(
                        decoding: indication.value)
                else { continue }
                return (result, index)
            case .deadline(2):
                throw ProfileError.controlPointTimeout(UserControlPoint.name, seconds: options.procedureTimeout.seconds)
            case .event, .deadline: continue
            case .linkClosed: throw await client.failure ?? GATTError.linkClosed(nil)
            }
        }
        throw await client.failure ?? GATTError.linkClosed(nil)
    }
}
