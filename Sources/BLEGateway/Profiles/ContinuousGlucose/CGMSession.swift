import Foundation
import Metrics

/// The Continuous Glucose Monitoring profile, collector side: identity, CGM Feature, Session Start Time (the records'
/// time base), Status and Session Run Time, battery; then the sensor's stored records from the durable cursor on through the RACP (filter:
/// Time Offset), and live records as they are notified, until the sensor drops the link.
///
/// Every record — stored or live — moves the durable cursor only once acknowledged, so a dropped link resumes after
/// the last durable record. Time offsets restart at 0 with a new session: when the sensor no longer holds the last
/// durable offset, everything it holds is asked for again and kept once (a reading's identity).
public struct CGMSession: Sendable {
    public let client: GATTClient
    public let cursor: StoredRecordCursor
    public let options: ProfileSessionOptions

    public init(
        client: GATTClient, cursor: StoredRecordCursor, options: ProfileSessionOptions = ProfileSessionOptions()
    ) {
        (self.client, self.cursor, self.options) = (client, cursor, options)
    }

    public func run() -> ProfileEvents {
        let session = self
        return profileStream { emit throws(ProfileError) in
            do throws(ProfileError) {
                try await session.body(emit)
            } catch .gatt(let error) where error.isOrdinaryDisconnect {
                return
            }
        }
    }

    /// Runs the Specific Ops Control Point procedures the options ask for, one at a time — start or stop the sensor's
    /// session, set or read the communication interval — each answered by the sensor's indication before the next is
    /// written; each answer is emitted as read. The requests carry the E2E-CRC, and the answers' CRC is checked, when the
    /// CGM Feature says the sensor uses it. Runs on the session's own inbox: a client's events have one reader.
    private static func operate(
        _ requests: [CGMSpecificOpsControlPoint], point: DiscoveredCharacteristic, crc: Bool, client: GATTClient,
        timeout: Duration, inbox: SessionInbox, inputs: inout AsyncStream<SessionInput>.Iterator,
        emit: @escaping @Sendable (ProfileEvent) async -> Void
    ) async throws(ProfileError) {
        for var request in requests {
            request.crcProtected = crc
            do {
                try await client.write(handle: point.valueHandle, value: request.encoded())
            } catch {
                throw .gatt(error)
            }
            let deadline = inbox.schedule(2, after: timeout)
            defer { deadline.cancel() }
            waiting: while let input = await inputs.next() {
                switch input {
                case .event(.indication(let indication)):
                    do { try await indication.acknowledgeDurable() } catch { throw .gatt(error) }
                    guard indication.handle == point.valueHandle else { continue }
                    do {
                        await emit(
                            .characteristicRead(
                                try CGMSpecificOpsControlPoint(answer: indication.value, crcProtected: crc)))
                    } catch {
                        throw .unexpectedControlPointResponse("\(error)")
                    }
                    break waiting
                case .deadline(2):
                    throw .controlPointTimeout(CGMSpecificOpsControlPoint.name, seconds: timeout.seconds)
                case .event, .deadline: continue
                case .linkClosed: throw .gatt(await client.failure ?? .linkClosed(nil))
                }
            }
        }
    }

    private enum Transfer {
        case counting(restartCheck: Bool)
        case reporting(announced: Int?)
        case done
    }

    private func body(_ emit: @escaping @Sendable (ProfileEvent) async -> Void) async throws(ProfileError) {
        let (client, options, cursor) = (self.client, self.options, self.cursor)
        let database: DiscoveredDatabase
        do {
            database = try await SessionPrelude.discover(client, emit: emit)
        } catch {
            throw .gatt(error)
        }
        guard let service = database.service(.continuousGlucoseMonitoringService),
            let measurement = service.characteristic(.cgmMeasurement), measurement.properties.contains(.notify),
            let controlPoint = service.characteristic(.recordAccessControlPoint),
            controlPoint.properties.contains(.indicate), controlPoint.properties.contains(.write)
        else { throw .missing("the CGM Service with CGM Measurement notifications and a Record Access Control Point") }
        var crc = false
        do {
            await emit(.identity(try await SessionPrelude.identity(client, database, link: options.link)))
            if let characteristic = service.characteristic(.cgmFeature), characteristic.properties.contains(.read),
                let feature = try? CGMFeature(decoding: try await client.read(handle: characteristic.valueHandle))
            {
                crc = feature.supportsE2ECRC
                await emit(.characteristicRead(feature))
            }
            // The session's time base, then where it stands and how long it runs (a stopped session, a failing
            // sensor, a sensor due for replacement are said before any record).
            for value in [CGMSessionStartTime.self, CGMStatus.self, CGMSessionRunTime.self]
                as [any CharacteristicValue.Type]
            {
                if let characteristic = service.characteristic(value.uuid), characteristic.properties.contains(.read),
                    let read = try? value.init(decoding: try await client.read(handle: characteristic.valueHandle))
                {
                    await emit(.characteristicRead(read))
                }
            }
            try await SessionPrelude.battery(client, database, emit: emit)
        } catch {
            throw .gatt(error)
        }

        let inbox = SessionInbox(client: client, clock: options.timeoutClock)
        defer { inbox.finish() }
        var deadline: Task<Void, Never>?
        defer { deadline?.cancel() }
        func write(_ request: RACPRequest) async throws(ProfileError) {
            deadline?.cancel()
            deadline = inbox.schedule(1, after: options.procedureTimeout)
            do {
                try await client.write(handle: controlPoint.valueHandle, value: request.encoded())
            } catch {
                throw .gatt(error)
            }
        }
        var transfer: Transfer
        var delivered = 0
        do {
            try await client.configure(measurement, .notifications)
            try await client.configure(controlPoint, .indications)
            if let socp = service.characteristic(.cgmSpecificOpsControlPoint), socp.properties.contains(.indicate) {
                try await client.configure(socp, .indications)
            }
        } catch {
            throw .gatt(error)
        }
        var inputs = inbox.stream.makeAsyncIterator()
        if !options.cgmOperations.isEmpty {
            guard let socp = service.characteristic(.cgmSpecificOpsControlPoint), socp.properties.contains(.write),
                socp.properties.contains(.indicate)
            else { throw .missing("the CGM Specific Ops Control Point") }
            try await Self.operate(
                options.cgmOperations, point: socp, crc: crc, client: client, timeout: options.procedureTimeout,
                inbox: inbox, inputs: &inputs, emit: emit)
        }
        // From the last durable record: a sensor that still holds it continues; one that does not (a new session,
        // offsets from 0 again) is asked for everything.
        if let last = await cursor.lastDurable {
            transfer = .counting(restartCheck: true)
            try await write(.reportNumberOfStoredRecords(.greaterThanOrEqualTo(.sequenceNumber(last))))
        } else {
            transfer = .counting(restartCheck: false)
            try await write(.reportNumberOfStoredRecords(.allRecords))
        }

        while let input = await inputs.next() {
            switch input {
            case .event(.indication(let indication)) where indication.handle == controlPoint.valueHandle:
                do { try await indication.acknowledgeDurable() } catch { throw .gatt(error) }
                let response: RACPResponse
                do {
                    response = try RACPResponse(decoding: indication.value)
                } catch {
                    throw .unexpectedControlPointResponse(error.description)
                }
                switch (transfer, response) {
                case (.counting(true), .numberOfStoredRecords(0)), (.counting(true), .responseCode(_, .noRecordsFound)):
                    Counter(label: "gatewayd_racp_sequence_restarts_total").increment()
                    await cursor.restart()
                    transfer = .counting(restartCheck: false)
                    try await write(.reportNumberOfStoredRecords(.allRecords))
                case (.counting(let restartCheck), .numberOfStoredRecords(let count)):
                    // From the last durable record on, that record itself is counted too.
                    let announced = restartCheck ? Int(count) - 1 : Int(count)
                    await emit(.storedRecordCount(announced))
                    if announced <= 0 {
                        deadline?.cancel()
                        transfer = .done
                        await emit(
                            .transferComplete(
                                StoredRecordTransfer(announced: 0, delivered: 0, responseCode: .noRecordsFound)))
                    } else {
                        transfer = .reporting(announced: announced)
                        let next = await cursor.next
                        try await write(
                            .reportStoredRecords(next.map { .greaterThanOrEqualTo(.sequenceNumber($0)) } ?? .allRecords)
                        )
                    }
                case (.counting, .responseCode(_, .noRecordsFound)):
                    deadline?.cancel()
                    transfer = .done
                    await emit(
                        .transferComplete(
                            StoredRecordTransfer(announced: 0, delivered: 0, responseCode: .noRecordsFound)))
                case (.reporting(let announced), .responseCode(_, let code))
                where code == .success || code == .noRecordsFound:
                    deadline?.cancel()
                    transfer = .done
                    await emit(
                        .transferComplete(
                            StoredRecordTransfer(
                                announced: announced, delivered: delivered, responseCode: code,
                                restartedFromFirstRecord: await cursor.restarted)))
                case (_, .responseCode(let request, let code)):
                    throw .recordAccessFailed(request: request, code: code)
                default:
                    throw .unexpectedControlPointResponse("\(response)")
                }
            case .event(.indication(let indication)):
                do { try await indication.acknowledgeDurable() } catch { throw .gatt(error) }  // a SOCP answer
            case .event(.notification(let handle, let value)) where handle == measurement.valueHandle:
                let now = options.clock.now()
                let decoded: CGMMeasurement
                do {
                    decoded = try CGMMeasurement(decoding: value)
                } catch {
                    Counter(
                        label: "gatewayd_ble_malformed_payloads_total",
                        dimensions: [("characteristic", "\(BluetoothUUID.cgmMeasurement)")]
                    )
                    .increment()
                    await emit(
                        .malformed(
                            MalformedPayload(
                                characteristic: .cgmMeasurement, bytes: value, error: error, receivedAt: now,
                                delivery: .notification,
                                acknowledgement: .none)))
                    continue
                }
                if case .reporting = transfer {
                    deadline?.cancel()
                    deadline = inbox.schedule(1, after: options.procedureTimeout)
                }
                // Each record's bytes as sent (its Size says where it ends), kept with its reading.
                var start = 0
                for record in decoded.records {
                    let size = Int(value[start])
                    let raw = Array(value[start..<(start + size)])
                    start += size
                    await cursor.delivered(record.timeOffset)
                    if case .reporting = transfer { delivered += 1 }
                    Counter(label: "gatewayd_racp_records_fetched_total").increment()
                    await emit(
                        .measurement(
                            ReceivedMeasurement(
                                measurement: Measurement(record), characteristic: .cgmMeasurement, rawPayloads: [raw],
                                receivedAt: now, delivery: .storedRecord(sequenceNumber: record.timeOffset),
                                contextMissing: false,
                                acknowledgement: DurabilityAcknowledgement(
                                    kind: .storedRecord(cursor, record.timeOffset)))))
                }
            case .event: continue
            case .deadline:
                if case .done = transfer { continue }
                try? await client.write(handle: controlPoint.valueHandle, value: RACPRequest.abortOperation.encoded())
                throw .procedureTimeout(seconds: options.procedureTimeout.seconds)
            case .linkClosed:
                throw .gatt(await client.failure ?? .linkClosed(nil))
            }
        }
    }
}
