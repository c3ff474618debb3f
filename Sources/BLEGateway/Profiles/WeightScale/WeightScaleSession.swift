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

        let inbox = SessionInbox(client: client)
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

    /// On a device with the User Data Service: the current user slot (User Index), and Consent with the code this
    /// gateway holds for it, before any measurement is asked for — the device sends only the consented user's data.
    /// A slot without a code, or a code the device refuses, ends the session with an error that says what to do.
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
        guard !current.isUnknown else { return }  // nobody selected on the device: nothing of a user's to ask for
        guard let code = await options.userConsents(identity)[current.index] else {
            throw ProfileError.userConsent(slot: current.index, problem: "this gateway holds no consent code for it")
        }
        try await client.configure(point, .indications)
        try await client.write(
            handle: point.valueHandle,
            value: UserControlPoint.consent(userIndex: current.index, consentCode: code).encoded())
        let deadline = inbox.schedule(2, after: options.procedureTimeout)
        defer { deadline.cancel() }
        while let input = await inputs.next() {
            switch input {
            case .event(.indication(let indication)) where indication.handle == point.valueHandle:
                try await indication.acknowledgeDurable()
                guard case .response(0x02, let result, _)? = try? UserControlPoint(decoding: indication.value) else {
                    continue
                }
                guard result == .success else {
                    throw ProfileError.userConsent(
                        slot: current.index, problem: "the device refused its consent code (\(result.specName))")
                }
                return
            case .event(.indication(let indication)):
                try await indication.acknowledgeDurable()
            case .deadline(2):
                throw ProfileError.procedureTimeout(seconds: options.procedureTimeout.seconds)
            case .event, .deadline: continue
            case .linkClosed: throw await client.failure ?? GATTError.linkClosed(nil)
            }
        }
    }

    /// Registers a new user on a device with the User Data Service under `consentCode` (0-9999), and returns the slot
    /// the device gave it — what pairing keeps with the person the slot belongs to.
    public static func registerNewUser(
        consentCode: UInt16, client: GATTClient, database: DiscoveredDatabase, timeout: Duration = .seconds(30)
    ) async throws(ProfileError) -> UInt8 {
        guard UserControlPoint.consentCodes.contains(consentCode) else {
            throw .userConsent(slot: 0xFF, problem: "consent code \(consentCode) is not 0-9999")
        }
        guard let point = database.characteristic(.userControlPoint, in: .userDataService) else {
            throw .missing("the User Data Service's User Control Point")
        }
        let inbox = SessionInbox(client: client)
        defer { inbox.finish() }
        let deadline = inbox.schedule(1, after: timeout)
        defer { deadline.cancel() }
        do {
            try await client.configure(point, .indications)
            try await client.write(
                handle: point.valueHandle, value: UserControlPoint.registerNewUser(consentCode: consentCode).encoded())
            for await input in inbox.stream {
                switch input {
                case .event(.indication(let indication)):
                    try await indication.acknowledgeDurable()
                    guard indication.handle == point.valueHandle,
                        case .response(0x01, let result, let index)? = try? UserControlPoint(decoding: indication.value)
                    else { continue }
                    guard result == .success, let index else {
                        throw ProfileError.userConsent(
                            slot: 0xFF, problem: "the device did not register a new user (\(result.specName))")
                    }
                    return index
                case .deadline: throw ProfileError.procedureTimeout(seconds: timeout.seconds)
                case .event: continue
                case .linkClosed: throw ProfileError.gatt(await client.failure ?? .linkClosed(nil))
                }
            }
        } catch let error as ProfileError {
            throw error
        } catch let error as GATTError {
            throw .gatt(error)
        } catch {
            throw .missing("\(error)")
        }
        throw .gatt(await client.failure ?? .linkClosed(nil))
    }

}
