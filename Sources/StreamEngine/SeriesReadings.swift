import Foundation
import Provenance
import TimeSeries

/// Readings kept only as their samples in the store ("series readings"): a heart-rate notification — anchored on its
/// receipt, every component a number, its payload the canonical encoding of those numbers — is fully described by its
/// provenance entry (which carries the payload's flags byte) and its samples (each tagged with that entry's id). The
/// archive then keeps one row per stream, device and flags for up to an hour (a *span*: where the readings are and how
/// many, extended in place by each batch, which lists its part — `SpanPart`), not a row, an index entry and a variation
/// per notification.
enum SeriesReadings {
    /// The characteristic whose payload the archive can rebuild from values (Heart Rate Measurement).
    static let heartRateMeasurement = "0x2A37"
    /// A span never covers more than this, so a query for readings at or after t finds every span holding one by
    /// looking back this far in the (stream, time) index, where spans are keyed by their first reading.
    static let maxSpanMicros: Int64 = 3_600_000_000
    /// Fewer readings of a stream, device and flags in a batch are kept as rows (see `ReadingArchive.journal`).
    static let minimumSpanReadings = 4
    /// What the spans' index covers, spelled as every query of it spells it (SQLite uses a partial index only for a
    /// query whose terms include its condition). A span row's body is its marker (`ReadingArchive.extendableSpanBody`,
    /// or 2 before v14) — never changed, unlike its count, so extending a span leaves the index alone.
    static let spanCondition = "body IN (X'02', X'03')"

    /// The stored form of a reading that can live in the store alone: its template (with the payload's flags byte)
    /// and its variation without the payload. Nil when anything about it would be lost (the payload is not
    /// canonical, a value is absent, its receive time differs from its effective time, the device anchored it…).
    static func split(_ reading: Reading) -> (ReadingTemplate, ReadingVariation)? {
        guard reading.subject != nil, reading.kind == .heartRate, reading.characteristic == heartRateMeasurement,
            reading.identityAnchoredOnReceipt, reading.time.receivedMicros == reading.time.effectiveMicros,
            reading.rawPayloads.count == 1, let payload = reading.rawPayloads.first, let flags = payload.first,
            reading.context.glucose == nil,
            canonicalPayload(flags: flags, components: reading.components) == payload
        else { return nil }
        var (template, variation) = reading.split(evidenceInVariation: false)
        template.payloadPrefix = [flags]
        template.shape = repeatingIntervals(template.shape, flags: flags)
        variation.payloads = []
        return (template, variation)
    }

    /// The shape with its trailing RR intervals as one repeated component when the flags say intervals are present:
    /// notifications with one and with two intervals then share a provenance entry, so a strap's samples carry one
    /// tag for the whole connection instead of alternating between two (0.2 B a notification in the tag columns).
    /// Intervals anywhere but at the end keep their exact shape (the components' order is part of the reading).
    static func repeatingIntervals(_ shape: [ReadingTemplate.ComponentShape], flags: UInt8) -> [ReadingTemplate
        .ComponentShape]
    {
        guard flags & 0x10 != 0 else { return shape }
        let intervals = shape.reversed().prefix { $0.metric == Metric.rrInterval.rawValue && $0.unit == "s" }.count
        guard !shape.dropLast(intervals).contains(where: { $0.metric == Metric.rrInterval.rawValue }) else {
            return shape
        }
        return shape.dropLast(intervals) + [
            ReadingTemplate.ComponentShape(metric: Metric.rrInterval.rawValue, unit: "s", repeated: true)
        ]
    }

    /// The Heart Rate Measurement bytes for these values (GATT Specification Supplement, 3.113): the flags byte, the
    /// heart rate as uint8 or uint16 (flags bit 0), energy expended as uint16 (bit 3), RR intervals in 1/1024 s as
    /// uint16 each (bit 4). Nil when a value has no exact encoding under these flags.
    static func canonicalPayload(flags: UInt8, components: [ReadingComponent]) -> [UInt8]? {
        var heartRate: Int64?
        var energy: Int64?
        var intervals: [Int64] = []
        for component in components {
            guard case .quantity(let quantity) = component.value else { return nil }
            switch component.metric {
            case .heartRate:
                guard heartRate == nil, quantity.exponent == 0, component.unit == "/min" else { return nil }
                heartRate = quantity.mantissa
            case .energyExpended:
                guard energy == nil, quantity.exponent == 0, component.unit == "kJ" else { return nil }
                energy = quantity.mantissa
            case .rrInterval:
                // ticks / 1024 s = ticks × 9765625 × 10⁻¹⁰ s (as the mapper writes it).
                guard quantity.exponent == -10, component.unit == "s", quantity.mantissa % 9_765_625 == 0 else {
                    return nil
                }
                intervals.append(quantity.mantissa / 9_765_625)
            default:
                return nil
            }
        }
        guard let heartRate else { return nil }
        var bytes: [UInt8] = [flags]
        func uint16(_ value: Int64) -> Bool {
            guard (0...0xFFFF).contains(value) else { return false }
            bytes += [UInt8(value & 0xFF), UInt8(value >> 8)]
            return true
        }
        if flags & 0x01 == 0 {
            guard (0...0xFF).contains(heartRate) else { return nil }
            bytes.append(UInt8(heartRate))
        } else if !uint16(heartRate) {
            return nil
        }
        if flags & 0x08 != 0 {
            guard let energy, uint16(energy) else { return nil }
        } else if energy != nil {
            return nil
        }
        if flags & 0x10 == 0, !intervals.isEmpty { return nil }
        for interval in intervals where !uint16(interval) { return nil }
        return bytes
    }

    /// A series reading from its template and the values its samples hold, with its payload rebuilt.
    static func reading(template: ReadingTemplate, effectiveMicros: Int64, values: [ReadingValue])
        throws(ReadingSplitError) -> Reading
    {
        guard let flags = template.payloadPrefix?.first else {
            throw ReadingSplitError(description: "provenance entry for a series reading has no payload flags")
        }
        var reading = try Reading(
            template: template,
            variation: ReadingVariation(
                effectiveMicros: effectiveMicros, receivedOffsetMicros: 0, values: values, payloads: [], sequence: nil,
                deviceTimestamp: nil,
                deviceTimeOffsetMinutes: nil, glucoseSequence: nil))
        guard let payload = canonicalPayload(flags: flags, components: reading.components) else {
            throw ReadingSplitError(
                description: "the samples of a series reading at \(effectiveMicros) µs do not encode under its flags")
        }
        reading.rawPayloads = [payload]
        return reading
    }

    /// The store's tag for a series reading's samples: its provenance entry's id (a glucose reading's tag is its meal;
    /// glucose is never a series reading).
    static func tag(_ provenanceID: Int64) -> UInt32? { UInt32(exactly: provenanceID) }

    /// The readings of one span, rebuilt from the store: the samples of the span's device's series in `range` (within
    /// the span) whose flags are the span's and whose tag names a provenance entry, grouped per instant and entry and
    /// given to the entry's components in order. Samples in chunks that fail their checksum are reported by the store
    /// and their readings left out (the rest is served).
    static func readings(
        of span: Span, range: Range<Int64>, store: TimeSeriesStore, template: (Int64) throws -> ReadingTemplate
    ) throws -> [(reading: Reading, provenanceID: Int64)] {
        let lower = max(range.lowerBound, span.first)
        let upper = min(range.upperBound, span.last &+ 1)
        guard lower < upper else { return [] }
        let first = try template(span.provenanceID)
        guard let subject = first.subject else {
            throw ReadingSplitError(description: "provenance entry \(span.provenanceID) has no subject")
        }
        func samples(_ metric: Metric) throws -> [Sample] {
            guard
                let id = store.existingSeries(
                    SeriesKey(subject: subject, device: first.device.key, metric: metric.rawValue))
            else { return [] }
            let scan = try store.scan(id, range: lower..<upper)
            if !scan.corruptChunks.isEmpty {
                ReadingArchive.logger.error(
                    "chunks of a series failed their checksum; their readings are left out",
                    metadata: [
                        "series": "\(subject)/\(first.device.key)/\(metric.rawValue)",
                        "chunks": "\(scan.corruptChunks)",
                    ])
            }
            return scan.samples.filter { $0.flags == span.flags && $0.contextTag != nil }
        }
        let anchors = try samples(.heartRate)
        // The other components of each (instant, entry), in the order they were appended.
        var others: [Metric: [SlotKey: ArraySlice<DecimalValue>]] = [:]
        for metric in [Metric.rrInterval, .energyExpended] {
            var grouped: [SlotKey: [DecimalValue]] = [:]
            for sample in try samples(metric) {
                grouped[SlotKey(micros: sample.timestampMicros, tag: sample.contextTag ?? 0), default: []].append(
                    sample.value)
            }
            others[metric] = grouped.mapValues { $0[...] }
        }
        var result: [(reading: Reading, provenanceID: Int64)] = []
        result.reserveCapacity(anchors.count)
        for anchor in anchors {
            guard let tag = anchor.contextTag else { continue }
            let id = Int64(tag)
            let shaped = try template(id)
            guard shaped.device.key == first.device.key, shaped.subject == subject, shaped.payloadPrefix != nil else {
                continue
            }
            let slot = SlotKey(micros: anchor.timestampMicros, tag: tag)
            var values: [ReadingValue] = []
            values.reserveCapacity(shaped.shape.count)
            var usedAnchor = false
            for component in shaped.shape {
                guard let metric = Metric(rawValue: component.metric) else {
                    throw ReadingSplitError(description: "unknown metric '\(component.metric)'")
                }
                if component.repeated == true {
                    // Every sample of the metric at this instant and entry (the journal keeps one reading a slot).
                    for value in others[metric]?[slot] ?? [] {
                        values.append(.quantity(DecimalQuantity(mantissa: value.mantissa, exponent: value.exponent)))
                    }
                    others[metric]?[slot] = nil
                    continue
                }
                let value: DecimalValue
                if metric == .heartRate, !usedAnchor {
                    usedAnchor = true
                    value = anchor.value
                } else {
                    guard let next = others[metric]?[slot]?.first else {
                        throw ReadingSplitError(
                            description:
                                "a series reading at \(anchor.timestampMicros) µs lacks its \(metric.rawValue) sample")
                    }
                    others[metric]?[slot]?.removeFirst()
                    value = next
                }
                values.append(.quantity(DecimalQuantity(mantissa: value.mantissa, exponent: value.exponent)))
            }
            result.append((try reading(template: shaped, effectiveMicros: anchor.timestampMicros, values: values), id))
        }
        return result
    }

    struct SlotKey: Hashable {
        var micros: Int64
        var tag: UInt32
    }

    /// Where one batch's series readings of one stream, device and flags are: the row that stands for them.
    struct Span: Sendable {
        var provenanceID: Int64
        var flags: UInt16
        var first: Int64
        var last: Int64
        var count: Int
    }
}
