import CZstd

/// Why zstd refused to compress or decompress, in zstd's own words.
public struct ZstdError: Error, CustomStringConvertible {
    public let operation: String
    public let reason: String
    public var description: String { "zstd \(operation) failed: \(reason)" }
}

/// One-shot zstd through the system libzstd. Columns are small (kilobytes), so one-shot calls with the
/// decompressed length recorded in the chunk header are simpler and as fast as streaming.
package enum Zstd {
    package static func compress(_ input: [UInt8], level: Int32) throws(ZstdError) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = input.withUnsafeBytes { src in
            output.withUnsafeMutableBytes { dst in
                ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, level)
            }
        }
        if ZSTD_isError(written) != 0 { throw ZstdError(operation: "compress", reason: errorName(written)) }
        output.removeSubrange(written...)
        return output
    }

    /// Decompresses exactly `expectedLength` bytes; anything else is corruption.
    package static func decompress(_ input: ArraySlice<UInt8>, expectedLength: Int) throws(ZstdError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: expectedLength)
        let produced = input.withUnsafeBytes { src in
            output.withUnsafeMutableBytes { dst in
                ZSTD_decompress(dst.baseAddress, expectedLength, src.baseAddress, src.count)
            }
        }
        if ZSTD_isError(produced) != 0 {
            throw ZstdError(operation: "decompress", reason: errorName(produced))
        }
        guard produced == expectedLength else {
            throw ZstdError(
                operation: "decompress", reason: "produced \(produced) bytes, the header promised \(expectedLength)")
        }
        return output
    }

    /// Compresses against `dictionary` used as raw content (a similar earlier input): what repeats it costs a few bytes.
    package static func compress(_ input: [UInt8], dictionary: [UInt8], level: Int32) throws(ZstdError) -> [UInt8] {
        guard let context = ZSTD_createCCtx() else {
            throw ZstdError(operation: "compress", reason: "cannot allocate a context")
        }
        defer { ZSTD_freeCCtx(context) }
        let bound = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = input.withUnsafeBytes { src in
            dictionary.withUnsafeBytes { dict in
                output.withUnsafeMutableBytes { dst in
                    ZSTD_compress_usingDict(
                        context, dst.baseAddress, bound, src.baseAddress, src.count, dict.baseAddress, dict.count, level
                    )
                }
            }
        }
        if ZSTD_isError(written) != 0 { throw ZstdError(operation: "compress", reason: errorName(written)) }
        output.removeSubrange(written...)
        return output
    }

    /// Decompresses exactly `expectedLength` bytes compressed against `dictionary`.
    package static func decompress(_ input: ArraySlice<UInt8>, dictionary: [UInt8], expectedLength: Int)
        throws(ZstdError) -> [UInt8]
    {
        guard let context = ZSTD_createDCtx() else {
            throw ZstdError(operation: "decompress", reason: "cannot allocate a context")
        }
        defer { ZSTD_freeDCtx(context) }
        var output = [UInt8](repeating: 0, count: expectedLength)
        let produced = input.withUnsafeBytes { src in
            dictionary.withUnsafeBytes { dict in
                output.withUnsafeMutableBytes { dst in
                    ZSTD_decompress_usingDict(
                        context, dst.baseAddress, expectedLength, src.baseAddress, src.count, dict.baseAddress,
                        dict.count)
                }
            }
        }
        if ZSTD_isError(produced) != 0 { throw ZstdError(operation: "decompress", reason: errorName(produced)) }
        guard produced == expectedLength else {
            throw ZstdError(
                operation: "decompress", reason: "produced \(produced) bytes, the entry promised \(expectedLength)")
        }
        return output
    }

    private static func errorName(_ code: Int) -> String {
        guard let name = ZSTD_getErrorName(code) else { return "error \(code)" }
        return String(cString: name)
    }
}

extension Zstd {
    /// Decompresses a whole zstd stream of unknown length (e.g. a `.csv.zst` import file).
    static func decompressStream(_ input: [UInt8]) throws(ZstdError) -> [UInt8] {
        guard let stream = ZSTD_createDStream() else {
            throw ZstdError(operation: "decompress", reason: "cannot allocate a decompression stream")
        }
        defer { ZSTD_freeDStream(stream) }
        var output: [UInt8] = []
        let chunkSize = ZSTD_DStreamOutSize()
        var scratch = [UInt8](repeating: 0, count: chunkSize)
        var failure: Int?
        var lastHint = 0
        input.withUnsafeBytes { src in
            var inBuffer = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
            while true {
                let (hint, filled) = scratch.withUnsafeMutableBytes { dst -> (Int, Bool) in
                    var outBuffer = ZSTD_outBuffer(dst: dst.baseAddress, size: chunkSize, pos: 0)
                    let hint = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    output.append(contentsOf: dst.prefix(outBuffer.pos))
                    return (hint, outBuffer.pos == chunkSize)
                }
                if ZSTD_isError(hint) != 0 {
                    failure = hint
                    return
                }
                lastHint = hint
                // Done when all input is consumed and the last call did not fill the output buffer.
                if inBuffer.pos == inBuffer.size && !filled { return }
            }
        }
        if let failure { throw ZstdError(operation: "decompress", reason: errorName(failure)) }
        if lastHint != 0 { throw ZstdError(operation: "decompress", reason: "the stream is truncated") }
        return output
    }
}
