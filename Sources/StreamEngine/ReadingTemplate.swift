import Foundation
import Provenance
import TimeSeries

/// What many readings share — subject, device record, gateway, measurement context, the time decision with its
/// clock comparison and correction, flags, characteristic, and the shape of its components (which metrics, in which
/// units) — stored once, content-addressed, and referenced from each reading by a small integer. A strap's
/// notifications of one connection share one entry; what varies per reading is a `ReadingVariation`.
struct ReadingTemplate: Hashable, Sendable, Codable {
    var kind: ReadingKind
    var subject: String?
    var device: DeviceRecord
    var gateway: GatewayRecord
    /// The glucose context's sequence number is per reading: it is in the variation, 0 here.
    var context: MeasurementContext
    /// Receive and effective time, device stamp and glucose time offset are per reading: in the variation.
    var time: TimeProvenance
    var flags: ReadingFlags
    var characteristic: String
    var modelVersion: Int
    /// The components' metrics and units in order; their values are per reading. Empty in entries written before
    /// the compact rows (those are only read by the conversion, with the legacy variation that names them).
    var shape: [ComponentShape] = []
    /// The payload's leading bytes when the rest is the canonical encoding of the values (a series reading, see
    /// `SeriesReadings`): the payload is rebuilt, not stored. Nil (and absent from the JSON) otherwise.
    var payloadPrefix: [UInt8]?

    struct ComponentShape: Hashable, Sendable, Codable {
        var metric: String
        var unit: String
        /// Any number of components of this metric (0 or more) — a strap's RR intervals, whose count its samples give
        /// (all of them share the notification's instant). Nil, and absent from the JSON, for one component.
        var repeated: Bool? = nil
    }

    enum CodingKeys: String, CodingKey {
        case kind, subject, device, gateway, context, time, flags, characteristic, modelVersion, shape, payloadPrefix
    }

    init(
        kind: ReadingKind, subject: String?, device: DeviceRecord, gateway: GatewayRecord, context: MeasurementContext,
        time: TimeProvenance, flags: ReadingFlags, characteristic: String, modelVersion: Int, shape: [ComponentShape]
    ) {
        self.kind = kind
        self.subject = subject
        self.device = device
        self.gateway = gateway
        self.context = context
        self.time = time
        self.flags = flags
        self.characteristic = characteristic
        self.modelVersion = modelVersion
        self.shape = shape
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(ReadingKind.self, forKey: .kind)
        subject = try c.decodeIfPresent(String.self, forKey: .subject)
        device = try c.decode(DeviceRecord.self, forKey: .device)
        gateway = try c.decode(GatewayRecord.self, forKey: .gateway)
        context = try c.decode(MeasurementContext.self, forKey: .context)
        time = try c.decode(TimeProvenance.self, forKey: .time)
        flags = try c.decode(ReadingFlags.self, forKey: .flags)
        characteristic = try c.decode(String.self, forKey: .characteristic)
        modelVersion = try c.decode(Int.self, forKey: .modelVersion)
        shape = try c.decodeIfPresent([ComponentShape].self, forKey: .shape) ?? []
        payloadPrefix = try c.decodeIfPresent([UInt8].self, forKey: .payloadPrefix)
    }
}

/// What varies per reading, in a few bytes (`encoded()`): the receive time as an offset from the effective time
/// (which is a column of its own, indexed), the component values in the template's order, the payloads, and the
/// device's sequence number, timestamp and time offset where it sent them.
struct ReadingVariation: Equatable {
    var effectiveMicros: Int64
    /// Receive time minus effective time, µs (0 for a reading stamped at its receive time).
    var receivedOffsetMicros: Int64
    var values: [ReadingValue]
    var payloads: [[UInt8]]
    /// Device-reported sequence number (glucose).
    var sequence: UInt16?
    var deviceTimestamp: DeviceWallClock?
    /// Glucose time offset, minutes.
    var deviceTimeOffsetMinutes: Int?
    /// Glucose context sequence number.
    var glucoseSequence: UInt16?
    /// The connection's clock comparison and the time decision made with it, for a reading kept as a row: a cuff
    /// connects for each measurement, so in the template they made a provenance entry (~140 bytes with its indexes)
    /// per reading; here they take ~20. Nil when the template holds them (entries written before, series readings).
    var timeEvidence: TimeEvidence?

    /// What `Reading.split(evidenceInVariation: true)` moves out of the template.
    struct TimeEvidence: Equatable {
        var clock: ClockComparison?
        var clockOffsetMicros: Int64?
        var decision: TimeDecision
    }

    /// Format 1: a byte of which optional fields follow, the receive offset, the values, the payloads, then the
    /// optional fields. Integers are LEB128 varints (signed ones zigzag), so a strap's notification takes ~30 bytes.
    static let format: UInt8 = 1

    private enum Present {
        static let sequence: UInt8 = 1, deviceTimestamp: UInt8 = 2, timeOffset: UInt8 = 4, glucoseSequence: UInt8 = 8,
            timeEvidence: UInt8 = 16
        /// With `glucoseSequence`: the context's sequence number is the measurement's (as a meter sends it), not written.
        static let glucoseSequenceIsSequence: UInt8 = 32
    }

    /// The time evidence's first byte: which parts follow and the decision's kind.
    private enum Evidence {
        static let clock: UInt8 = 1, offset: UInt8 = 2, deviceUTCOffset: UInt8 = 16, afterSet: UInt8 = 32
        /// The clock comparison's device time is written as seconds from the reading's device timestamp (a cuff reads
        /// its clock moments after it measured: 1–2 bytes, not 7).
        static let clockFromTimestamp: UInt8 = 64
        static let decisionShift: UInt8 = 2
        static let receiveTime: UInt8 = 0, kept: UInt8 = 1, mapped: UInt8 = 2, refused: UInt8 = 3
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 32)
        writer.write(Self.format)
        var present: UInt8 = 0
        if sequence != nil { present |= Present.sequence }
        if deviceTimestamp != nil { present |= Present.deviceTimestamp }
        if deviceTimeOffsetMinutes != nil { present |= Present.timeOffset }
        if glucoseSequence != nil { present |= Present.glucoseSequence }
        if glucoseSequence != nil, glucoseSequence == sequence { present |= Present.glucoseSequenceIsSequence }
        if timeEvidence != nil { present |= Present.timeEvidence }
        writer.write(present)
        writer.write(signedVarint: receivedOffsetMicros)
        writer.write(varint: UInt64(values.count))
        for value in values {
            switch value {
            case .quantity(let quantity):
                writer.write(0)
                writer.write(signedVarint: quantity.mantissa)
                writer.write(UInt8(bitPattern: quantity.exponent))
            case .absent(let reason):
                writer.write(1)
                Self.write(string: reason.rawValue, to: &writer)
            }
        }
        writer.write(varint: UInt64(payloads.count))
        for payload in payloads {
            writer.write(varint: UInt64(payload.count))
            writer.write(contentsOf: payload)
        }
        if let sequence { writer.write(varint: UInt64(sequence)) }
        if let stamp = deviceTimestamp { Self.write(clock: stamp, to: &writer) }
        if let offset = deviceTimeOffsetMinutes { writer.write(signedVarint: Int64(offset)) }
        if let glucoseSequence, present & Present.glucoseSequenceIsSequence == 0 {
            writer.write(varint: UInt64(glucoseSequence))
        }
        if let timeEvidence { write(evidence: timeEvidence, to: &writer) }
        return writer.bytes
    }

    private static func write(clock stamp: DeviceWallClock, to writer: inout ByteWriter) {
        for part in [stamp.year, stamp.month, stamp.day] {
            writer.write(varint: part.map { UInt64(max(0, $0)) + 1 } ?? 0)
        }
        for part in [stamp.hour, stamp.minute, stamp.second] { writer.write(signedVarint: Int64(part)) }
    }

    /// The evidence byte, then the clock comparison (device time, its UTC offset, the gateway's time against the
    /// receive time, the round trip), the clock offset, and the correction (against −offset) or the reason for a refusal.
    private func write(evidence: TimeEvidence, to writer: inout ByteWriter) {
        var head: UInt8 = 0
        if evidence.clock != nil { head |= Evidence.clock }
        if evidence.clockOffsetMicros != nil { head |= Evidence.offset }
        if evidence.clock?.deviceUTCOffsetMinutes != nil { head |= Evidence.deviceUTCOffset }
        if evidence.clock?.afterSet == true { head |= Evidence.afterSet }
        let fromTimestamp = evidence.clock.flatMap { Self.secondsFromTimestamp($0.deviceTime, deviceTimestamp) }
        if fromTimestamp != nil { head |= Evidence.clockFromTimestamp }
        switch evidence.decision {
        case .receiveTime: head |= Evidence.receiveTime << Evidence.decisionShift
        case .kept: head |= Evidence.kept << Evidence.decisionShift
        case .mapped: head |= Evidence.mapped << Evidence.decisionShift
        case .refused: head |= Evidence.refused << Evidence.decisionShift
        }
        writer.write(head)
        if let clock = evidence.clock {
            if let fromTimestamp {
                writer.write(signedVarint: fromTimestamp)
            } else {
                Self.write(clock: clock.deviceTime, to: &writer)
            }
            if let minutes = clock.deviceUTCOffsetMinutes { writer.write(signedVarint: Int64(minutes)) }
            writer.write(signedVarint: clock.gatewayMicros &- (effectiveMicros &+ receivedOffsetMicros))
            writer.write(signedVarint: clock.roundTripMicros)
        }
        if let offset = evidence.clockOffsetMicros { writer.write(signedVarint: offset) }
        switch evidence.decision {
        // A correction is the clock offset undone: written as its difference from −offset (one byte, mostly).
        case .mapped(let correction): writer.write(signedVarint: correction &+ (evidence.clockOffsetMicros ?? 0))
        case .refused(let reason): Self.write(string: reason, to: &writer)
        case .kept, .receiveTime: break
        }
    }

    /// `deviceTime` as seconds after `timestamp` when both are real, complete dates and times and the seconds give
    /// `deviceTime` back exactly; nil otherwise (the clock is then written whole).
    private static func secondsFromTimestamp(_ deviceTime: DeviceWallClock, _ timestamp: DeviceWallClock?) -> Int64? {
        guard let timestamp, let base = TimeDecisionRules.wallMicros(timestamp),
            let time = TimeDecisionRules.wallMicros(deviceTime),
            TimeDecisionRules.wallClock(micros: time) == deviceTime
        else { return nil }
        return (time - base) / 1_000_000
    }

    private static func write(string: String, to writer: inout ByteWriter) {
        let bytes = Array(string.utf8)
        writer.write(varint: UInt64(bytes.count))
        writer.write(contentsOf: bytes)
    }

    init(
        effectiveMicros: Int64, receivedOffsetMicros: Int64, values: [ReadingValue], payloads: [[UInt8]],
        sequence: UInt16?,
        deviceTimestamp: DeviceWallClock?, deviceTimeOffsetMinutes: Int?, glucoseSequence: UInt16?,
        timeEvidence: TimeEvidence? = nil
    ) {
        self.timeEvidence = timeEvidence
        self.effectiveMicros = effectiveMicros
        self.receivedOffsetMicros = receivedOffsetMicros
        self.values = values
        self.payloads = payloads
        self.sequence = sequence
        self.deviceTimestamp = deviceTimestamp
        self.deviceTimeOffsetMinutes = deviceTimeOffsetMinutes
        self.glucoseSequence = glucoseSequence
    }

    /// Decodes `encoded()`; every length is checked and a damaged body is a `ReadingSplitError` naming the field.
    init(decoding bytes: [UInt8], effectiveMicros: Int64) throws(ReadingSplitError) {
        var reader = ByteReader(bytes)
        do {
            let format = try reader.readByte("format")
            guard format == Self.format else {
                throw ReadingSplitError(description: "a stored reading has unknown format \(format)")
            }
            let present = try reader.readByte("present fields")
            self.effectiveMicros = effectiveMicros
            receivedOffsetMicros = try reader.readSignedVarint("receive offset")
            let count = try reader.readVarint("value count")
            guard count <= 64 else { throw ReadingSplitError(description: "a stored reading claims \(count) values") }
            values = []
            for _ in 0..<count {
                switch try reader.readByte("value kind") {
                case 0:
                    let mantissa = try reader.readSignedVarint("mantissa")
                    let exponent = Int8(bitPattern: try reader.readByte("exponent"))
                    values.append(.quantity(DecimalQuantity(mantissa: mantissa, exponent: exponent)))
                case 1:
                    let text = try Self.readString(&reader, "absent reason")
                    guard let reason = AbsentValueReason(rawValue: text) else {
                        throw ReadingSplitError(description: "a stored reading has an unknown absent reason '\(text)'")
                    }
                    values.append(.absent(reason))
                case let other:
                    throw ReadingSplitError(description: "a stored reading has an unknown value kind \(other)")
                }
            }
            let payloadCount = try reader.readVarint("payload count")
            guard payloadCount <= 16 else {
                throw ReadingSplitError(description: "a stored reading claims \(payloadCount) payloads")
            }
            payloads = []
            for _ in 0..<payloadCount {
                let length = try reader.readVarint("payload length")
                guard length <= UInt64(reader.remaining) else {
                    throw ReadingSplitError(description: "a stored payload runs past the body")
                }
                payloads.append(Array(try reader.readBytes(Int(length), "payload")))
            }
            sequence = present & Present.sequence != 0 ? UInt16(clamping: try reader.readVarint("sequence")) : nil
            deviceTimestamp = present & Present.deviceTimestamp != 0 ? try Self.readClock(&reader) : nil
            deviceTimeOffsetMinutes =
                present & Present.timeOffset != 0 ? Int(clamping: try reader.readSignedVarint("time offset")) : nil
            glucoseSequence =
                present & Present.glucoseSequence == 0
                ? nil
                : present & Present.glucoseSequenceIsSequence != 0
                    ? sequence
                    : UInt16(clamping: try reader.readVarint("glucose sequence"))
            timeEvidence = nil
            if present & Present.timeEvidence != 0 {
                let head = try reader.readByte("time evidence")
                var clock: ClockComparison?
                if head & Evidence.clock != 0 {
                    let deviceTime: DeviceWallClock
                    if head & Evidence.clockFromTimestamp != 0 {
                        let seconds = try reader.readSignedVarint("clock time from timestamp")
                        guard let stamp = deviceTimestamp, let base = TimeDecisionRules.wallMicros(stamp),
                            abs(seconds) < 400 * 366 * 86_400
                        else {
                            throw ReadingSplitError(
                                description: "a stored reading's clock time is written against a timestamp it lacks")
                        }
                        deviceTime = TimeDecisionRules.wallClock(micros: base + seconds * 1_000_000)
                    } else {
                        deviceTime = try Self.readClock(&reader)
                    }
                    let minutes =
                        head & Evidence.deviceUTCOffset != 0
                        ? Int(clamping: try reader.readSignedVarint("device UTC offset")) : nil
                    let gateway =
                        try reader.readSignedVarint("clock comparison time")
                        &+ (effectiveMicros &+ receivedOffsetMicros)
                    clock = ClockComparison(
                        deviceTime: deviceTime, deviceUTCOffsetMinutes: minutes, gatewayMicros: gateway,
                        roundTripMicros: try reader.readSignedVarint("round trip"),
                        afterSet: head & Evidence.afterSet != 0)
                }
                let offset = head & Evidence.offset != 0 ? try reader.readSignedVarint("clock offset") : nil
                let decision: TimeDecision =
                    switch (head >> Evidence.decisionShift) & 3 {
                    case Evidence.kept: .kept
                    case Evidence.mapped:
                        .mapped(correctionMicros: try reader.readSignedVarint("time correction") &- (offset ?? 0))
                    case Evidence.refused: .refused(reason: try Self.readString(&reader, "refusal reason"))
                    default: .receiveTime
                    }
                timeEvidence = TimeEvidence(clock: clock, clockOffsetMicros: offset, decision: decision)
            }
            guard reader.isAtEnd else {
                throw ReadingSplitError(description: "a stored reading has \(reader.remaining) bytes after its fields")
            }
        } catch let error as ByteReadError {
            throw ReadingSplitError(description: "a stored reading is damaged: \(error)")
        } catch let error as ReadingSplitError {
            throw error
        } catch {
            throw ReadingSplitError(description: "a stored reading is damaged: \(error)")
        }
    }

    private static func readClock(_ reader: inout ByteReader) throws -> DeviceWallClock {
        var date: [Int?] = []
        for field in ["year", "month", "day"] {
            let value = try reader.readVarint(field)
            date.append(value == 0 ? nil : Int(clamping: value - 1))
        }
        let hour = Int(clamping: try reader.readSignedVarint("hour"))
        let minute = Int(clamping: try reader.readSignedVarint("minute"))
        let second = Int(clamping: try reader.readSignedVarint("second"))
        return DeviceWallClock(year: date[0], month: date[1], day: date[2], hour: hour, minute: minute, second: second)
    }

    private static func readString(_ reader: inout ByteReader, _ field: String) throws -> String {
        let length = try reader.readVarint(field)
        guard length <= UInt64(reader.remaining) else {
            throw ReadingSplitError(description: "\(field) runs past the body")
        }
        return String(decoding: try reader.readBytes(Int(length), field), as: UTF8.self)
    }
}

/// A reading's values that no template or variation can hold are refused loudly rather than dropped.
struct ReadingSplitError: Error, CustomStringConvertible {
    var description: String
}

extension Reading {
    /// The shared part and the per-reading part; `Reading(template:variation:)` puts them back together exactly.
    /// `evidenceInVariation`: the clock comparison and the time decision go with the reading, not into the template
    /// (rows; a series reading's variation is not stored, so its template keeps them).
    func split(evidenceInVariation: Bool = true) -> (ReadingTemplate, ReadingVariation) {
        var context = self.context
        let glucoseSequence = context.glucose?.sequenceNumber
        context.glucose?.sequenceNumber = 0
        var time = self.time
        time.receivedMicros = 0
        time.effectiveMicros = 0
        time.deviceTimestamp = nil
        time.deviceTimeOffsetMinutes = nil
        var evidence: ReadingVariation.TimeEvidence?
        if evidenceInVariation, time.clock != nil || time.clockOffsetMicros != nil || time.decision != .receiveTime {
            evidence = ReadingVariation.TimeEvidence(
                clock: time.clock, clockOffsetMicros: time.clockOffsetMicros, decision: time.decision)
            time.clock = nil
            time.clockOffsetMicros = nil
            time.decision = .receiveTime
        }
        let template = ReadingTemplate(
            kind: kind, subject: subject, device: device, gateway: gateway, context: context, time: time, flags: flags,
            characteristic: characteristic, modelVersion: modelVersion,
            shape: components.map { ReadingTemplate.ComponentShape(metric: $0.metric.rawValue, unit: $0.unit) })
        let variation = ReadingVariation(
            effectiveMicros: self.time.effectiveMicros,
            receivedOffsetMicros: self.time.receivedMicros - self.time.effectiveMicros,
            values: components.map(\.value), payloads: rawPayloads, sequence: sequenceNumber,
            deviceTimestamp: self.time.deviceTimestamp,
            deviceTimeOffsetMinutes: self.time.deviceTimeOffsetMinutes, glucoseSequence: glucoseSequence,
            timeEvidence: evidence)
        return (template, variation)
    }

    init(template: ReadingTemplate, variation: ReadingVariation) throws(ReadingSplitError) {
        let single = template.shape.count { $0.repeated != true }
        let repeatedShapes = template.shape.count - single
        let extra = variation.values.count - single
        guard extra >= 0, repeatedShapes == 1 || (repeatedShapes == 0 && extra == 0) else {
            throw ReadingSplitError(
                description:
                    "a stored reading has \(variation.values.count) values for \(template.shape.count) components")
        }
        var components: [ReadingComponent] = []
        var values = variation.values[...]
        for shape in template.shape {
            guard let metric = Metric(rawValue: shape.metric) else {
                throw ReadingSplitError(description: "unknown metric '\(shape.metric)'")
            }
            let taken = shape.repeated == true ? extra : 1
            for value in values.prefix(taken) {
                components.append(ReadingComponent(metric: metric, value: value, unit: shape.unit))
            }
            values = values.dropFirst(taken)
        }
        var context = template.context
        if let sequence = variation.glucoseSequence { context.glucose?.sequenceNumber = sequence }
        var time = template.time
        time.effectiveMicros = variation.effectiveMicros
        time.receivedMicros = variation.effectiveMicros + variation.receivedOffsetMicros
        time.deviceTimestamp = variation.deviceTimestamp
        time.deviceTimeOffsetMinutes = variation.deviceTimeOffsetMinutes
        if let evidence = variation.timeEvidence {
            time.clock = evidence.clock
            time.clockOffsetMicros = evidence.clockOffsetMicros
            time.decision = evidence.decision
        }
        self.init(
            kind: template.kind, components: components, subject: template.subject, device: template.device,
            gateway: template.gateway,
            context: context, time: time, flags: template.flags, characteristic: template.characteristic,
            rawPayloads: variation.payloads,
            sequenceNumber: variation.sequence)
        modelVersion = template.modelVersion
    }
}
