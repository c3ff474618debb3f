import Testing

@testable import BLEGateway

@Suite struct DeviceInformationTests {
    typealias Kit = CharacteristicTestKit

    // MARK: Strings

    @Test func everyStringCharacteristicDecodesUTF8() throws {
        let text = "Omron Healthcare Co., Ltd. – HEM-7600T ✓"
        let bytes = Array(text.utf8)
        #expect(try ManufacturerNameString(decoding: bytes).value == text)
        #expect(try ModelNumberString(decoding: bytes).value == text)
        #expect(try SerialNumberString(decoding: bytes).value == text)
        #expect(try HardwareRevisionString(decoding: bytes).value == text)
        #expect(try FirmwareRevisionString(decoding: bytes).value == text)
        #expect(try SoftwareRevisionString(decoding: bytes).value == text)
        #expect(try SerialNumberString(decoding: bytes).encoded() == bytes)
        #expect(ManufacturerNameString("Acme").json == .members([("manufacturer_name", .string("Acme"))]))
        #expect(FirmwareRevisionString("1.2.3").json == .members([("firmware_revision", .string("1.2.3"))]))
    }

    @Test func eachStringKindHasItsOwnIdentity() {
        let identities: [(BluetoothUUID, String, ObjectIdentifier?)] = [
            (ManufacturerNameString.uuid, ManufacturerNameString.name, Kit.catalogType(0x2A29)),
            (ModelNumberString.uuid, ModelNumberString.name, Kit.catalogType(0x2A24)),
            (SerialNumberString.uuid, SerialNumberString.name, Kit.catalogType(0x2A25)),
            (HardwareRevisionString.uuid, HardwareRevisionString.name, Kit.catalogType(0x2A27)),
            (FirmwareRevisionString.uuid, FirmwareRevisionString.name, Kit.catalogType(0x2A26)),
            (SoftwareRevisionString.uuid, SoftwareRevisionString.name, Kit.catalogType(0x2A28)),
        ]
        #expect(
            identities.map(\.0) == [
                BluetoothUUID(0x2A29), BluetoothUUID(0x2A24), BluetoothUUID(0x2A25), BluetoothUUID(0x2A27),
                BluetoothUUID(0x2A26), BluetoothUUID(0x2A28),
            ])
        #expect(Set(identities.map(\.1)).count == 6)
        #expect(identities[0].2 == ObjectIdentifier(ManufacturerNameString.self))
        #expect(identities[5].2 == ObjectIdentifier(SoftwareRevisionString.self))
        #expect(Set(identities.compactMap(\.2)).count == 6)
    }

    @Test func invalidUTF8IsRefusedNotRepaired() {
        Kit.expectError(
            ManufacturerNameString.self, [0x41, 0xC3, 0x28], field: "manufacturer_name", offset: 0,
            problem: .invalidValue("not valid UTF-8"))
        Kit.expectError(
            SerialNumberString.self, [0xFF], field: "serial_number", offset: 0,
            problem: .invalidValue("not valid UTF-8"))
        Kit.expectError(
            ModelNumberString.self, [0xE2, 0x82], field: "model_number", offset: 0,
            problem: .invalidValue("not valid UTF-8"))
    }

    @Test func emptyAndNulTerminatedStringsAreKeptAsSent() throws {
        #expect(try SerialNumberString(decoding: []).value == "")
        let padded = try ModelNumberString(decoding: [0x42, 0x50, 0x35, 0x00, 0x00])
        #expect(padded.value == "BP5\0\0")
        #expect(padded.displayValue == "BP5")
        #expect(padded.encoded() == [0x42, 0x50, 0x35, 0x00, 0x00])
    }

    @Test func equalityIsByteExact() throws {
        let composed = try SerialNumberString(decoding: [0xC3, 0xA9])  // é, U+00E9
        let decomposed = try SerialNumberString(decoding: [0x65, 0xCC, 0x81])  // e + U+0301
        #expect(composed.value == decomposed.value)  // Swift's String equality is canonical equivalence…
        #expect(composed != decomposed)  // …but two different serial numbers stay two.
        #expect(Set([composed, decomposed]).count == 2)
    }

    // MARK: System ID

    /// The GSS example: OUI 0x123456 and manufacturer-defined identifier 0xFFFE9ABCDE, sent LSO first.
    static let systemID: [UInt8] = [0xDE, 0xBC, 0x9A, 0xFE, 0xFF, 0x56, 0x34, 0x12]

    @Test func systemIDMapsToEUI64WithTheOUIFirst() throws {
        let value = try SystemID(decoding: Self.systemID)
        #expect(value.manufacturerIdentifier == 0xFF_FE9A_BCDE)
        #expect(value.organizationallyUniqueIdentifier == 0x12_3456)
        #expect(value.value == 0x1234_56FF_FE9A_BCDE)
        #expect(value.eui64 == [0x12, 0x34, 0x56, 0xFF, 0xFE, 0x9A, 0xBC, 0xDE])
        #expect(value.eui64 == Self.systemID.reversed())
        #expect(value.eui64Text == "12-34-56-FF-FE-9A-BC-DE")
        #expect(value.encoded() == Self.systemID)
        #expect(value.json["eui_64"] == .string("12-34-56-FF-FE-9A-BC-DE"))
        #expect(value.json["organizationally_unique_identifier"] == .number("1193046"))
        #expect(SystemID(eui64: value.eui64) == value)
        #expect(SystemID(manufacturerIdentifier: 0xFF_FE9A_BCDE, organizationallyUniqueIdentifier: 0x12_3456) == value)
    }

    @Test func systemIDComponentsMustFit() {
        #expect(SystemID(manufacturerIdentifier: 1 << 40, organizationallyUniqueIdentifier: 0) == nil)
        #expect(SystemID(manufacturerIdentifier: 0, organizationallyUniqueIdentifier: 1 << 24) == nil)
        #expect(SystemID(eui64: [1, 2, 3]) == nil)
        #expect(SystemID(value: 0).eui64Text == "00-00-00-00-00-00-00-00")
    }

    @Test func systemIDTruncationAndTrailingBytes() {
        Kit.expectTruncation(
            SystemID.self, full: Self.systemID,
            layout: [("manufacturer_identifier", 5), ("organizationally_unique_identifier", 3)])
        Kit.expectTrailingByteRefused(SystemID.self, full: Self.systemID)
    }

    // MARK: Regulatory Certification Data List

    /// Two Continua entries, as 11073-20601 MDER (big-endian): a version structure (IG 1.5, certified as a
    /// blood pressure monitor over Bluetooth LE: 4 × 8192 + (4103 − 4096) = 0x8007) and a regulation structure
    /// with the "unregulated device" bit (MDER bit 0 = 0x8000) set.
    static let regulatory: [UInt8] = [
        0x00, 0x02, 0x00, 0x12,  // count 2, length 18
        0x02, 0x01, 0x00, 0x08,  // auth-body continua, continua-version-struct, 8 bytes
        0x01, 0x05, 0x00, 0x01, 0x00, 0x02, 0x80, 0x07,  // IG 1.5; 1 class (2 bytes): 0x8007
        0x02, 0x02, 0x00, 0x02,  // auth-body continua, continua-reg-struct, 2 bytes
        0x80, 0x00,  // unregulated-device
    ]

    @Test func regulatoryListDecodesBothContinuaStructures() throws {
        let value = try RegulatoryCertificationDataList(decoding: Self.regulatory)
        #expect(value.entries.count == 2)
        let version = try #require(value.continuaVersion)
        #expect(version.majorIGVersion == 1)
        #expect(version.minorIGVersion == 5)
        #expect(version.certifiedDeviceClasses.map(\.rawValue) == [0x8007])
        let certified = try #require(version.certifiedDeviceClasses.first)
        #expect(certified.transportCode == 4)
        #expect(certified.transportName == "Bluetooth Low Energy")
        #expect(certified.specializationCode == 4103)
        let regulation = try #require(value.continuaRegulation)
        #expect(regulation.regulationBitField == 0x8000)
        #expect(regulation.unregulatedDevice)
        #expect(value.entries[0].authBody == 2 && value.entries[0].structureType == 1)
        #expect(value.entries[0].authBodyName == "auth-body-continua")
        #expect(value.entries[0].data == Array(Self.regulatory[8..<16]))
        #expect(value.encoded() == Self.regulatory)
        #expect(value.json["raw"] == .string("00020012020100080105000100028007020200028000"))
    }

    @Test func otherAuthorisingBodiesAreKeptOpaque() throws {
        let bytes: [UInt8] = [0x00, 0x01, 0x00, 0x07, 0xFE, 0x07, 0x00, 0x03, 0x61, 0x62, 0x63]
        let value = try RegulatoryCertificationDataList(decoding: bytes)
        #expect(value.entries == [.other(authBody: 254, structureType: 7, data: [0x61, 0x62, 0x63])])
        #expect(value.entries[0].authBodyName == "auth-body-experimental")
        #expect(value.continuaVersion == nil)
        #expect(value.encoded() == bytes)
        // A Continua body with a structure type it does not define is kept opaque too.
        let unknownType: [UInt8] = [0x00, 0x01, 0x00, 0x05, 0x02, 0x09, 0x00, 0x01, 0xAA]
        #expect(
            try RegulatoryCertificationDataList(decoding: unknownType).entries
                == [.other(authBody: 2, structureType: 9, data: [0xAA])])
    }

    @Test func emptyRegulatoryListIsValid() throws {
        let value = try RegulatoryCertificationDataList(decoding: [0x00, 0x00, 0x00, 0x00])
        #expect(value.entries.isEmpty)
        #expect(value.encoded() == [0x00, 0x00, 0x00, 0x00])
    }

    @Test func regulatoryTruncationAtEveryLength() {
        Kit.expectTruncation(
            RegulatoryCertificationDataList.self, full: Self.regulatory,
            layout: [
                ("count", 2), ("length", 2), ("reg_cert_data_list[0].auth_body", 1),
                ("reg_cert_data_list[0].auth_body_struc_type", 1), ("reg_cert_data_list[0].auth_body_data.length", 2),
                ("reg_cert_data_list[0].auth_body_data", 8), ("reg_cert_data_list[1].auth_body", 1),
                ("reg_cert_data_list[1].auth_body_struc_type", 1), ("reg_cert_data_list[1].auth_body_data.length", 2),
                ("reg_cert_data_list[1].auth_body_data", 2),
            ])
        Kit.expectTrailingByteRefused(RegulatoryCertificationDataList.self, full: Self.regulatory)
    }

    @Test func regulatoryCountsAndLengthsMustAgree() {
        var wrongLength = Self.regulatory
        wrongLength[3] = 0x13
        Kit.expectError(
            RegulatoryCertificationDataList.self, wrongLength, field: "length", offset: 2,
            problem: .invalidValue("says 19 byte(s) but the 2 entries occupy 18"))
        var countTooSmall = Self.regulatory
        countTooSmall[1] = 0x01
        Kit.expectError(
            RegulatoryCertificationDataList.self, countTooSmall, field: "length", offset: 2,
            problem: .invalidValue("says 18 byte(s) but the 1 entries occupy 12"))
        var countTooLarge = Self.regulatory
        countTooLarge[1] = 0x03
        Kit.expectError(
            RegulatoryCertificationDataList.self, countTooLarge, field: "reg_cert_data_list[2].auth_body", offset: 22,
            problem: .truncated(needed: 1, available: 0))
    }

    @Test func malformedContinuaStructuresNameTheInnerField() {
        var listLength = Self.regulatory
        listLength[13] = 0x04  // certified device class list: count 1 but length 4
        Kit.expectError(
            RegulatoryCertificationDataList.self, listLength,
            field: "reg_cert_data_list[0].auth_body_data.certified_device_class_list.length", offset: 12,
            problem: .invalidValue("is 4 but 1 two-byte entries need 2"))

        // A version structure with one byte too many inside its own length.
        let padded: [UInt8] = [
            0x00, 0x01, 0x00, 0x0D, 0x02, 0x01, 0x00, 0x09, 0x01, 0x05, 0x00, 0x01, 0x00, 0x02, 0x80, 0x07, 0xEE,
        ]
        Kit.expectError(
            RegulatoryCertificationDataList.self, padded, field: "reg_cert_data_list[0].auth_body_data", offset: 16,
            problem: .trailingBytes(count: 1))

        // A regulation structure one byte short: it may not borrow the next entry's bytes.
        let short: [UInt8] = [
            0x00, 0x02, 0x00, 0x0A, 0x02, 0x02, 0x00, 0x01, 0x80, 0xFE, 0x00, 0x00, 0x01, 0x00,
        ]
        Kit.expectError(
            RegulatoryCertificationDataList.self, short,
            field: "reg_cert_data_list[0].auth_body_data.regulation_bit_field", offset: 8,
            problem: .truncated(needed: 2, available: 1))

        // A certified-device-class list that claims more entries than its structure holds.
        let overlong: [UInt8] = [
            0x00, 0x01, 0x00, 0x0C, 0x02, 0x01, 0x00, 0x08, 0x01, 0x05, 0x00, 0x02, 0x00, 0x04, 0x80, 0x07,
        ]
        Kit.expectError(
            RegulatoryCertificationDataList.self, overlong,
            field: "reg_cert_data_list[0].auth_body_data.certified_device_class_list[1]", offset: 16,
            problem: .truncated(needed: 2, available: 0))
    }

    @Test func constructedListsRoundTrip() {
        Kit.expectRoundTrip(
            RegulatoryCertificationDataList(entries: [
                .continuaVersion(
                    .init(
                        majorIGVersion: 7, minorIGVersion: 0,
                        certifiedDeviceClasses: [
                            .init(rawValue: 0x8007), .init(rawValue: 0x8011), .init(rawValue: 0x0002),
                        ])),
                .continuaRegulation(.init(regulationBitField: 0x0000)),
                .other(authBody: 1, structureType: 0, data: []),
            ]))
        Kit.expectRoundTrip(RegulatoryCertificationDataList(entries: []))
    }

    // MARK: PnP ID

    static let pnp: [UInt8] = [0x01, 0x0D, 0x00, 0x01, 0x00, 0x10, 0x01]

    @Test func pnpIDDecodesFieldByField() throws {
        let value = try PnPID(decoding: Self.pnp)
        #expect(value.vendorIDSource == .bluetoothSIG)
        #expect(value.vendorID == 0x000D)
        #expect(value.productID == 0x0001)
        #expect(value.productVersion == 0x0110)
        #expect(value.encoded() == Self.pnp)
        #expect(
            value.json.text
                == #"{"vendor_id_source":"Bluetooth SIG","vendor_id":13,"product_id":1,"product_version":272}"#)
        var usb = Self.pnp
        usb[0] = 0x02
        #expect(try PnPID(decoding: usb).vendorIDSource == .usbImplementersForum)
    }

    @Test func pnpIDReservedSourcesTruncationAndTrailing() {
        for raw in [0, 3, 4, 0x80, 0xFF] {
            var bytes = Self.pnp
            bytes[0] = UInt8(raw)
            Kit.expectError(
                PnPID.self, bytes, field: "vendor_id_source", offset: 0, problem: .reservedValue(UInt64(raw)))
        }
        Kit.expectTruncation(
            PnPID.self, full: Self.pnp,
            layout: [("vendor_id_source", 1), ("vendor_id", 2), ("product_id", 2), ("product_version", 2)])
        Kit.expectTrailingByteRefused(PnPID.self, full: Self.pnp)
    }

    // MARK: Catalog and fuzz

    @Test func catalogFindsTheDeviceInformationTypes() {
        #expect(Kit.catalogType(0x2A23) == ObjectIdentifier(SystemID.self))
        #expect(Kit.catalogType(0x2A2A) == ObjectIdentifier(RegulatoryCertificationDataList.self))
        #expect(Kit.catalogType(0x2A50) == ObjectIdentifier(PnPID.self))
    }

    @Test func fuzzNeverCrashesAndCanonicalPayloadsReEncodeExactly() {
        let strings = Kit.fuzz(ManufacturerNameString.self, seed: 0xD15_0001) { random in
            random.chance(50) ? random.bytes(random.below(12)) : Array("Model \(random.below(1000))".utf8)
        }
        #expect(strings.decoded > 1500)
        #expect(strings.refused > 100)

        let systemID = Kit.fuzz(SystemID.self, seed: 0xD15_0002) { random in random.bytes(4 + random.below(6)) }
        #expect(systemID.decoded > 300)
        #expect(systemID.refused > 1500)

        let pnp = Kit.fuzz(PnPID.self, seed: 0xD15_0003) { random in
            var bytes = random.bytes(5 + random.below(4))
            if random.chance(70) { bytes[0] = UInt8(1 + random.below(2)) }
            return bytes
        }
        #expect(pnp.decoded > 300)
        #expect(pnp.refused > 300)

        let regulatory = Kit.fuzz(RegulatoryCertificationDataList.self, seed: 0xD15_0004, iterations: 5000) { random in
            guard random.chance(70) else { return random.bytes(random.below(24)) }
            // Structured input, so most payloads get past the counts and into the entries.
            var entries: [RegulatoryCertificationData] = []
            for _ in 0..<random.below(4) {
                switch random.below(3) {
                case 0:
                    entries.append(
                        .continuaVersion(
                            .init(
                                majorIGVersion: random.byte(), minorIGVersion: random.byte(),
                                certifiedDeviceClasses: (0..<random.below(3)).map { _ in
                                    .init(rawValue: UInt16(random.below(65536)))
                                })))
                case 1: entries.append(.continuaRegulation(.init(regulationBitField: UInt16(random.below(65536)))))
                default:
                    entries.append(
                        .other(authBody: 254, structureType: random.byte(), data: random.bytes(random.below(4))))
                }
            }
            return Kit.mutated(RegulatoryCertificationDataList(entries: entries).encoded(), &random)
        }
        #expect(regulatory.decoded > 1000)
        #expect(regulatory.refused > 1000)
    }
}
