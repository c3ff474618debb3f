import Foundation
import Provenance
import Testing

@testable import FHIR

@Suite struct DeviceMapperTests {
    /// A cuff's PhdDevice as the IG's phd-711000FEFF5F49B0 example has it: System ID as EUI-64 and Bluetooth
    /// address as EUI-48 (upper-case, dashes), DIS strings, MDC_MOC_VMS_MDS_SIMP, the BP specialization, versions,
    /// and the regulation status (regulated = bit cleared = N).
    @Test func aSensorIsAPhdDevice() throws {
        let device = DeviceMapper.phdDevice(Fixture.cuff(), kinds: [.bloodPressure, .pulseRate])
        Fixture.dump([device], as: "phd")
        #expect(device.id == "phd-001BC50000000417")
        #expect(device.id == DeviceMapper.phdDeviceID(Fixture.cuff()))
        let json = device.json
        #expect(json["resourceType"]?.stringValue == "Device")
        #expect(json["meta"]?["profile"]?[0]?.stringValue == "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdDevice")
        let ids = try #require(json["identifier"]?.arrayValue)
        #expect(ids[0]["system"]?.stringValue == "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680")
        #expect(ids[0]["value"]?.stringValue == "00-1B-C5-00-00-00-04-17")
        #expect(ids[0]["type"]?["coding"]?[0]?["code"]?.stringValue == "SYSID")
        #expect(ids[1]["system"]?.stringValue == "http://hl7.org/fhir/sid/eui-48/bluetooth")
        #expect(ids[1]["value"]?.stringValue == "AA-BB-CC-DD-EE-01")
        #expect(ids[1]["type"]?["coding"]?[0]?["code"]?.stringValue == "BTMAC")
        #expect(json["manufacturer"]?.stringValue == "Omron Healthcare")
        #expect(json["modelNumber"]?.stringValue == "HEM-7600T")
        #expect(json["serialNumber"]?.stringValue == "20261118A")
        #expect(json["type"]?["coding"]?[0]?["code"]?.stringValue == "65573")
        #expect(json["specialization"]?[0]?["systemType"]?["coding"]?[0]?["code"]?.stringValue == "528391")
        #expect(
            json["version"]?.arrayValue?.map { $0["type"]?["coding"]?[0]?["code"]?.stringValue } == [
                "531976", "531974",
            ])
        #expect(json["version"]?[0]?["value"]?.stringValue == "1.2.0")
        #expect(json["property"]?[0]?["type"]?["coding"]?[0]?["code"]?.stringValue == "532354.0")
        #expect(json["property"]?[0]?["valueCode"]?[0]?["coding"]?[0]?["code"]?.stringValue == "N")
    }

    /// No System ID: the IG's all-zero EUI-64, and an id that cannot collide with a real one (hashed key).
    @Test func aDeviceWithoutSystemIDIsStillIdentified() throws {
        let device = DeviceMapper.phdDevice(Fixture.meter(), kinds: [.glucose])
        Fixture.dump([device], as: "phd-nosysid")
        #expect(device.id.hasPrefix("phd-x") && device.id.count == 37)
        #expect(device.json["identifier"]?[0]?["value"]?.stringValue == "00-00-00-00-00-00-00-00")
        #expect(device.json["identifier"]?[1]?["system"]?.stringValue == DeviceMapper.deviceKeySystem)
        #expect(device.json["identifier"]?[1]?["value"]?.stringValue == Fixture.meter().key)
        #expect(device.json["specialization"]?[0]?["systemType"]?["coding"]?[0]?["code"]?.stringValue == "528401")
        #expect(device.json["property"] == nil)  // regulation status unknown: not claimed
        var other = Fixture.meter()
        other.serialNumber = "G-78"
        #expect(DeviceMapper.phdDeviceID(other) != device.id)
        #expect(DeviceMapper.phdDevice(Fixture.meter(), kinds: [.glucose]) == device)
    }

    /// The gateway is a PhgDevice (MDC_MOC_VMS_MDS_AHD 531981), honest about being unregulated software.
    @Test func theGatewayIsAPhgDevice() throws {
        let info = GatewayDeviceInfo(
            systemID: "ec:de:3d:4e:58:53:2d:31", ethernetAddress: "3d:4e:58:53:2d:35",
            timeSynchronization: GatewayDeviceInfo.ntpV4)
        let phg = DeviceMapper.phgDevice(gateway: Fixture.gateway, info: info)
        Fixture.dump([phg], as: "phg")
        #expect(phg.id == "phg-gw-home-1")
        #expect(phg.id == Fixture.gatewayDeviceID)
        let json = phg.json
        #expect(json["meta"]?["profile"]?[0]?.stringValue == "http://hl7.org/fhir/uv/phd/StructureDefinition/PhgDevice")
        #expect(
            json["identifier"]?.arrayValue?.map { $0["value"]?.stringValue } == [
                "EC-DE-3D-4E-58-53-2D-31", "3D-4E-58-53-2D-35", "gw-home-1",
            ])
        #expect(json["identifier"]?[1]?["type"]?["coding"]?[0]?["code"]?.stringValue == "ETHMAC")
        #expect(json["type"]?["coding"]?[0]?["code"]?.stringValue == "531981")
        #expect(json["version"]?[0]?["type"]?["coding"]?[0]?["code"]?.stringValue == "531975")
        #expect(json["version"]?[0]?["value"]?.stringValue == "0.9.0")
        #expect(json["property"]?[0]?["type"]?["coding"]?[0]?["code"]?.stringValue == "68220")
        #expect(json["property"]?[0]?["valueCode"]?[0]?["coding"]?[0]?["code"]?.stringValue == "532226")
        #expect(json["property"]?[1]?["valueCode"]?[0]?["coding"]?[0]?["code"]?.stringValue == "Y")
        let bare = DeviceMapper.phgDevice(gateway: GatewayRecord(id: "care home/wing B", softwareVersion: "1"))
        #expect(bare.id.hasPrefix("phg-x"))
        // No System ID known: none claimed (an all-zero one would make every gateway the same), the gateway id stays.
        #expect(bare.json["identifier"]?.arrayValue?.map { $0["value"]?.stringValue } == ["care home/wing B"])
    }
}
