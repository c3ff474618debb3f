import Foundation
import Provenance

extension ProfileEvent {
    /// One JSON object per event, for `gatewayd connect` and logs at debug level.
    public var json: ExactJSON {
        switch self {
        case .discovered(let database):
            return .members([
                ("event", .string("discovered")),
                (
                    "services",
                    .array(
                        database.services.map { service in
                            .members([
                                ("uuid", .string(service.uuid.description)),
                                ("handles", .string("\(service.handles.start)-\(service.handles.end)")),
                                (
                                    "characteristics",
                                    .array(service.characteristics.map { .string($0.uuid.description) })
                                ),
                            ])
                        })
                ),
            ])
        case .identity(let identity): return .members([("event", .string("identity")), ("device", identity.json)])
        case .clock(let clock): return .members([("event", .string("clock")), ("observation", clock.json)])
        case .characteristicRead(let value):
            return .members([
                ("event", .string("read")), ("characteristic", .string(type(of: value).name)), ("value", value.json),
            ])
        case .batteryLevel(let level): return .members([("event", .string("battery")), ("value", level.json)])
        case .measurement(let received):
            return .members([
                ("event", .string("measurement")),
                ("characteristic", .string(received.characteristic.description)),
                ("delivery", .string(received.delivery.label)),
                ("received_at", .string(ISO8601DateFormatter().string(from: received.receivedAt))),
                ("context_missing", .bool(received.contextMissing)),
                ("value", received.measurement.json),
                ("raw", .array(received.rawPayloads.map { .string(HexBytes.text($0)) })),
            ])
        case .malformed(let payload):
            return .members([
                ("event", .string("malformed")),
                ("characteristic", .string(payload.characteristic.description)),
                ("error", .string(payload.error.description)),
                ("raw", .string(HexBytes.text(payload.bytes))),
            ])
        case .storedRecordCount(let count):
            return .members([("event", .string("stored_records")), ("count", .integer(count))])
        case .transferComplete(let transfer):
            return .members([
                ("event", .string("transfer_complete")),
                ("announced", transfer.announced.map { .integer($0) } ?? .null),
                ("delivered", .integer(transfer.delivered)),
                ("response_code", .string(transfer.responseCode.specName)),
                ("restarted_from_first_record", .bool(transfer.restartedFromFirstRecord)),
            ])
        case .userRegistered(let slot, _):
            // The consent code is the user's key to their data on the device: kept by pairing, never printed.
            return .members([("event", .string("user_registered")), ("user_index", .integer(slot))])
        }
    }
}

extension MeasurementDelivery {
    var label: String {
        switch self {
        case .indication: "indication"
        case .notification: "notification"
        case .storedRecord(let sequence): "stored_record \(sequence)"
        }
    }
}

/// Hex text of bytes and back, as `gatewayd decode` and logs use it.
public enum HexBytes {
    public static func text(_ bytes: [UInt8]) -> String { CharacteristicFormatting.hex(bytes) }

    /// Parses "0E B5 F4", "0eb5f4" or "0e:b5:f4"; nil names no position, so callers say what was wrong.
    public static func parse(_ text: String) -> Result<[UInt8], HexParseError> {
        var digits = text.filter { !" :-_\n\t".contains($0) }
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits.removeFirst(2) }
        guard digits.count % 2 == 0 else { return .failure(.oddLength(digits.count)) }
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else {
                return .failure(.notHex(position: bytes.count * 2, text: String(digits[index..<next])))
            }
            bytes.append(byte)
            index = next
        }
        return .success(bytes)
    }

    public enum HexParseError: Error, Equatable, CustomStringConvertible {
        case oddLength(Int)
        case notHex(position: Int, text: String)
        public var description: String {
            switch self {
            case .oddLength(let count): "\(count) hex digits is an odd number: every byte needs two"
            case .notHex(let position, let text): "'\(text)' at hex digit \(position) is not a hex byte"
            }
        }
    }
}

extension ProfileEvent {
    /// One line a person reads (`gatewayd connect --brief`): who the device is, its clock, each reading; nil for the
    /// steps nobody needs to see.
    public var briefLine: String? {
        switch self {
        case .identity(let identity):
            return
                "device: \(identity.manufacturerName ?? "?") \(identity.modelNumber ?? "?") serial \(identity.serialNumber ?? "?")"
                + (identity.systemID.map { ", System ID \($0.eui64Text)" } ?? "")
        case .clock(let clock):
            return
                "device clock (\(clock.kind == .read ? "read" : "after the gateway set it")): \(clock.deviceTime.dateTime)"
        case .measurement(let received): return "reading: \(received.measurement.summary)"
        case .malformed(let payload):
            return "malformed \(payload.characteristic): \(payload.error) — raw \(HexBytes.text(payload.bytes)) kept"
        case .storedRecordCount(let count): return "meter holds \(count) record(s) from the cursor on"
        case .transferComplete(let transfer):
            return "transfer complete: \(transfer.delivered) record(s), \(transfer.responseCode.specName)"
        default: return nil
        }
    }
}
