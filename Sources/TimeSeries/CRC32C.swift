/// CRC-32C (Castagnoli), the checksum of log records and chunks.
///
/// Chosen over a cryptographic hash because it only has to catch torn writes and bit rot on an SD card, and
/// it must be cheap enough to run on every group commit. Slicing-by-8 keeps it well above disk speed.
enum CRC32C {
    /// Eight 256-entry tables, flattened: table t starts at t * 256.
    private static let table: [UInt32] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var crc = UInt32(i)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][i] = crc
        }
        for i in 0..<256 {
            for t in 1..<8 {
                let previous = tables[t - 1][i]
                tables[t][i] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables.flatMap { $0 }
    }()

    static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        update(0, bytes)
    }

    static func update(_ crc: UInt32, _ bytes: some Collection<UInt8>) -> UInt32 {
        table.withUnsafeBufferPointer { t in
            var c = ~crc
            if let done = bytes.withContiguousStorageIfAvailable({ buffer -> UInt32 in
                slice8(c, buffer, t)
            }) {
                return ~done
            }
            for byte in bytes { c = t[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
            return ~c
        }
    }

    private static func slice8(
        _ start: UInt32, _ buffer: UnsafeBufferPointer<UInt8>, _ t: UnsafeBufferPointer<UInt32>
    ) -> UInt32 {
        var c = start
        var i = 0
        let n = buffer.count
        while i + 8 <= n {
            let lo =
                c
                ^ (UInt32(buffer[i]) | UInt32(buffer[i + 1]) << 8 | UInt32(buffer[i + 2]) << 16
                    | UInt32(buffer[i + 3]) << 24)
            c =
                t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                ^ t[3 * 256 + Int(buffer[i + 4])] ^ t[2 * 256 + Int(buffer[i + 5])]
                ^ t[1 * 256 + Int(buffer[i + 6])] ^ t[0 * 256 + Int(buffer[i + 7])]
            i += 8
        }
        while i < n {
            c = t[Int((c ^ UInt32(buffer[i])) & 0xFF)] ^ (c >> 8)
            i += 1
        }
        return c
    }
}
