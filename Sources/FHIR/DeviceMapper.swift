import Foundation
import Provenance

/// What the gateway knows about itself beyond `GatewayRecord`, for its PhgDevice. Nothing is assumed: a field
/// left nil is not reported.
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

    /// This host as the gateway: the Ethernet address of its first network interface backed by hardware (one with a
    /// `device` link under `net`, in name order; a Pi's `eth0`), a real and unique transport address for the
    /// PhgDevice's ETHMAC identifier. Nil fields when there is none (a container, a VM without a NIC address).
    public static func host(net: String = "/sys/class/net") -> GatewayDeviceInfo {
        var info = GatewayDeviceInfo()
        let files = FileManager.default
        let interfaces = ((try? files.contentsOfDirectory(atPath: net)) ?? []).sorted()
        for name in interfaces where name != "lo" && files.fileExists(atPath: net + "/" + name + "/device") {
            guard let text = try? String(contentsOfFile: net + "/" + name + "/address", encoding: .utf8) else {
                continue
            }
            let address = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let eui = DeviceMapper.eui(address, octets: 6), eui != "00-00-00-00-00-00" else { continue }
            info.ethernetAddress = eui
            break
        }
        return info
    }
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

    /// The IEEE 11073 specialization each kind of reading comes from: a Bluetooth Blood Pressure, Glucose or Heart Rate
    /// Profile device maps to the specialization whose measurements it reports (BP cuff 10407, glucose meter 10417, a
    /// heart-rate-only ECG sub-specialization for a strap).
    static func specialization(of kind: ReadingKind) -> (code: Concept, text: String) {
        let mapping = ReadingKindMapping.of(kind)
        return (mapping.specialization, mapping.specializationText)
    }

    /// Each specialization once, in the order of the kinds of reading.
    static var supportedSpecializations: [(code: Concept, text: String)] {
        var seen: Set<String> = []
        return ReadingKind.allCases.map(specialization(of:)).filter { seen.insert($0.code.code).inserted }
    }

    /// A Bluetooth SIG profile device reports no System-Type-Spec-List, so no specialization version of its own;
    /// PhdDevice requires one (`specialization.version 1..`): its readings follow the specialization's first version.
    static let specializationVersion = "1"

    /// The PhdDevice of a sensor, from its Device Information Service. `kinds` (what it was seen measuring) gives
    /// the 11073 specializations (`specialization(of:)`), each with its version.
    public static func phdDevice(_ record: DeviceRecord, kinds: Set<ReadingKind> = []) -> FHIRResource {
        var identifiers = [identifier("SYSID", FHIRCodes.eui64System, eui(record.systemID, octets: 8) ?? allZeroEUI64)]
        if let address = eui(record.address, octets: 6) {
            identifiers.append(identifier("BTMAC", FHIRCodes.bluetoothAddressSystem, address))
        }
        identifiers.append(.obj(["system": .string(deviceKeySystem), "value": .string(record.key)]))

        var seen: Set<String> = []
        let specializations: [ExactJSON] = ReadingKind.allCases.compactMap { kind in
            guard kinds.contains(kind) else { return nil }
            let (code, text) = specialization(of: kind)
            guard seen.insert(code.code).inserted else { return nil }
            return .obj(["systemType": Element.codeable([code], text: text), "version": .string(specializationVersion)])
        }
        let versions: [ExactJSON] = [
            (record.firmwareRevision, Concept.mdc(531_976, "MDC_ID_PROD_SPEC_FW"), "Firmware revision"),
            (record.softwareRevision, Concept.mdc(531_975, "MDC_ID_PROD_SPEC_SW"), "Software revision"),
            (record.hardwareRevision, Concept.mdc(531_974, "MDC_ID_PROD_SPEC_HW"), "Hardware revision"),
        ].compactMap { value, type, text in value.map { version(type, text, $0) } }
        let properties: [ExactJSON] = record.unregulated.map { [regulationStatus(unregulated: $0)] } ?? []
        let note = record.regulatoryCertificationHex.map {
            "IEEE 11073-20601 Reg-Cert-Data-List as sent (hex): \($0)"
        }
        return FHIRResource.make(
            "Device", id: phdDeviceID(record),
            [
                "meta": Element.meta(profiles: [FHIRCodes.phdDeviceProfile], testData: false),
                "identifier": .array(identifiers),
                "manufacturer": record.manufacturer.map(ExactJSON.string),
                "_manufacturer": record.manufacturer == nil ? unknownValue : nil,
                "serialNumber": record.serialNumber.map(ExactJSON.string),
                "modelNumber": record.model.map(ExactJSON.string),
                "_modelNumber": record.model == nil ? unknownValue : nil,
                "type": Element.codeable([.mdc(65573, "MDC_MOC_VMS_MDS_SIMP")], text: "Personal Health Device"),
                "specialization": .list(specializations),
                "version": .list(versions),
                "property": .list(properties),
                "note": note.map { .array([.obj(["text": .string($0)])]) },
            ])
    }

    /// The PhgDevice of this gateway (MDC_MOC_VMS_MDS_AHD 531981). gatewayd is not a regulated medical device,
    /// and says so (regulation-status bit set = unregulated); its software version is the gatewayd version.
    /// Its System ID is reported only when known (the PhgDevice slice is 0..1; an all-zero one, as a sensor without
    /// one reports, would make every gateway the same), its host's Ethernet address when it has one, and always the
    /// configured gateway id. Its specializations are the ones it reads: BP cuffs, glucose meters, heart-rate straps.
    public static func phgDevice(gateway: GatewayRecord, info: GatewayDeviceInfo = GatewayDeviceInfo()) -> FHIRResource
    {
        var identifiers: [ExactJSON] = []
        if let systemID = eui(info.systemID, octets: 8), systemID != allZeroEUI64 {
            identifiers.append(identifier("SYSID", FHIRCodes.eui64System, systemID))
        }
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
                "manufacturer": info.manufacturer.map(ExactJSON.string),
                "modelNumber": .string(info.model),
                "type": Element.codeable([.mdc(531_981, "MDC_MOC_VMS_MDS_AHD")], text: "Personal Health Gateway"),
                // Every specialization whose readings the gateway maps (the cuff's pulse rate is the cuff's).
                "specialization": .array(
                    supportedSpecializations.map { code, text in
                        .obj(["systemType": Element.codeable([code], text: text)])
                    }),
                "version": .array([
                    version(.mdc(531_975, "MDC_ID_PROD_SPEC_SW"), "Software revision", gateway.softwareVersion)
                ]),
                "property": .array(properties),
            ])
    }

    /// PhdDevice requires `manufacturer` and `modelNumber`; a device whose Device Information Service does not give
    /// them (many straps) gets the element with FHIR's data-absent-reason extension instead of a value — "unknown", not
    /// an invented string.
    static let unknownValue: ExactJSON = .obj([
        "extension": .array([
            .obj(["url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"])
        ])
    ])

    static func identifier(_ type: String, _ system: String, _ value: String) -> ExactJSON {
        .obj([
            "type": Element.codeable([Concept(FHIRCodes.deviceIdentifierType, type)]),
            "system": .string(system), "value": .string(value),
        ])
    }

    static func version(_ type: Concept, _ text: String, _ value: String) -> ExactJSON {
        .obj(["type": Element.codeable([type], text: text), "value": .string(value)])
    }

    /// ASN1ToHL7 532354.0: set (Y) = not regulated, cleared (N) = regulated — a state, so both are reported.
    static func regulationStatus(unregulated: Bool) -> ExactJSON {
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
