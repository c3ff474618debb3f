import Foundation
import Metrics

/// The Pulse Oximeter profile, collector side: identity, PLX Features, battery and clock; then, when the oximeter
/// stores spot-checks and has a Record Access Control Point, its stored spot-checks (count, report all, and — once
/// every one of them was confirmed, which happens only when each is durable — delete them, so none is sent twice);
/// then live spot-checks (indications, confirmed once durable) and continuous measurements (notifications) until the
/// oximeter goes away.
///
/// PLX records have no sequence number, so there is no cursor: the RACP only knows "all records". A transfer cut short
/// leaves the records on the oximeter; they are reported again next time and kept once (a reading's identity).
public struct PulseOximeterSession: Sendable {
    public let client: GATTClient
    public let options: ProfileSessionOptions

    public init(client: GATTClient, options: ProfileSessionOptions = ProfileSessionOptions()) {
        self.client = client
        self.options = options
    }

    public func run() -> ProfileEvents {
        let session = self
        return profileStream { emit throws(ProfileError) in
            do throws(ProfileError) {
                try await session.body(emit)
            } catch .gatt(let error) where error.isOrdinaryDisconnect {
                return  // an oximeter ends its session by dropping the link
            }
        }
    }

    /// Where the stored-record procedure stands.
    private enum Transfer {
        case idle
        case counting
        case reporting(announced: Int?)
        case deleting(announced: Int?, response: RACPResponseCode)
    }

    private func body(_ emit: @escaping @Sendable (ProfileEvent) async -> Void) async throws(ProfileError) {
        let client = self.client
        let options = self.options
        let database: DiscoveredDatabase
        do {
            database = try await SessionPrelude.discover(client, emit: emit)
        } catch {
            throw .gatt(error)
        }
        guard let service = database.service(.pulseOximeterService) else {
            throw .missing("the Pulse Oximeter Service")
        }
        let spotCheck = service.characteristic(.plxSpotCheckMeasurement).flatMap {
            $0.properties.contains(.indicate) ? $0 : nil
        }
        let continuous = service.characteristic(.plxContinuousMeasurement).flatMap {
            $0.properties.contains(.notify) ? $0 : nil
        }
        guard spotCheck != nil || continuous != nil else {
            throw .missing("an indicating PLX Spot-Check Measurement or a notifying PLX Continuous Measurement")
        }
        var features: PLXFeatures?
        do {
            await emit(.identity(try await SessionPrelude.identity(client, database, link: options.link)))
            if let characteristic = service.characteristic(.plxFeatures), characteristic.properties.contains(.read),
                let value = try? PLXFeatures(decoding: try await client.read(handle: characteristic.valueHandle))
            {
                features = value
                await emit(.characteristicRead(value))
            }
            try await SessionPrelude.battery(client, database, emit: emit)
            try await SessionPrelude.clock(client, database, options: options, emit: emit)
        } catch {
            throw .gatt(error)
        }
        let controlPoint = service.characteristic(.recordAccessControlPoint).flatMap {
            $0.properties.contains(.indicate) && $0.properties.contains(.write) ? $0 : nil
        }
        let storesRecords =
            spotCheck != nil && controlPoint != nil && features?.supported.contains(.spotCheckStorage) == true

        let inbox = SessionInbox(client: client, clock: options.timeoutClock)
        defer { inbox.finish() }
        var transfer = Transfer.idle
        var delivered = 0
        var deadline: Task<Void, Never>?
        defer { deadline?.cancel() }
        do {
            if let continuous { try await client.configure(continuous, .notifications) }
            if let spotCheck { try await client.configure(spotCheck, .indications) }
            if storesRecords, let controlPoint {
                try await client.configure(controlPoint, .indications)
                try await client.write(
                    handle: controlPoint.valueHandle,
                    value: RACPRequest.reportNumberOfStoredRecords(.allRecords).encoded())
                transfer = .counting
                deadline = inbox.schedule(1, after: options.procedureTimeout)
            }
        } catch {
            throw .gatt(error)
        }

        /// The next RACP step; each restarts the procedure's deadline.
        func write(_ request: RACPRequest) async throws(ProfileError) {
            guard let controlPoint else { return }
            deadline?.cancel()
            deadline = inbox.schedule(1, after: options.procedureTimeout)
            do {
                try await client.write(handle: controlPoint.valueHandle, value: request.encoded())
            } catch {
                throw .gatt(error)
            }
        }

        func finish(announced: Int?, _ code: RACPResponseCode) async {
            deadline?.cancel()
            deadline = nil
            transfer = .idle
            await emit(
                .transferComplete(StoredRecordTransfer(announced: announced, delivered: delivered, responseCode: code)))
        }

        for await input in inbox.stream {
            switch input {
            case .event(.indication(let indication)) where indication.handle == controlPoint?.valueHandle:
                // A control-point answer, not a reading: confirmed at once.
                do { try await indication.acknowledgeDurable() } catch { throw .gatt(error) }
                let response: RACPResponse
                do {
                    response = try RACPResponse(decoding: indication.value)
                } catch {
                    throw .unexpectedControlPointResponse("\(error)")
                }
                switch (transfer, response) {
                case (.counting, .numberOfStoredRecords(let count)):
                    await emit(.storedRecordCount(Int(count)))
                    if count == 0 {
                        await finish(announced: 0, .noRecordsFound)
                    } else {
                        transfer = .reporting(announced: Int(count))
                        try await write(.reportStoredRecords(.allRecords))
                    }
                case (.counting, .responseCode(_, let code)) where code != .success:
                    // The oximeter cannot count: the report still works.
                    transfer = .reporting(announced: nil)
                    try await write(.reportStoredRecords(.allRecords))
                case (.reporting(let announced), .responseCode(RACPOpCode.reportStoredRecords.rawValue, let code)):
                    if code == .success, delivered > 0 {
                        // Every reported record was confirmed before this answer could be indicated (one indication
                        // at a time), and confirmed only once durable: the oximeter may forget them now.
                        transfer = .deleting(announced: announced, response: code)
                        try await write(.deleteStoredRecords(.allRecords))
                    } else {
                        await finish(announced: announced, code)
                    }
                case (
                    .deleting(let announced, let reportCode),
                    .responseCode(RACPOpCode.deleteStoredRecords.rawValue, let code)
                ):
                    if code != .success {
                        Counter(label: "gatewayd_racp_delete_failures_total").increment()
                    }
                    await finish(announced: announced, reportCode)
                default:
                    throw .unexpectedControlPointResponse("\(response) while \(transfer)")
                }
            case .event(.indication(let indication)) where indication.handle == spotCheck?.valueHandle:
                if case .reporting = transfer { delivered += 1 }
                Counter(label: "gatewayd_racp_records_fetched_total").increment()
                await emit(
                    decodedEvent(
                        PLXSpotCheckMeasurement.self, indication.value, receivedAt: options.clock.now(),
                        delivery: .indication,
                        acknowledgement: DurabilityAcknowledgement(kind: .indication(indication))))
            case .event(.indication(let indication)):
                do { try await indication.acknowledgeDurable() } catch { throw .gatt(error) }  // not a reading
            case .event(.notification(let handle, let value)):
                guard handle == continuous?.valueHandle else { continue }
                await emit(
                    decodedEvent(
                        PLXContinuousMeasurement.self, value, receivedAt: options.clock.now(), delivery: .notification,
                        acknowledgement: .none))
            case .deadline:
                guard case .idle = transfer else {
                    let seconds = Double(options.procedureTimeout.components.seconds)
                    if let controlPoint {
                        try? await client.write(
                            handle: controlPoint.valueHandle, value: RACPRequest.abortOperation.encoded())
                    }
                    throw .procedureTimeout(seconds: seconds)
                }
            case .event: continue
            case .linkClosed:
                throw .gatt(await client.failure ?? .linkClosed(nil))
            }
        }
    }
}
