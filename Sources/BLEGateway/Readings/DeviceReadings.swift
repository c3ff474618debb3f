import Foundation
import Provenance

/// One connected device's readings, whatever its profile: discovers the services, runs the matching profile
/// session, and maps its measurements to `PendingReading`s. The same path serves the daemon, `gatewayd
/// collect` and the tests.
public enum DeviceReadings {
    /// `cursor` is asked for the device's durable stored-record cursor once its identity is known; the
    /// returned cursor moves as readings are acknowledged, and `saveCursor` is told each move as it happens (nil: the
    /// meter was restarted from its first record).
    public static func readings(
        client: GATTClient, sessionOptions: ProfileSessionOptions, mapperOptions: ReadingMapperOptions,
        cursor: @Sendable (DeviceRecord) async -> UInt16?,
        saveCursor: (@Sendable (DeviceRecord, UInt16?) async -> Void)? = nil,
        onEvent: (@Sendable (ProfileEvent) -> Void)? = nil, onMalformed: @escaping ReadingCollector.MalformedHandler
    ) async throws(ProfileError) -> (readings: PendingReadings, device: DeviceRecord, cursor: StoredRecordCursor) {
        let database: DiscoveredDatabase
        let identity: DeviceIdentity
        do {
            try await client.exchangeMTU()
            database = try await client.discoverAll()
            identity = try await SessionPrelude.identity(client, database, link: sessionOptions.link)
        } catch {
            throw .gatt(error)
        }
        let device = ReadingMapper.deviceRecord(identity)
        var onMove: (@Sendable (UInt16?) async -> Void)?
        if let saveCursor { onMove = { next in await saveCursor(device, next) } }
        let cursor = StoredRecordCursor(next: await cursor(device), onMove: onMove)
        guard let profile = HealthProfile.of(database) else { throw .missing(HealthProfile.serviceList) }
        let events = profile.session(client, cursor, sessionOptions)
        return (
            ReadingCollector.readings(from: events, options: mapperOptions, onEvent: onEvent, onMalformed: onMalformed),
            device, cursor
        )
    }
}
