import BLEGateway
import Foundation
import Logging
import Provenance
import StreamEngine
import TimeSeries

/// The wiring of one data directory: the store, the engine's archive, the ledger and the engine; and the path
/// from a connected device to durable readings. `collect`, the daemon and the crash tests share it.
package struct GatewayPipeline: Sendable {
    package let store: TimeSeriesStore
    package let archive: ReadingArchive
    package let ledger: Ledger
    package let engine: StreamEngine
    /// Meters' RACP cursors, kept as records become durable without holding up confirmations.
    package let cursors: RecordCursorWriter
    /// Devices' discovered GATT databases between their connections (checked by Database Hash, or kept for a bonded
    /// device until it indicates Service Changed): a device that reconnects all day is not discovered every time.
    package let gattCache = GATTDatabaseCache()

    /// How long a touched summary window waits before its new version is computed and fed to the outbox. Ten minutes:
    /// a hub's hundred straps touch two hundred windows a minute, and a version each minute was more than the readings
    /// themselves wrote to the SD card; a PHR gets a window's summary at most ten minutes behind, and its final version.
    package static let summaryCoalesceMicros: Int64 = 600_000_000

    /// How long a notification may wait for others to share its batch, unless configured (`gateway.notification_linger`).
    /// Eight seconds: every batch costs a few partly written pages in three fsync'd files whatever its size, and at five
    /// a hub's hundred straps still wrote 66 bytes a notification (48 at eight). Nobody confirms a notification, so a
    /// crash loses at most this much of a strap's stream — as it would lose the notifications in flight anyway.
    package static let defaultNotificationLingerSeconds = 8.0

    package static func open(
        directory: String, zone: TimeZone, zones: [String: TimeZone] = [:], testSubjects: Set<String> = [],
        key: GatewayKey? = nil,
        notificationLingerSeconds: Double = defaultNotificationLingerSeconds
    ) throws -> GatewayPipeline {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "gatewayd.store")
        logger.logLevel = .warning
        let store = try TimeSeriesStore(directory: directory + "/store", logger: logger)
        let archive = try ReadingArchive(path: directory + "/engine.sqlite")
        let ledger = try Ledger(directory: directory + "/ledger", key: key)
        // Hourly and daily windows are revised at most every ten minutes, not once a batch (a strap notifies every second).
        let windows = WindowTracker(
            zones: zones, defaultZone: zone, testSubjects: testSubjects, coalesceMicros: summaryCoalesceMicros)
        // A strap's notifications (nobody confirms them) wait a few seconds to share a batch with others: one journal
        // transaction, fsync and ledger line for many instead of one each — on an SD card every transaction rewrites
        // whole pages. A reading that needs a confirmation cuts the wait short.
        var options = StreamEngineOptions()
        options.notificationLinger = .milliseconds(Int64(notificationLingerSeconds * 1000))
        options.ingestLock = try IngestLock(dataDirectory: directory)
        let engine = try StreamEngine(
            store: store, archive: archive, ledger: LedgerRecorder(ledger: ledger), windows: windows, options: options)
        return GatewayPipeline(
            store: store, archive: archive, ledger: ledger, engine: engine,
            cursors: RecordCursorWriter(archive: archive))
    }

    package func close() { store.close() }

    package static func mapperOptions(gatewayID: String, zone: TimeZone) -> ReadingMapperOptions {
        let policy = TimePolicy(timeZoneIdentifier: zone.identifier)
        return ReadingMapperOptions(gateway: GatewayRecord(id: gatewayID, softwareVersion: GatewayVersion.current)) {
            stamp, offset, received, clocks in
            TimeDecisionRules.decide(
                deviceTimestamp: stamp, deviceTimeOffsetMinutes: offset, receivedMicros: received, comparisons: clocks,
                policy: policy)
        }
    }

    /// Runs one connection to its end: every reading through the engine, the stored-record cursor persisted,
    /// and what the connection showed (readings received against expected, clock offset) kept for `status`.
    /// `onDevice` hears who the device is (its Device Information) before any reading; `onEvent` every profile
    /// event (stored-record counts, clocks) for progress.
    package func collect(
        bearer: any ATTBearer, link: String, zone: TimeZone, mapper: ReadingMapperOptions, cacheKey: String? = nil,
        bonded: Bool = false, userConsents: [UInt8: UInt16] = [:],
        newUserConsentCode: @escaping @Sendable (DeviceIdentity) async -> UInt16? = { _ in nil },
        onDevice: (@Sendable (DeviceRecord) async -> Void)? = nil, onEvent: (@Sendable (ProfileEvent) -> Void)? = nil,
        onOutcome: @escaping @Sendable (IngestOutcome, Reading) async -> Void
    ) async throws {
        let client = GATTClient(
            bearer: bearer, cache: cacheKey.map { GATTCacheSlot(cache: gattCache, key: $0, bonded: bonded) })
        // The client's receive loop runs beside the connection's work; the link closes when that work ends.
        try await client.receiving {
            let archive = self.archive
            let stats = ConnectionStats(policy: TimePolicy(timeZoneIdentifier: zone.identifier))
            var sessionOptions = ProfileSessionOptions(deviceTimeZone: zone, link: link)
            // A multi-user device's User Data Service consent codes (slot → code) for this link.
            sessionOptions.userConsents = { _ in userConsents }
            sessionOptions.newUserConsentCode = newUserConsentCode
            let connection = try await DeviceReadings.readings(
                client: client, sessionOptions: sessionOptions, mapperOptions: mapper,
                cursor: { device in try? archive.recordCursor(deviceKey: device.key) },
                // Kept as records become durable, so a timeout or a crash mid-transfer resumes where it stopped. (A cursor
                // that could not be saved only means records are asked for again: dedupe keeps them once.)
                saveCursor: { [cursors] device, next in cursors.save(deviceKey: device.key, next: next) },
                onEvent: { event in
                    stats.observe(event)
                    onEvent?(event)
                },
                onMalformed: { payload, identity in
                    try archive.recordMalformed(
                        deviceKey: identity.map { ReadingMapper.deviceRecord($0).key } ?? link,
                        characteristic: payload.characteristic.description,
                        bytes: payload.bytes, error: payload.error.description,
                        receivedMicros: Int64(payload.receivedAt.timeIntervalSince1970 * 1_000_000))
                })
            await onDevice?(connection.device)
            var failure: String?
            do {
                // Readings go on without waiting for their batch (up to 64 in flight), so they share batches; a device is
                // confirmed only once its readings are durable.
                // A reading that could not be stored is never confirmed: the link closes now rather than when the
                // acknowledgement times out (20 s), so the device keeps it and can reconnect soon.
                try await engine.consume(connection.readings, onOutcome: onOutcome, onFailure: nil)
            } catch let error as ProfileError where error.isOrdinaryEnd {
                // The device went away mid-transfer: what was acknowledged is durable; the rest comes next time.
                failure = "\(error)"
            } catch {
                failure = "\(error)"
                await cursors.flush()
                try? archive.recordConnection(stats.report(device: connection.device, error: failure))
                throw error
            }
            // The next connection starts from the cursor this one left.
            await cursors.flush()

            try archive.recordConnection(stats.report(device: connection.device, error: failure))
        }
    }
}

/// What one connection showed: measurements received, what the device announced or its cadence implies,
/// and the device clock's offset.
package final class ConnectionStats: @unchecked Sendable {
    private let lock = NSLock()
    private let policy: TimePolicy
    private let started = Date()
    private var received = 0
    /// Of `received`, the measurements a device keeps until acknowledged (indications, stored records): what a count it
    /// announced is compared with, not the oximeter's continuous values beside them.
    private var receivedKept = 0
    private var announced: Int?
    /// A device that notifies at a nominal cadence (a strap, once a second): what it should have sent.
    private var cadence: Duration?
    private var offset: Int64?
    private var battery: Int?
    private var comparisons: [ClockComparison] = []
    /// The meter no longer held the last record stored from it: everything was downloaded again.
    private var restarted = false

    package init(policy: TimePolicy) { self.policy = policy }

    package func observe(_ event: ProfileEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .measurement(let measurement):
            if measurement.measurement.value.isIntermediate { return }
            received += 1
            if measurement.delivery != .notification { receivedKept += 1 }
        case .discovered(let database): cadence = HealthProfile.of(database)?.notificationCadence
        case .storedRecordCount(let count): announced = (announced ?? 0) + count
        case .transferComplete(let transfer) where transfer.restartedFromFirstRecord: restarted = true
        case .batteryLevel(let level): battery = Int(level.percent)
        case .clock(let observation):
            let comparison = ReadingMapper.clockComparison(observation)
            comparisons.append(comparison)
            offset = TimeDecisionRules.clockOffsetMicros(comparison, policy: policy)
        default: break
        }
    }

    package func report(device: DeviceRecord, error: String?) -> ReadingArchive.ConnectionReport {
        lock.lock()
        defer { lock.unlock() }
        let ended = Date()
        let seconds = ended.timeIntervalSince(started)
        let expected =
            announced
            ?? cadence.map { cadence in
                let every = Double(cadence.components.seconds) + Double(cadence.components.attoseconds) / 1e18
                return max(1, Int((seconds / max(every, 0.001)).rounded()))
            }
        var report = ReadingArchive.ConnectionReport(
            device: device, startedMicros: Int64(started.timeIntervalSince1970 * 1_000_000),
            endedMicros: Int64(ended.timeIntervalSince1970 * 1_000_000),
            readingsReceived: announced == nil ? received : receivedKept, readingsExpected: expected,
            clockOffsetMicros: offset,
            clockComparisons: comparisons,
            error: error
                ?? (restarted
                    ? "the meter's record numbers went back (memory cleared, or another meter at its address): every record it holds "
                        + "was downloaded again, duplicates kept once" : nil))
        report.clockZone = policy.timeZoneIdentifier
        report.batteryPercent = battery
        return report
    }
}

package enum GatewayVersion {
    package static let current = "0.4.0"
}

extension ProfileError {
    /// A link closed by the device is how connections end; a caller need not treat it as a failure.
    package var isOrdinaryEnd: Bool {
        if case .gatt(.linkClosed) = self { return true }
        return false
    }
}

/// How an ingest outcome is written in logs and on the terminal.
package func outcomeLabel(_ outcome: IngestOutcome) -> String {
    switch outcome {
    case .stored(let identity): "stored \(identity.hex.prefix(12))"
    case .duplicate(let identity): "duplicate \(identity.hex.prefix(12))"
    case .quarantined: "quarantined"
    case .rejected(let why): "rejected (\(why))"
    }
}
