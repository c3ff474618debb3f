import Testing

@testable import BLEGateway

@Suite struct DateTimeTests {
    typealias Kit = CharacteristicTestKit

    /// 2024-03-15 08:30:05: year 2024 = 0x07E8, little-endian.
    static let example: [UInt8] = [0xE8, 0x07, 0x03, 0x0F, 0x08, 0x1E, 0x05]

    @Test func decodesFieldByField() throws {
        let value = try DateTime(decoding: Self.example)
        #expect(value.year == 2024)
        #expect(value.month == 3)
        #expect(value.day == 15)
        #expect(value.hour == 8)
        #expect(value.minute == 30)
        #expect(value.second == 5)
        #expect(value.isComplete)
        #expect(value.description == "2024-03-15T08:30:05")
        #expect(value.encoded() == Self.example)
    }

    @Test func unknownYearMonthAndDayAreNil() throws {
        let value = try DateTime(decoding: [0x00, 0x00, 0x00, 0x00, 0x0C, 0x00, 0x00])
        #expect(value.year == nil)
        #expect(value.month == nil)
        #expect(value.day == nil)
        #expect(!value.isComplete)
        #expect(value.description == "????-??-??T12:00:00")
        #expect(value.json["year"] == .string("not known"))
        #expect(value.json["hours"] == .number("12"))
        #expect(value.encoded() == [0x00, 0x00, 0x00, 0x00, 0x0C, 0x00, 0x00])

        let onlyDayUnknown = try DateTime(decoding: [0xE8, 0x07, 0x03, 0x00, 0x08, 0x1E, 0x05])
        #expect(onlyDayUnknown.day == nil)
        #expect(onlyDayUnknown.month == 3)
        #expect(!onlyDayUnknown.isComplete)
    }

    @Test func yearBoundaries() throws {
        #expect(try DateTime(decoding: [0x2E, 0x06, 1, 1, 0, 0, 0]).year == 1582)
        #expect(try DateTime(decoding: [0x0F, 0x27, 12, 31, 23, 59, 59]).year == 9999)
        Kit.expectError(
            DateTime.self, [0x2D, 0x06, 1, 1, 0, 0, 0], field: "date_time.year", offset: 0,
            problem: .reservedValue(1581))
        Kit.expectError(
            DateTime.self, [0x10, 0x27, 1, 1, 0, 0, 0], field: "date_time.year", offset: 0,
            problem: .reservedValue(10000))
    }

    @Test(arguments: [
        (2, UInt8(13), "date_time.month"), (3, 32, "date_time.day"), (4, 24, "date_time.hours"),
        (5, 60, "date_time.minutes"), (6, 60, "date_time.seconds"), (6, 255, "date_time.seconds"),
    ])
    func outOfRangeFieldsAreRefused(offset: Int, value: UInt8, field: String) {
        var bytes = Self.example
        bytes[offset] = value
        Kit.expectError(DateTime.self, bytes, field: field, offset: offset, problem: .reservedValue(UInt64(value)))
    }

    @Test func truncationAndTrailingBytes() {
        Kit.expectTruncation(
            DateTime.self, full: Self.example,
            layout: [
                ("date_time.year", 2), ("date_time.month", 1), ("date_time.day", 1), ("date_time.hours", 1),
                ("date_time.minutes", 1), ("date_time.seconds", 1),
            ])
        Kit.expectTrailingByteRefused(DateTime.self, full: Self.example)
    }

    @Test func fuzz() {
        let result = Kit.fuzz(DateTime.self, seed: 0xDA7E) { random in
            guard random.chance(50) else { return random.bytes(random.below(10)) }
            let valid = DateTime(
                year: 1582 + random.below(8418), month: random.below(13), day: random.below(32),
                hour: random.below(24), minute: random.below(60), second: random.below(60))
            return Kit.mutated(valid.encoded(), &random)
        }
        #expect(result.decoded > 300)
        #expect(result.refused > 300)
    }
}
