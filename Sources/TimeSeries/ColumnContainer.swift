/// Why a chunk's bytes could not be turned back into columns.
public enum ChunkFormatError: Error, CustomStringConvertible {
    case badMagic
    case unsupportedVersion(UInt8)
    case unexpectedKind(expected: UInt8, found: UInt8)
    case checksumMismatch(stored: UInt32, computed: UInt32)
    case malformed(ByteReadError)
    case decompression(ZstdError)
    case missingColumn(UInt8)
    case unknownEncoding(column: UInt8, code: UInt8)

    public var description: String {
        switch self {
        case .badMagic: "not a gatewayd chunk (bad magic bytes)"
        case .unsupportedVersion(let v): "chunk format version \(v) is newer than this gatewayd understands"
        case .unexpectedKind(let expected, let found): "chunk kind \(found), expected \(expected)"
        case .checksumMismatch(let stored, let computed):
            "checksum mismatch: stored \(hex(stored)), computed \(hex(computed)) — the chunk is corrupt"
        case .malformed(let e): "malformed chunk: \(e)"
        case .decompression(let e): "\(e)"
        case .missingColumn(let id): "chunk lacks column \(id)"
        case .unknownEncoding(let column, let code): "column \(column) has unknown encoding \(code)"
        }
    }

    private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
}

/// The immutable on-disk container of encoded columns, shared by sample chunks and rollup chunks.
///
/// Layout: magic "GWCK", version, kind, row count, column directory (id, encoding, compression, raw length,
/// stored length), column bodies, then a CRC-32C of everything before it. The checksum is verified before any
/// byte is interpreted, so a flipped bit on the SD card is reported as corruption, never decoded as data.
enum ColumnContainer {
    static let magic: [UInt8] = Array("GWCK".utf8)
    static let version: UInt8 = 1

    struct ColumnInput {
        var id: UInt8
        var values: [Int64]
        /// Candidate encodings; the one whose compressed form is smallest wins ("whichever the data favours").
        var candidates: [ColumnEncoding]
    }

    /// Which encoding each column ended up with, for reports and benchmarks.
    struct EncodedColumnReport: Sendable {
        var id: UInt8
        var encoding: ColumnEncoding
        var storedBytes: Int
    }

    static func encode(
        kind: UInt8, rowCount: Int, columns: [ColumnInput], compressionLevel: Int32
    ) throws(ZstdError) -> (bytes: [UInt8], report: [EncodedColumnReport]) {
        var bodies: [(id: UInt8, encoding: ColumnEncoding, compressed: Bool, rawLength: Int, body: [UInt8])] = []
        for column in columns {
            var best: (ColumnEncoding, Bool, Int, [UInt8])?
            for encoding in column.candidates {
                for minimumWidth in encoding == .runLength ? [0] : [0, 8] {
                    let raw = ColumnCodec.encode(column.values, as: encoding, minimumWidth: minimumWidth)
                    var candidate = (encoding, false, raw.count, raw)
                    if raw.count > 16 {
                        let packed = try Zstd.compress(raw, level: compressionLevel)
                        if packed.count < raw.count { candidate = (encoding, true, raw.count, packed) }
                    }
                    if best == nil || candidate.3.count < best!.3.count { best = candidate }
                }
            }
            if let best { bodies.append((column.id, best.0, best.1, best.2, best.3)) }
        }
        var writer = ByteWriter(capacity: bodies.reduce(64) { $0 + $1.body.count + 12 })
        writer.write(contentsOf: magic)
        writer.write(version)
        writer.write(kind)
        writer.write(varint: UInt64(rowCount))
        writer.write(UInt8(bodies.count))
        for b in bodies {
            writer.write(b.id)
            writer.write(b.encoding.rawValue)
            writer.write(b.compressed ? 1 : 0)
            writer.write(varint: UInt64(b.rawLength))
            writer.write(varint: UInt64(b.body.count))
        }
        for b in bodies { writer.write(contentsOf: b.body) }
        writer.write(littleEndian: CRC32C.checksum(writer.bytes))
        let report = bodies.map { EncodedColumnReport(id: $0.id, encoding: $0.encoding, storedBytes: $0.body.count) }
        return (writer.bytes, report)
    }

    /// Verifies the checksum and decodes every column into 64-bit integers, keyed by column id.
    static func decode(
        _ bytes: ArraySlice<UInt8>, expectedKind: UInt8
    ) throws(ChunkFormatError) -> (rowCount: Int, columns: [UInt8: [Int64]]) {
        guard bytes.count >= magic.count + 4, bytes.prefix(magic.count).elementsEqual(magic) else {
            throw .badMagic
        }
        let bodyEnd = bytes.endIndex - 4
        var tail = ByteReader(bytes[bodyEnd...])
        let stored: UInt32
        do { stored = try tail.read(UInt32.self, "chunk checksum") } catch { throw .malformed(error) }
        let computed = CRC32C.checksum(bytes[bytes.startIndex..<bodyEnd])
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }

        var reader = ByteReader(bytes[(bytes.startIndex + magic.count)..<bodyEnd])
        do {
            let version = try reader.readByte("format version")
            guard version == Self.version else { throw ChunkFormatError.unsupportedVersion(version) }
            let kind = try reader.readByte("chunk kind")
            guard kind == expectedKind else {
                throw ChunkFormatError.unexpectedKind(expected: expectedKind, found: kind)
            }
            let rowCount = Int(clamping: try reader.readVarint("row count"))
            let columnCount = Int(try reader.readByte("column count"))
            var directory: [(id: UInt8, encoding: ColumnEncoding, compressed: Bool, raw: Int, stored: Int)] = []
            for _ in 0..<columnCount {
                let id = try reader.readByte("column id")
                let code = try reader.readByte("column encoding")
                guard let encoding = ColumnEncoding(rawValue: code) else {
                    throw ChunkFormatError.unknownEncoding(column: id, code: code)
                }
                let compression = try reader.readByte("column compression")
                let raw = Int(clamping: try reader.readVarint("column raw length"))
                let storedLength = Int(clamping: try reader.readVarint("column stored length"))
                directory.append((id, encoding, compression == 1, raw, storedLength))
            }
            var columns: [UInt8: [Int64]] = [:]
            for entry in directory {
                let body = try reader.readBytes(entry.stored, "column \(entry.id) body")
                let raw: ArraySlice<UInt8>
                if entry.compressed {
                    do { raw = try Zstd.decompress(body, expectedLength: entry.raw)[...] } catch {
                        throw ChunkFormatError.decompression(error)
                    }
                } else {
                    raw = body
                }
                columns[entry.id] = try ColumnCodec.decode(raw, as: entry.encoding, expectedCount: rowCount)
            }
            guard reader.isAtEnd else {
                throw ChunkFormatError.malformed(reader.error("chunk end", "\(reader.remaining) trailing bytes"))
            }
            return (rowCount, columns)
        } catch let error as ChunkFormatError {
            throw error
        } catch let error as ByteReadError {
            throw .malformed(error)
        } catch {
            throw .malformed(ByteReadError(field: "chunk", offset: 0, problem: "\(error)"))
        }
    }
}
