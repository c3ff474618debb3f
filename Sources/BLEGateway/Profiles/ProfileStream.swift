import Foundation
import Metrics

/// A session's events, as it emits them: bounded, so a session whose consumer is behind stops reading its link.
public typealias ProfileEvents = BoundedChannel<ProfileEvent>

/// Events a session may emit before it waits for its consumer (a glucose record and its context, a few over).
let profileEventCapacity = 4

/// Runs a session body in a task and exposes what it emits as a stream; cancelling the consumer cancels the
/// body. The stream ends with the body's error, if any. `emit` waits while the consumer is `profileEventCapacity`
/// events behind.
func profileStream(
    _ body:
        @escaping @Sendable (_ emit: @escaping @Sendable (ProfileEvent) async -> Void) async throws(ProfileError) ->
        Void
) -> ProfileEvents {
    ProfileEvents.producing(capacity: profileEventCapacity) { channel in
        // A consumer that went away cancels this task; the session then ends at its next await.
        try await body { event in try? await channel.send(event) }
    }
}

/// The stream of a session that ends normally when the device drops the link (cuffs and straps do): the
/// body's ordinary disconnect finishes the stream, any other GATT error fails it.
func disconnectEndedStream(
    _ client: GATTClient, _ options: ProfileSessionOptions,
    _ body:
        @escaping @Sendable (GATTClient, ProfileSessionOptions, @escaping @Sendable (ProfileEvent) async -> Void)
        async throws(GATTError) -> Void
) -> ProfileEvents {
    profileStream { emit throws(ProfileError) in
        do throws(GATTError) {
            try await body(client, options, emit)
        } catch {
            if !error.isOrdinaryDisconnect { throw .gatt(error) }
        }
    }
}

extension GATTError {
    /// A link that ended because the peer closed it is how BP cuffs and HR straps finish; everything else is
    /// a failure the caller should see.
    var isOrdinaryDisconnect: Bool {
        if case .linkClosed(let reason) = self { return reason == nil || reason == .closed }
        return false
    }
}

/// Decodes a received payload into an event: the measurement, or the malformed payload with its
/// acknowledgement so its raw bytes can be kept.
func decodedEvent<Value: CharacteristicValue & HealthMeasurement>(
    _ type: Value.Type, _ bytes: [UInt8], receivedAt: Date, delivery: MeasurementDelivery,
    acknowledgement: DurabilityAcknowledgement
) -> ProfileEvent {
    do {
        let value = try Value(decoding: bytes)
        return .measurement(
            ReceivedMeasurement(
                measurement: Measurement(value), characteristic: Value.uuid, rawPayloads: [bytes],
                receivedAt: receivedAt,
                delivery: delivery, contextMissing: false, acknowledgement: acknowledgement))
    } catch {
        Counter(label: "gatewayd_ble_malformed_payloads_total", dimensions: [("characteristic", "\(Value.uuid)")])
            .increment()
        return .malformed(
            MalformedPayload(
                characteristic: Value.uuid, bytes: bytes, error: error, receivedAt: receivedAt, delivery: delivery,
                acknowledgement: acknowledgement))
    }
}
