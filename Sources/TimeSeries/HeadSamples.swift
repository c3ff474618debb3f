/// A series' unsealed samples, held as compact bytes rather than as `Sample` values.
///
/// A head holds up to `chunkMaxSamples` samples (8,192) until it is sealed, and a hub has a head for every series
/// of every person: at 32 bytes a `Sample`, 100 straps' heart rate and RR intervals held ~50 MB in heads alone.
/// Each sample here is a header byte, the timestamp's delta-of-delta and the mantissa's delta (zigzag varints),
/// and the exponent, flags and context tag only when they differ from the sample before: 3–6 bytes for a 1 Hz
/// strap. Appending costs a few byte writes; reading (a query, a seal, a checkpoint) decodes the whole head,
/// which is at most one chunk's worth.
struct HeadSamples {
    private var writer = ByteWriter()
    private var bytes: [UInt8] { writer.bytes }
    private(set) var count = 0
    private var encoder = State()

    /// What the next sample is encoded against; the decoder keeps the same state.
    private struct State {
        var timestamp: Int64 = 0
        var delta: Int64 = 0
        var mantissa: Int64 = 0
        var exponent: Int8 = 0
        var flags: UInt16 = 0
        var contextTag: UInt32? = nil
    }

    /// Header bits: which optional fields follow the two varints.
    private enum Header {
        static let exponent: UInt8 = 1 << 0
        static let flags: UInt8 = 1 << 1
        static let contextNone: UInt8 = 1 << 2
        static let contextValue: UInt8 = 1 << 3
    }

    init() {}

    init(_ samples: some Sequence<Sample>) {
        for sample in samples { append(sample) }
    }

    var isEmpty: Bool { count == 0 }

    /// Bytes held, for memory accounting in tests and benchmarks.
    var byteCount: Int { bytes.count }

    mutating func append(_ sample: Sample) {
        let delta = sample.timestampMicros &- encoder.timestamp
        var header: UInt8 = 0
        if sample.value.exponent != encoder.exponent { header |= Header.exponent }
        if sample.flags != encoder.flags { header |= Header.flags }
        if sample.contextTag != encoder.contextTag {
            header |= sample.contextTag == nil ? Header.contextNone : Header.contextValue
        }
        writer.write(header)
        writer.write(varint: ZigZag.encode(delta &- encoder.delta))
        writer.write(varint: ZigZag.encode(sample.value.mantissa &- encoder.mantissa))
        if header & Header.exponent != 0 { writer.write(UInt8(bitPattern: sample.value.exponent)) }
        if header & Header.flags != 0 { writer.write(varint: UInt64(sample.flags)) }
        if header & Header.contextValue != 0, let tag = sample.contextTag { writer.write(varint: UInt64(tag)) }
        encoder = State(
            timestamp: sample.timestampMicros, delta: delta, mantissa: sample.value.mantissa,
            exponent: sample.value.exponent, flags: sample.flags, contextTag: sample.contextTag)
        count += 1
    }

    /// Every sample, in append order.
    func decoded() -> [Sample] {
        var samples: [Sample] = []
        samples.reserveCapacity(count)
        forEach { samples.append($0) }
        return samples
    }

    /// The samples whose time lies in `range`, in append order.
    func decoded(in range: Range<Int64>) -> [Sample] {
        var samples: [Sample] = []
        forEach { if range.contains($0.timestampMicros) { samples.append($0) } }
        return samples
    }

    /// The samples after the first `n`, as a new head (what stays unsealed once a chunk took the first `n`).
    func dropping(first n: Int) -> HeadSamples {
        var rest = HeadSamples()
        var index = 0
        forEach { sample in
            if index >= n { rest.append(sample) }
            index += 1
        }
        return rest
    }

    /// Decodes in order. The bytes were written by `append` alone, so they are complete and well formed.
    func forEach(_ body: (Sample) -> Void) {
        let bytes = writer.bytes
        var state = State()
        var offset = 0
        func varint() -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = bytes[offset]
                offset += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }
        for _ in 0..<count {
            let header = bytes[offset]
            offset += 1
            state.delta = state.delta &+ ZigZag.decode(varint())
            state.timestamp = state.timestamp &+ state.delta
            state.mantissa = state.mantissa &+ ZigZag.decode(varint())
            if header & Header.exponent != 0 {
                state.exponent = Int8(bitPattern: bytes[offset])
                offset += 1
            }
            if header & Header.flags != 0 { state.flags = UInt16(truncatingIfNeeded: varint()) }
            if header & Header.contextNone != 0 { state.contextTag = nil }
            if header & Header.contextValue != 0 { state.contextTag = UInt32(truncatingIfNeeded: varint()) }
            body(
                Sample(
                    timestampMicros: state.timestamp,
                    value: DecimalValue(mantissa: state.mantissa, exponent: state.exponent),
                    flags: state.flags, contextTag: state.contextTag))
        }
    }
}
