import Provenance

/// What the gateway knows about itself beyond `GatewayRecord`, for its PhgDevice. Nothing is assumed: a field
/// left nil is not reported (the System ID becomes the PHD IG's all-zero EUI-64, as the IG says for a missing one).
public struct GatewayDeviceInfo: Hashable, Sendable {
    /// EUI-64 ("00-1B-C5-…"), e.g. derived from the host's Bluetooth controller.
    public var systemID: String?
    public var bluetoothAddress: String?
    public var ethernetAddress: String?
    public var manufacturer: String?
    public var model: String
    /// MDC time-synchronization method of the host clock (532226 NTPv4, 532227 SNTPv4, 532224 none…), when known.
    public var timeSynchronization: Concept?

    public init(
        systemID: String? = nil, bluetoothAddress: String? = nil, ethernetAddress: String? = nil,
        manufacturer: String? = nil,
        model: String = "gatewayd", timeSynchronization: Concept? = nil
    ) {
        self.systemID = systemID
        self.bluetoothAddress = bluetoothAddress
        self.ethernetAddress = ethernetAddress
        self.manufacturer = manufacturer
        self.model = model
        self.timeSynchronization = timeSynchronization
    }

    public static let ntpV4 = Concept.mdc(532_226, "MDC_TIME_SYNC_NTPV4")
    public static let sntpV4 = Concept.mdc(532_227, "MDC_TIME_SYNC_SNTPV4")
    public static let noSynchronization = Concept.mdc(532_224, "MDC_TIME_SYNC_NONE")
}

/// Sensors → PhdDevice, the gateway → PhgDevice (PHD IG STU2), with ids every Observation's `device` and
/// gatewayDevice extension point at.
public enum DeviceMapper {
    public static func phdDeviceID(_ record: DeviceRecord) -> String { ResourceIDs.phdDevice(key: record.key) }
    public static func phgDeviceID(_ gateway: GatewayRecord) -> String { ResourceIDs.phgDevice(gatewayID: gateway.id) }

    /// gatewayd's own identifier systems: the key a device is stored under, and the configured gateway id.
    public static let deviceKeySystem = "urn:gatewayd:device-key"
    public static let gatewayIDSystem = "urn:gatewayd:gateway-id"

    static let allZeroEUI64 = "00-00-00-00-00-00-00-00"

    /// The PhdDevice of a sensor, from its Device Information Service. `kinds` (what it was seen measuring) adds
    /// the 11073 specialization: BP cuff 528391, glucose meter 528401 (heart-rate straps have none).
    public static func phdDevice(_ record: DeviceRecord, kinds: Set<ReadingKind> = []) -> FHIRResource {
        var identifiers = [identifier("SYSID", FHIRCodes.eui64System, eui(record.systemID, octets: 8) ?? allZeroEUI64)]
        if let address = eui(record.address, octets: 6) {
            identifiers.append(identifier("BTMAC", FHIRCodes.bluetoothAddressSystem, address))
        }
        identifiers.append(.obj(["system": .string(deviceKeySystem), "value": .string(record.key)]))

        var specializations: [FHIRJSON] = []
        if kinds.contains(.bloodPressure) || kinds.contains(.pulseRate) {
            specializations.append(
                .obj([
                    "systemType": Element.codeable(
                        [.mdc(528_391, "MDC_DEV_SPEC_PROFILE_BP")], text: "Blood Pressure Cuff")
                ]))
        }
        if kinds.contains(.glucose) {
            specializations.append(
                .obj([
                    "systemType": Element.codeable(
                        [.mdc(528_401, "MDC_DEV_SPEC_PROFILE_GLUCOSE")], text: "Glucose Monitor")
                ]))
        }
        let versions: [FHIRJSON] = [
            (record.firmwareRevision, Concept.mdc(531_976, "MDC_ID_PROD_SPEC_FW"), "Firmware revision"),
            (record.softwareRevision, Concept.mdc(531_975, "MDC_ID_PROD_SPEC_SW"), "Software revision"),
            (record.hardwareRevision, Concept.mdc(531_974, "MDC_ID_PROD_SPEC_HW"), "Hardware revision"),
        ].compactMap { value, type, text in value.map { version(type, text, $0) } }
        let properties: [FHIRJSON] = record.unregulated.map { [regulationStatus(unregulated: $0)] } ?? []
        let note = record.regulatoryCertificationHex.map {
            "IEEE 11073-20601 Reg-Cert-Data-List as sent (hex): \($0)"
        }
        return FHIRResource.make(
            "Device", id: phdDeviceID(record),
            [
                "meta": Element.meta(profiles: [FHIRCodes.phdDeviceProfile], testData: false),
                "identifier": .array(identifiers),
                "manufacturer": record.manufacturer.map(FHIRJSON.string),
                "serialNumber": record.serialNumber.map(FHIRJSON.string),
                "modelNumber": record.model.map(FHIRJSON.string),
                "type": Element.codeable([.mdc(65573, "MDC_MOC_VMS_MDS_SIMP")], text: "Personal Health Device"),
                "specialization": .list(specializations),
                "version": .list(versions),
                "property": .list(properties),
                "note": note.map { .array([.obj(["text": .string($0)])]) },
            ])
    }

    /// The PhgDevice of this gateway (MDC_MOC_VMS_MDS_AHD 531981). gatewayd is not a regulated medical device,
    /// and says so (regulation-status bit set = unregulated); its software version is the gatewayd version.
    public static func phgDevice(gateway: GatewayRecord, info: GatewayDeviceInfo = GatewayDeviceInfo()) -> FHIRResource
    {
        var identifiers = [identifier("SYSID", FHIRCodes.eui64System, eui(info.systemID, octets: 8) ?? allZeroEUI64)]
        if let address = eui(info.bluetoothAddress, octets: 6) {
            identifiers.append(identifier("BTMAC", FHIRCodes.bluetoothAddressSystem, address))
        }
        if let address = eui(info.ethernetAddress, octets: 6) {
            identifiers.append(identifier("ETHMAC", FHIRCodes.ethernetAddressSystem, address))
        }
        identifiers.append(.obj(["system": .string(gatewayIDSystem), "value": .string(gateway.id)]))
        var properties = [regulationStatus(unregulated: true)]
        if let sync = info.timeSynchronization {
            properties.insert(
                .obj([
                    "type": Element.codeable(
                        [.mdc(68220, "MDC_TIME_SYNC_PROTOCOL")], text: "Time synchronization protocol"),
                    "valueCode": .array([Element.codeable([sync], text: sync.display)]),
                ]), at: 0)
        }
        return FHIRResource.make(
            "Device", id: phgDeviceID(gateway),
            [
                "meta": Element.meta(profiles: [FHIRCodes.phgDeviceProfile], testData: false),
                "identifier": .array(identifiers),
                "manufacturer": info.manufacturer.map(FHIRJSON.string),
                "modelNumber": .string(info.model),
                "type": Element.codeable([.mdc(531_981, "MDC_MOC_VMS_MDS_AHD")], text: "Personal Health Gateway"),
                "version": .array([
                    version(.mdc(531_975, "MDC_ID_PROD_SPEC_SW"), "Software revision", gateway.softwareVersion)
                ]),
                "property": .array(properties),
            ])
    }

    static func identifier(_ type: String, _ system: String, _ value: String) -> FHIRJSON {
        .obj([
            "type": Element.codeable([Concept(FHIRCodes.deviceIdentifierType, type)]),
            "system": .string(system), "value": .string(value),
        ])
    }

    static func version(_ type: Concept, _ text: String, _ value: String) -> FHIRJSON {
        .obj(["type": Element.codeable([type], text: text), "value": .string(value)])
    }

    /// ASN1ToHL7 532354.0: set (Y) = not regulated, cleared (N) = regulated — a state, so both are reported.
    static func regulationStatus(unregulated: Bool) -> FHIRJSON {
        .obj([
            "type": Element.codeable(
                [Concept(FHIRCodes.asn1ToHL7, "532354.0", "regulation-status")], text: "regulation-status"),
            "valueCode": .array([
                Element.codeable(
                    [Concept(FHIRCodes.v2YesNo, unregulated ? "Y" : "N", unregulated ? "Yes" : "No")],
                    text: unregulated ? "Device is not regulated" : "Device is regulated")
            ]),
        ])
    }

    /// An EUI as the IG writes it: upper-case hex octets joined by dashes ("AA-BB-CC-DD-EE-FF"); nil unless the
    /// text is exactly `octets` hex octets separated by '-' or ':'.
    static func eui(_ text: String?, octets: Int) -> String? {
        guard let text, let hex = ResourceIDs.euiHex(text), hex.count == octets * 2 else { return nil }
        var parts: [Substring] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            parts.append(hex[index..<next])
            index = next
        }
        return parts.joined(separator: "-")
    }
}
