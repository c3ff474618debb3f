import Foundation
import Metrics

/// The Glucose profile, collector side: download the meter's stored records from the durable cursor on.
///
/// Steps: subscribe to Glucose Measurement, Glucose Measurement Context and the RACP; ask how many records
/// are ≥ the cursor; ask the meter to report them; pair each measurement with its context by sequence
/// number, in whichever order they arrive; finish on the RACP response code. A transfer that makes no
/// progress for `procedureTimeout` is aborted. The cursor (`StoredRecordCursor`) advances only as the caller
/// acknowledges records as durable, so a dropped link resumes after the last durable record.
public struct GlucoseSession: Sendable {
    public let client: GATTClient
    public let options: ProfileSessionOptions
    public let cursor: StoredRecordCursor

    public init(
        client: GATTClient, cursor: StoredRecordCursor, options: ProfileSessionOptions = ProfileSessionOptions()
    ) {
        self.client = client
        self.cursor = cursor
        self.options = options
    }

    public func run() -> ProfileEvents {
        let session = self
        return profileStream { emit throws(ProfileError) in
            try await session.body(emit)
        }
    }

    private struct Handles {
        var measurement: DiscoveredCharacteristic
        var context: DiscoveredCharacteristic?
        var controlPoint: DiscoveredCharacteristic
    }

    private func gatt<T>(_ operation: () async throws(GATTError) -> T) async throws(ProfileError) -> T {
        do {
            return try await operation()
        } catch {
            throw .gatt(error)
        }
    }

    private func body(_ emit: @escaping @Sendable (ProfileEvent) async -> Void) async throws(ProfileError) {
        let client = self.client
        let options = self.options
        let database = try await gatt { () async throws(GATTError) in
            try await SessionPrelude.discover(client, emit: emit)
        }
        guard let service = database.service(.glucoseService),
            let measurement = service.characteristic(.glucoseMeasurement), measurement.properties.contains(.notify),
            let controlPoint = service.characteristic(.recordAccessControlPoint),
            controlPoint.properties.contains(.indicate), controlPoint.properties.contains(.write)
        else {
            throw .missing(
                "the Glucose Service with Glucose Measurement notifications and a Record Access Control Point")
        }
        let handles = Handles(
            measurement: measurement, context: service.characteristic(.glucoseMeasurementContext),
            controlPoint: controlPoint)
        try await gatt { () async throws(GATTError) in
            await emit(.identity(try await SessionPrelude.identity(client, database, link: options.link)))
            if let feature = service.characteristic(.glucoseFeature), feature.properties.contains(.read),
                let value = try? GlucoseFeature(decoding: try await client.read(handle: feature.valueHandle))
            {
                await emit(.characteristicRead(value))
            }
            try await SessionPrelude.battery(client, database, emit: emit)
            try await SessionPrelude.clock(client, database, options: options, emit: emit)
        }

        let inbox = SessionInbox(client: client, clock: options.timeoutClock)
        defer { inbox.finish() }
        try await gatt { () async throws(GATTError) in
            try await client.configure(handles.measurement, .notifications)
            if let context = handles.context, context.properties.contains(.notify) {
                try await client.configure(context, .notifications)
            }
            try await client.configure(handles.controlPoint, .indications)
        }
        var iterator = inbox.stream.makeAsyncIterator()
        var selection: RACPRecordSelection =
            if let next = await cursor.next { .greaterThanOrEqualTo(.sequenceNumber(next)) } else { .allRecords }

        /// Asks how many records `selection` holds: nil when the meter cannot count.
        func count(_ selection: RACPRecordSelection) async throws(ProfileError) -> Int? {
            try await writeControlPoint(.reportNumberOfStoredRecords(selection), handles)
            let response: RACPResponse
            do {
                response = try await controlPointResponse(&iterator, inbox, handles)
            } catch .procedureTimeout(let seconds) {
                try await abort(&iterator, inbox, handles)
                throw .procedureTimeout(seconds: seconds)
            }
            switch response {
            case .numberOfStoredRecords(let count): return Int(count)
            case .responseCode(_, .noRecordsFound): return 0
            case .responseCode(_, .opCodeNotSupported), .responseCode(_, .operatorNotSupported),
                .responseCode(_, .operandNotSupported):
                return nil  // the meter cannot count; the report still works
            case .responseCode(let request, let code):
                throw .recordAccessFailed(request: request, code: code)
            }
        }

        // 1. How many records are waiting? Counted from the last durable record on, which a meter that was not reset
        // still holds: if it holds none of them, its numbers went back (memory cleared, a meter replaced behind the
        // same address) and everything it holds is asked for, deduplicated by identity — never "no records" for ever.
        var announced: Int?
        if let last = await cursor.lastDurable, case .greaterThanOrEqualTo = selection {
            switch try await count(.greaterThanOrEqualTo(.sequenceNumber(last))) {
            case 0?:
                Counter(label: "gatewayd_racp_sequence_restarts_total").increment()
                await cursor.restart()
                selection = .allRecords
                announced = try await count(.allRecords)
            case let held?:
                // A wrapped meter's numbers after 65535 start again at 0: they are not ≥ the cursor, so ask for all.
                if last == UInt16.max { selection = .allRecords }
                announced = selection == .allRecords ? nil : held - 1
            case nil:
                announced = nil
            }
        } else {
            announced = try await count(selection)
        }
        if let announced { await emit(.storedRecordCount(announced)) }
        let restarted = await cursor.restarted
        if announced == 0 {
            await emit(
                .transferComplete(
                    StoredRecordTransfer(
                        announced: 0, delivered: 0, responseCode: .noRecordsFound, restartedFromFirstRecord: restarted))
            )
            return
        }

        // 2. Report them.
        try await writeControlPoint(.reportStoredRecords(selection), handles)
        var delivered = 0
        var waitingForContext: [UInt16: (GlucoseMeasurement, [UInt8], Date)] = [:]
        var earlyContexts: [UInt16: (GlucoseMeasurementContext, [UInt8])] = [:]
        var deadlineID: UInt64 = 1
        var deadline = inbox.schedule(deadlineID, after: options.procedureTimeout)
        defer { deadline.cancel() }

        func deliver(
            _ record: GlucoseMeasurement, _ raw: [UInt8], context: (GlucoseMeasurementContext, [UInt8])?, at time: Date,
            missing: Bool
        ) async {
            await cursor.delivered(record.sequenceNumber)
            delivered += 1
            Counter(label: "gatewayd_racp_records_fetched_total").increment()
            await emit(
                .measurement(
                    ReceivedMeasurement(
                        measurement: Measurement(GlucoseRecord(measurement: record, context: context?.0)),
                        characteristic: .glucoseMeasurement,
                        rawPayloads: [raw] + (context.map { [$0.1] } ?? []), receivedAt: time,
                        delivery: .storedRecord(sequenceNumber: record.sequenceNumber), contextMissing: missing,
                        acknowledgement: DurabilityAcknowledgement(kind: .storedRecord(cursor, record.sequenceNumber))))
            )
        }

        while let input = await iterator.next() {
            switch input {
            case .event(.notification(let handle, let value)) where handle == handles.measurement.valueHandle:
                deadline.cancel()
                deadlineID += 1
                deadline = inbox.schedule(deadlineID, after: options.procedureTimeout)
                let now = options.clock.now()
                do {
                    let record = try GlucoseMeasurement(decoding: value)
                    if let context = earlyContexts.removeValue(forKey: record.sequenceNumber) {
                        await deliver(record, value, context: context, at: now, missing: false)
                    } else if record.contextInformationFollows && handles.context != nil {
                        waitingForContext[record.sequenceNumber] = (record, value, now)
                    } else {
                        await deliver(record, value, context: nil, at: now, missing: record.contextInformationFollows)
                    }
                } catch {
                    Counter(label: "gatewayd_ble_malformed_payloads_total", dimensions: [("characteristic", "0x2A18")])
                        .increment()
                    await emit(
                        .malformed(
                            MalformedPayload(
                                characteristic: .glucoseMeasurement, bytes: value, error: error, receivedAt: now,
                                delivery: .notification,
                                acknowledgement: .none)))
                }
            case .event(.notification(let handle, let value)) where handle == handles.context?.valueHandle:
                do {
                    let context = try GlucoseMeasurementContext(decoding: value)
                    if let (record, raw, time) = waitingForContext.removeValue(forKey: context.sequenceNumber) {
                        await deliver(record, raw, context: (context, value), at: time, missing: false)
                    } else {
                        earlyContexts[context.sequenceNumber] = (context, value)
                    }
                } catch {
                    await emit(
                        .malformed(
                            MalformedPayload(
                                characteristic: .glucoseMeasurementContext, bytes: value, error: error,
                                receivedAt: options.clock.now(),
                                delivery: .notification, acknowledgement: .none)))
                }
            case .event(.indication(let indication)) where indication.handle == handles.controlPoint.valueHandle:
                try await gatt { () async throws(GATTError) in try await indication.acknowledgeDurable() }
                let response: RACPResponse
                do {
                    response = try RACPResponse(decoding: indication.value)
                } catch {
                    throw .unexpectedControlPointResponse(error.description)
                }
                // Contexts announced but never sent: deliver the measurements without them, marked as such.
                for sequence in waitingForContext.keys.sorted() {
                    if let (record, raw, time) = waitingForContext[sequence] {
                        await deliver(record, raw, context: nil, at: time, missing: true)
                    }
                }
                waitingForContext.removeAll()
                switch response {
                case .responseCode(_, let code) where code == .success || code == .noRecordsFound:
                    await emit(
                        .transferComplete(
                            StoredRecordTransfer(
                                announced: announced, delivered: delivered, responseCode: code,
                                restartedFromFirstRecord: restarted)))
                    return
                case .responseCode(let request, let code):
                    throw .recordAccessFailed(request: request, code: code)
                case .numberOfStoredRecords:
                    throw .unexpectedControlPointResponse("a record count while records were being reported")
                }
            case .event(.indication(let indication)):
                try await gatt { () async throws(GATTError) in try await indication.acknowledgeDurable() }
            case .event: continue
            case .deadline(let id):
                guard id == deadlineID else { continue }
                try await abort(&iterator, inbox, handles)
                throw .procedureTimeout(seconds: options.procedureTimeout.seconds)
            case .linkClosed:
                throw .gatt(await client.failure ?? .linkClosed(nil))
            }
        }
        throw .gatt(await client.failure ?? .linkClosed(nil))
    }

    private func writeControlPoint(_ request: RACPRequest, _ handles: Handles) async throws(ProfileError) {
        let client = self.client
        try await gatt { () async throws(GATTError) in
            try await client.write(handle: handles.controlPoint.valueHandle, value: request.encoded())
        }
    }

    /// Waits for the next RACP indication (confirming it; it is a control-point answer, not a reading).
    private func controlPointResponse(
        _ iterator: inout AsyncStream<SessionInput>.Iterator, _ inbox: SessionInbox, _ handles: Handles
    ) async throws(ProfileError) -> RACPResponse {
        let deadline = inbox.schedule(0, after: options.procedureTimeout)
        defer { deadline.cancel() }
        while let input = await iterator.next() {
            switch input {
            case .event(.indication(let indication)):
                try await gatt { () async throws(GATTError) in try await indication.acknowledgeDurable() }
                guard indication.handle == handles.controlPoint.valueHandle else { continue }
                do {
                    return try RACPResponse(decoding: indication.value)
                } catch {
                    throw .unexpectedControlPointResponse(error.description)
                }
            case .event: continue
            case .deadline(0): throw .procedureTimeout(seconds: options.procedureTimeout.seconds)
            case .deadline: continue
            case .linkClosed: throw .gatt(await client.failure ?? .linkClosed(nil))
            }
        }
        throw .gatt(await client.failure ?? .linkClosed(nil))
    }

    /// Sends Abort Operation and waits briefly for its response code.
    private func abort(
        _ iterator: inout AsyncStream<SessionInput>.Iterator, _ inbox: SessionInbox, _ handles: Handles
    ) async throws(ProfileError) {
        try await writeControlPoint(.abortOperation, handles)
        _ = try? await controlPointResponse(&iterator, inbox, handles)
    }
}
