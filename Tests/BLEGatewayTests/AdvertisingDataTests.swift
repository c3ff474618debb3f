import Testing

@testable import BLEGateway

/// Advertisements built by hand from the Core Specification Supplement (Length, AD Type, data) and the Assigned
/// Numbers (AD types; appearance categories Heart Rate Sensor 0x00D → 0x0340, Blood Pressure 0x00E → 0x0380,
/// Glucose Meter 0x010 → 0x0400).
@Suite struct AdvertisingDataTests {
    func parse(_ hex: String) throws(CharacteristicDecodeError) -> AdvertisingData {
        try AdvertisingData(parsing: MgmtVectors.hex(hex))
    }

    func failure(_ hex: String) -> CharacteristicDecodeError? {
        do throws(CharacteristicDecodeError) {
            _ = try parse(hex)
            return nil
        } catch {
            return error
        }
    }

    @Test func bloodPressureCuff() throws {
        // Flags (LE general discoverable, no BR/EDR); complete 16-bit UUIDs BP 0x1810 + DIS 0x180A; name "UA-651BLE".
        let data = try parse("02 01 06 05 03 10 18 0A 18 0A 09 55 41 2D 36 35 31 42 4C 45")
        #expect(data.flags == [.leGeneralDiscoverable, .brEdrNotSupported])
        #expect(data.serviceUUIDs == [BluetoothUUID(0x1810), BluetoothUUID(0x180A)])
        #expect(data.hasCompleteServiceList)
        #expect(data.localName?.text == "UA-651BLE")
        #expect(data.localName?.isComplete == true)
        #expect(data.healthProfiles == [.bloodPressure])
        #expect(data.healthProfile == .bloodPressure)
        #expect(data.healthProfile?.deviceName == "blood-pressure monitor")
        #expect(data.structures.map(\.offset) == [0, 3, 9])
    }

    @Test func glucoseMeterKnownOnlyByItsAppearance() throws {
        // Appearance 0x0400 (Generic Glucose Meter), shortened name "Meter", manufacturer data company 0x0070.
        let data = try parse("02 01 06 03 19 00 04 06 08 4D 65 74 65 72 05 FF 70 00 01 02")
        #expect(data.healthProfiles == [])
        #expect(data.appearance == .genericGlucoseMeter)
        #expect(data.healthProfile == .glucose)
        #expect(data.localName?.text == "Meter")
        #expect(data.localName?.isComplete == false)
        #expect(data.manufacturerData == [AdvertisingData.ManufacturerData(companyID: 0x0070, data: [0x01, 0x02])])
    }

    @Test func heartRateStrap() throws {
        // Incomplete list HR 0x180D + Battery 0x180F, TX power +4 dBm, appearance 0x0341 (HR belt),
        // service data for Battery (0x180F) = 90 %, complete name "HRM-Sim".
        let data = try parse(
            "02 01 06 05 02 0D 18 0F 18 02 0A 04 03 19 41 03 04 16 0F 18 5A 08 09 48 52 4D 2D 53 69 6D")
        #expect(!data.hasCompleteServiceList)
        #expect(data.healthProfiles == [.heartRate])
        #expect(data.txPower == 4)
        #expect(data.appearance == .heartRateBelt)
        #expect(data.appearance?.healthProfile == .heartRate)
        #expect(data.serviceData == [AdvertisingData.ServiceData(uuid: BluetoothUUID(0x180F), data: [0x5A])])
        #expect(data.healthProfile == .heartRate)
    }

    @Test func longUUIDLists() throws {
        // A 32-bit list holding 0x0000180D (the HR service in its 32-bit form) and a 128-bit list (Nordic UART).
        let data = try parse("05 05 0D 18 00 00 11 07 9E CA DC 24 0E E5 A9 E0 93 F3 A3 B5 01 00 40 6E")
        let uart = try #require(BluetoothUUID(parsing: "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"))
        #expect(data.serviceUUIDs == [BluetoothUUID(0x180D), uart])
        #expect(data.healthProfiles == [.heartRate])
    }

    @Test(
        arguments: [
            (0x0380, "blood_pressure"), (0x0382, "blood_pressure"), (0x0340, "heart_rate"),
            (0x0400, "glucose"), (0x0C80, nil), (0x0000, nil),
        ] as [(UInt16, String?)])
    func appearanceCategories(_ raw: UInt16, _ profile: String?) {
        #expect(Appearance(rawValue: raw).healthProfile?.id == profile)
    }

    @Test func completeNameWinsOverShortened() throws {
        let data = try parse("04 08 41 42 43 06 09 41 42 43 44 45 04 08 58 59 5A")
        #expect(data.localName?.text == "ABCDE")
        #expect(data.localName?.isComplete == true)
    }

    @Test func invalidUTF8NameIsKeptSafely() throws {
        let data = try parse("06 09 41 FF 42 00 00")
        #expect(data.localName?.text == "A\u{FFFD}B")
        #expect(data.localName?.raw == [0x41, 0xFF, 0x42, 0x00, 0x00])
        #expect(data.localName?.isValidUTF8 == false)
    }

    @Test func zeroLengthEndsTheData() throws {
        let data = try parse("02 01 06 00 FF FF")
        #expect(data.structures.count == 1)
        #expect(try parse("").structures.isEmpty)
        #expect(try parse("00 00 00").structures.isEmpty)
    }

    @Test func unknownStructuresAreKept() throws {
        let data = try parse("03 2A 01 02")
        #expect(data.structures == [AdvertisingData.Structure(type: 0x2A, data: [0x01, 0x02], offset: 0)])
    }

    @Test func structureRunningPastTheEndNamesItsOffset() {
        let error = failure("02 01 06 05 09 41 42")
        #expect(error?.field == "ad_structure")
        #expect(error?.offset == 3)
        #expect(error?.problem == .truncated(needed: 5, available: 3))
        #expect(error?.description.contains("byte offset 3") == true)
        let lengthOnly = failure("02 01 06 02")
        #expect(lengthOnly?.offset == 3)
    }

    @Test func impossibleLengthsOfKnownTypesAreRefused() {
        let odd = failure("02 01 06 04 03 10 18 0A")
        #expect(odd?.field == "service_uuids")
        #expect(odd?.offset == 5)
        #expect(failure("02 19 00")?.field == "appearance")
        #expect(failure("03 0A 01 02")?.field == "tx_power_level")
        #expect(failure("02 16 0F")?.field == "service_data")
        #expect(failure("02 FF 70")?.field == "manufacturer_data")
        #expect(failure("04 07 01 02 03")?.field == "service_uuids")
    }

    // MARK: Encoding

    @Test func encodesFlagsServicesAndName() throws {
        let bytes = try AdvertisingData.encode(services: [0x180D], name: "HRM-Sim")
        #expect(bytes == MgmtVectors.hex("02 01 06 03 03 0D 18 08 09 48 52 4D 2D 53 69 6D"))
        let parsed = try AdvertisingData(parsing: bytes)
        #expect(parsed.flags == [.leGeneralDiscoverable, .brEdrNotSupported])
        #expect(parsed.healthProfiles == [.heartRate])
        #expect(parsed.localName?.text == "HRM-Sim")
        #expect(try AdvertisingData.encode(flags: nil, appearance: 0x0400) == [0x03, 0x19, 0x00, 0x04])
    }

    @Test func longNamesAreShortenedToFit() throws {
        // 3 (flags) + 4 (one UUID) leave 24 bytes: 2 for the header, 22 for "Blood Pressure Monitor".
        let bytes = try AdvertisingData.encode(services: [0x1810], name: "Blood Pressure Monitor Living Room")
        #expect(bytes.count == 31)
        let parsed = try AdvertisingData(parsing: bytes)
        #expect(parsed.localName?.text == "Blood Pressure Monitor")
        #expect(parsed.localName?.isComplete == false)
    }

    @Test func shorteningNeverSplitsACharacter() throws {
        // 4 bytes of UUIDs + 2 of header leave 17 for the name: 16 ASCII letters fit, the 2-byte "ä" does not.
        let bytes = try AdvertisingData.encode(flags: nil, services: [0x1810], name: "Blutdruckmessgerät", limit: 23)
        let name = try AdvertisingData(parsing: bytes).localName
        #expect(name?.text == "Blutdruckmessger")
        #expect(name?.isValidUTF8 == true)
    }

    @Test func refusesWhatCannotFit() {
        let services = (0..<15).map { UInt16(0x1800 + $0) }
        #expect(throws: AdvertisingDataEncodeError.self) { try AdvertisingData.encode(services: services) }
        let full = (0..<13).map { UInt16(0x1800 + $0) }  // 3 + 2 + 26 = 31: no room for any name
        do {
            _ = try AdvertisingData.encode(services: full, name: "X")
            Issue.record("a name was squeezed into full advertising data")
        } catch {
            #expect(error.description.contains("shorter name"))
        }
    }
}
