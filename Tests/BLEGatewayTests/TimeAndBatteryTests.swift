import Testing

@testable import BLEGateway

@Suite struct TimeAndBatteryTests {
    typealias Kit = CharacteristicTestKit

    // MARK: Current Time

    /// Friday 2024-03-15 08:30:05 and 128/256 s, after a manual update and an external reference update.
    static let currentTime: [UInt8] = [0xE8, 0x07, 0x03, 0x0F, 0x08, 0x1E, 0x05, 0x05, 0x80, 0x03]

    @Test func currentTimeDecodesFieldByField() throws {
        let value = try CurrentTime(decoding: Self.currentTime)
        #expect(value.dateTime == DateTime(year: 2024, month: 3, day: 15, hour: 8, minute: 30, second: 5))
        #expect(value.dayOfWeek == .friday)
        #expect(value.fractions256 == 128)
        #expect(value.fractionSeconds == "0.5")
        #expect(value.adjustReason.manualTimeUpdate)
        #expect(value.adjustReason.externalReferenceTimeUpdate)
        #expect(!value.adjustReason.changeOfTimeZone)
        #expect(!value.adjustReason.changeOfDST)
        #expect(value.encoded() == Self.currentTime)
        #expect(value.json["day_of_week"] == .string("Friday"))
        #expect(value.json["fraction_seconds"] == .number("0.5"))
        #expect(value.json["adjust_reason"]?["change_of_dst"] == .bool(false))
    }

    @Test func currentTimeDayOfWeekValues() throws {
        var bytes = Self.currentTime
        bytes[7] = 0
        #expect(try CurrentTime(decoding: bytes).dayOfWeek == nil)
        #expect(try CurrentTime(decoding: bytes).json["day_of_week"] == .string("not known"))
        for day in 1...7 {
            bytes[7] = UInt8(day)
            #expect(try CurrentTime(decoding: bytes).dayOfWeek?.rawValue == UInt8(day))
        }
        for day in [8, 9, 0x80, 0xFF] {
            bytes[7] = UInt8(day)
            Kit.expectError(
                CurrentTime.self, bytes, field: "day_of_week", offset: 7, problem: .reservedValue(UInt64(day)))
        }
    }

    @Test func currentTimeFractionsAreExact() {
        func seconds(_ fractions: UInt8) -> String {
            CurrentTime(
                dateTime: DateTime(year: nil, month: nil, day: nil, hour: 0, minute: 0, second: 0),
                dayOfWeek: nil, fractions256: fractions
            ).fractionSeconds
        }
        #expect(seconds(0) == "0")
        #expect(seconds(1) == "0.00390625")
        #expect(seconds(64) == "0.25")
        #expect(seconds(255) == "0.99609375")
    }

    @Test(arguments: [UInt8(0x10), 0x20, 0x40, 0x80])
    func currentTimeReservedAdjustReasonBitsAreRefused(bit: UInt8) {
        var bytes = Self.currentTime
        bytes[9] |= bit
        Kit.expectError(
            CurrentTime.self, bytes, field: "adjust_reason", offset: 9, problem: .reservedFlagBits(UInt64(bit)))
    }

    @Test func currentTimeEveryAdjustReasonRoundTrips() throws {
        for reason in UInt8(0)..<16 {
            var bytes = Self.currentTime
            bytes[9] = reason
            let value = try CurrentTime(decoding: bytes)
            #expect(value.adjustReason.rawValue == reason)
            #expect(value.encoded() == bytes)
        }
    }

    @Test func currentTimeTruncationTrailingAndBadDate() {
        Kit.expectTruncation(
            CurrentTime.self, full: Self.currentTime,
            layout: [
                ("date_time.year", 2), ("date_time.month", 1), ("date_time.day", 1), ("date_time.hours", 1),
                ("date_time.minutes", 1), ("date_time.seconds", 1), ("day_of_week", 1), ("fractions256", 1),
                ("adjust_reason", 1),
            ])
        Kit.expectTrailingByteRefused(CurrentTime.self, full: Self.currentTime)
        var badHour = Self.currentTime
        badHour[4] = 24
        Kit.expectError(CurrentTime.self, badHour, field: "date_time.hours", offset: 4, problem: .reservedValue(24))
    }

    // MARK: Local Time Information

    @Test func localTimeInformationExamples() throws {
        let tokyo = try LocalTimeInformation(decoding: [36, 0])  // UTC+9, standard time
        #expect(tokyo.timeZone == 36)
        #expect(tokyo.dstOffset == .standardTime)
        #expect(tokyo.utcOffsetMinutes == 540)
        #expect(tokyo.json["utc_offset"] == .string("+09:00"))

        let newYorkSummer = try LocalTimeInformation(decoding: [0xEC, 4])  // −20 × 15 min = −5 h, +1 h DST
        #expect(newYorkSummer.timeZone == -20)
        #expect(newYorkSummer.dstOffset == .daylightTime)
        #expect(newYorkSummer.utcOffsetMinutes == -240)
        #expect(newYorkSummer.json["standard_utc_offset"] == .string("-05:00"))
        #expect(newYorkSummer.json["utc_offset"] == .string("-04:00"))

        let india = try LocalTimeInformation(decoding: [22, 0])
        #expect(india.json["utc_offset"] == .string("+05:30"))
        let lordHowe = try LocalTimeInformation(decoding: [42, 2])  // +10:30 with a half-hour DST
        #expect(lordHowe.utcOffsetMinutes == 660)

        let unknown = try LocalTimeInformation(decoding: [0x80, 0xFF])
        #expect(unknown.timeZone == nil)
        #expect(unknown.dstOffset == nil)
        #expect(unknown.utcOffsetMinutes == nil)
        #expect(unknown.json.text == #"{"time_zone":"not known","dst_offset":"not known"}"#)
        #expect(unknown.encoded() == [0x80, 0xFF])
    }

    @Test func localTimeEveryTimeZoneByte() throws {
        for raw in 0...255 {
            let zone = Int8(bitPattern: UInt8(raw))
            let bytes: [UInt8] = [UInt8(raw), 0]
            if zone == -128 || (-48...56).contains(zone) {
                let value = try LocalTimeInformation(decoding: bytes)
                #expect(value.timeZone == (zone == -128 ? nil : zone))
                #expect(value.encoded() == bytes)
            } else {
                Kit.expectError(
                    LocalTimeInformation.self, bytes, field: "time_zone", offset: 0,
                    problem: .reservedValue(UInt64(raw)))
            }
        }
    }

    @Test func localTimeEveryDSTByte() throws {
        let valid: [UInt8: LocalTimeInformation.DSTOffset?] = [
            0: .standardTime, 2: .halfAnHourDaylightTime, 4: .daylightTime, 8: .doubleDaylightTime, 255: nil,
        ]
        for raw in 0...255 {
            let bytes: [UInt8] = [0, UInt8(raw)]
            if let expected = valid[UInt8(raw)] {
                let value = try LocalTimeInformation(decoding: bytes)
                #expect(value.dstOffset == expected)
                #expect(value.encoded() == bytes)
            } else {
                Kit.expectError(
                    LocalTimeInformation.self, bytes, field: "dst_offset", offset: 1,
                    problem: .reservedValue(UInt64(raw)))
            }
        }
        #expect(LocalTimeInformation.DSTOffset.doubleDaylightTime.minutes == 120)
    }

    @Test func localTimeTruncationAndTrailing() {
        Kit.expectTruncation(LocalTimeInformation.self, full: [36, 0], layout: [("time_zone", 1), ("dst_offset", 1)])
        Kit.expectTrailingByteRefused(LocalTimeInformation.self, full: [36, 0])
    }

    // MARK: Battery Level

    @Test func batteryLevelRange() throws {
        for raw in 0...255 {
            if raw <= 100 {
                let value = try BatteryLevel(decoding: [UInt8(raw)])
                #expect(Int(value.percent) == raw)
                #expect(value.encoded() == [UInt8(raw)])
                #expect(value.json == .members([("battery_level", .integer(raw))]))
            } else {
                Kit.expectError(
                    BatteryLevel.self, [UInt8(raw)], field: "battery_level", offset: 0,
                    problem: .reservedValue(UInt64(raw)))
            }
        }
        #expect(BatteryLevel(percent: 100)?.percent == 100)
        #expect(BatteryLevel(percent: 101) == nil)
        #expect(BatteryLevel(percent: -1) == nil)
        Kit.expectTruncation(BatteryLevel.self, full: [87], layout: [("battery_level", 1)])
        Kit.expectTrailingByteRefused(BatteryLevel.self, full: [87])
    }

    // MARK: Catalog and fuzz

    @Test func catalogFindsTheTimeAndBatteryTypes() {
        #expect(Kit.catalogType(0x2A2B) == ObjectIdentifier(CurrentTime.self))
        #expect(Kit.catalogType(0x2A0F) == ObjectIdentifier(LocalTimeInformation.self))
        #expect(Kit.catalogType(0x2A19) == ObjectIdentifier(BatteryLevel.self))
    }

    @Test func catalogUUIDsAreUnique() {
        let uuids = CharacteristicCatalog.all.map { $0.uuid }
        #expect(Set(uuids).count == uuids.count)
        #expect(Set(CharacteristicCatalog.all.map { $0.name }).count == uuids.count)
    }

    @Test func fuzzNeverCrashesAndCanonicalPayloadsReEncodeExactly() {
        let current = Kit.fuzz(CurrentTime.self, seed: 0x71AE_0001) { random in
            guard random.chance(60) else { return random.bytes(random.below(12)) }
            let valid = CurrentTime(
                dateTime: DateTime(
                    year: 2000 + random.below(100), month: random.below(13), day: random.below(32),
                    hour: random.below(24), minute: random.below(60), second: random.below(60)),
                dayOfWeek: CurrentTime.DayOfWeek(rawValue: UInt8(random.below(8))), fractions256: random.byte(),
                adjustReason: .init(manualTimeUpdate: random.chance(50), changeOfDST: random.chance(50)))
            return Kit.mutated(valid.encoded(), &random)
        }
        #expect(current.decoded > 500)
        #expect(current.refused > 500)

        let local = Kit.fuzz(LocalTimeInformation.self, seed: 0x71AE_0002) { random in
            guard random.chance(50) else { return random.bytes(random.below(4)) }
            let dst: [UInt8] = [0, 2, 4, 8, 255]
            return Kit.mutated([random.byte(), dst[random.below(dst.count)]], &random)
        }
        #expect(local.decoded > 150)
        #expect(local.refused > 1000)

        let battery = Kit.fuzz(BatteryLevel.self, seed: 0x71AE_0003) { random in random.bytes(random.below(3)) }
        #expect(battery.decoded > 100)
        #expect(battery.refused > 1000)
    }
}
