import Foundation
import Provenance
import Testing

/// The import file's fast decoder gives exactly what JSONDecoder gives, for every shape of reading the gateway stores,
/// whatever the key order, and fails where JSONDecoder fails.
@Suite struct ReadingLineDecoderTests {
    static func lines(_ readings: [Reading], sorted: Bool) throws -> [[UInt8]] {
        let encoder = JSONEncoder()
        if sorted { encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes] }
        return try readings.map { Array(try encoder.encode($0)) }
    }

    @Test func everyShapeDecodesAsJSONDecoderDecodesIt() throws {
        var readings = ProvenanceCatalogTests.readings()
        var unmapped = readings[0]
        unmapped.subject = nil
        unmapped.characteristic = "0x2A35 \"quoted\" \u{00E9}\\"
        readings.append(unmapped)
        // Many notifications of one strap: the caches must never hand one line's values to another.
        if let strap = readings.first(where: { $0.kind == .heartRate }) {
            for index in 0..<50 {
                var next = strap
                next.time.receivedMicros += Int64(index) * 1_000_000
                next.time.effectiveMicros += Int64(index) * 1_000_000
                next.components[0].value = .quantity(DecimalQuantity(mantissa: 60 + Int64(index), exponent: 0))
                next.rawPayloads = [[0x16, UInt8(60 + index)]]
                readings.append(next)
            }
        }
        let decoder = ReadingLineDecoder()
        for sorted in [false, true] {
            for (line, reading) in zip(try Self.lines(readings, sorted: sorted), readings) {
                #expect(try decoder.decode(line) == reading)
                #expect(try decoder.decode(line) == JSONDecoder().decode(Reading.self, from: Data(line)))
            }
        }
    }

    @Test func unknownKeysAreIgnoredAndBadLinesFailAsJSONDecoderFails() throws {
        let reading = ProvenanceCatalogTests.readings()[0]
        var object = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(reading)) as? [String: Any])
        object["futureField"] = ["nested": [1, 2, 3]]
        let extended = Array(try JSONSerialization.data(withJSONObject: object))
        #expect(try ReadingLineDecoder().decode(extended) == reading)

        for bad in [
            "", "{", "{\"kind\":\"heart_rate\"}", "not json", "{\"kind\":7}",
            String(decoding: extended, as: UTF8.self) + "x",
        ] {
            #expect(throws: (any Error).self) { try ReadingLineDecoder().decode(Array(bad.utf8)) }
        }
        // A value JSONDecoder accepts in another spelling is still decoded (through JSONDecoder).
        var spaced = String(decoding: try JSONEncoder().encode(reading), as: UTF8.self)
        spaced = spaced.replacingOccurrences(of: ",", with: " , ").replacingOccurrences(of: ":", with: " : ")
        #expect(try ReadingLineDecoder().decode(Array(spaced.utf8)) == reading)
    }
}
