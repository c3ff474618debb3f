import Foundation
import Provenance

@testable import FHIR

/// The PHD IG STU2 profile rules (HL7/phd `input/fsh`) a resource the gateway emits must keep, checked on the JSON as a
/// receiver sees it. Each violation names the resource and the rule, so a failing test says what to fix.
enum PHDProfileRules {
    static func violations(_ resource: FHIRResource) -> [String] {
        var found: [String] = []
        let json = resource.json
        let fail = { (rule: String) in found.append("\(resource.resourceType)/\(resource.id): \(rule)") }
        let profiles = json["meta"]?["profile"]?.arrayValue?.compactMap(\.stringValue) ?? []
        switch resource.resourceType {
        case "Observation":
            observation(json, profiles: profiles, fail: fail)
        case "Device":
            if profiles.contains(FHIRCodes.phdDeviceProfile) { phdDevice(json, fail: fail) }
            if profiles.contains(FHIRCodes.phgDeviceProfile) { phgDevice(json, fail: fail) }
            if profiles.isEmpty { fail("meta.profile names neither PhdDevice nor PhgDevice") }
        default:
            break
        }
        return found
    }

    // MARK: Observations

    static func observation(_ json: ExactJSON, profiles: [String], fail: (String) -> Void) {
        guard let profile = profiles.first(where: { $0.hasPrefix(FHIRCodes.phdProfileBase) }) else {
            return fail("meta.profile names no PHD profile")
        }
        let name = String(profile.dropFirst(FHIRCodes.phdProfileBase.count))
        let coincident = name == "PhdCoincidentTimeStampObservation"
        if !["final", "preliminary"].contains(json["status"]?.stringValue ?? "") {
            fail("status is neither final nor preliminary")
        }
        if !hasMDC(json["code"]) { fail("code has no MDC coding (code.coding[MDCType] 1..1)") }
        if !coincident {
            // PhdBaseObservation
            let phd = (json["category"]?.arrayValue ?? []).contains { category in
                (category["coding"]?.arrayValue ?? []).contains {
                    $0["system"]?.stringValue == FHIRCodes.phdCategory && $0["code"]?.stringValue == "phd"
                }
            }
            if !phd { fail("category has no PhdObservationCategories#phd (category[PHD-Observation] 1..1)") }
            let gateway = (json["extension"]?.arrayValue ?? []).filter {
                $0["url"]?.stringValue == FHIRCodes.gatewayDeviceExtension
            }
            if gateway.count != 1
                || gateway.first?["valueReference"]?["reference"]?.stringValue?.hasPrefix("Device/") != true
            {
                fail("extension[GatewayDevice] 1..1 with a Device reference")
            }
            if json["effectiveDateTime"] == nil && json["effectivePeriod"] == nil { fail("effective[x] 1..") }
            guard let subject = json["subject"]?["reference"]?.stringValue,
                subject.hasPrefix("Patient/") || subject.hasPrefix("Device/")
            else { return fail("subject 1.. (Patient or PhdDevice)") }
        } else {
            // PhdCoincidentTimeStampObservation: about the PHD's clock, its subject the PhdDevice, its device the PHG.
            if json["subject"]?["reference"]?.stringValue?.hasPrefix("Device/") != true {
                fail("subject only Reference(PhdDevice)")
            }
            if json["valueDateTime"] == nil && json["valueQuantity"] == nil && json["dataAbsentReason"] == nil {
                fail("value[x] (dateTime or Quantity) or dataAbsentReason")
            }
            if json["status"]?.stringValue != "final" { fail("status = final (exactly)") }
        }
        if json["device"]?["reference"]?.stringValue?.hasPrefix("Device/") != true {
            fail("device 1.. with a Device reference")
        }
        for identifier in json["identifier"]?.arrayValue ?? [] where !coincident {
            if identifier["system"]?.stringValue != FHIRCodes.conditionalCreateSystem {
                fail(
                    "an identifier's system is not the conditionalCreate slice's fixed \(FHIRCodes.conditionalCreateSystem)"
                )
            }
            if identifier["type"] != nil { fail("identifier[conditionalCreate].type ..0") }
            if identifier["value"]?.stringValue?.isEmpty != false { fail("identifier[conditionalCreate].value 1..") }
        }
        let values = valueKeys(json)
        if json["dataAbsentReason"] != nil && !values.isEmpty { fail("value[x] and dataAbsentReason together (obs-6)") }
        let components = json["component"]?.arrayValue ?? []
        for component in components where !hasMDC(component["code"]) && name != "PhdBitsEnumerationObservation" {
            fail("component.code has no MDC coding")
        }
        switch name {
        case "PhdNumericObservation":
            if values != ["valueQuantity"] && json["dataAbsentReason"] == nil {
                fail("value[x] only Quantity, or dataAbsentReason")
            }
            if let quantity = json["valueQuantity"],
                quantity["system"]?.stringValue != FHIRCodes.ucum || quantity["code"] == nil
            {
                fail("valueQuantity with a UCUM system and code")
            }
        case "PhdCompoundNumericObservation":
            if !values.isEmpty { fail("value[x] ..0") }
            if components.isEmpty { fail("component 1..") }
            for component in components where component["valueQuantity"] == nil && component["dataAbsentReason"] == nil
            {
                fail("component value[x] only Quantity, or dataAbsentReason")
            }
        case "PhdBitsEnumerationObservation":
            if !values.isEmpty { fail("value[x] ..0") }
            for component in components {
                let coding = component["code"]?["coding"]?[0]
                if coding?["system"]?.stringValue != "http://terminology.hl7.org/CodeSystem/ASN1ToHL7" {
                    fail("component.code from ASN1ToHL7 (http://terminology.hl7.org/CodeSystem/ASN1ToHL7)")
                }
                let code = coding?["code"]?.stringValue ?? ""
                if code.split(separator: ".").count != 2 || !code.allSatisfy({ $0.isNumber || $0 == "." }) {
                    fail("component.code '\(code)' is not an MDC code and a bit number")
                }
                let componentValues = valueKeys(component)
                if componentValues != ["valueBoolean"] && component["dataAbsentReason"] == nil {
                    fail("component value[x] only boolean (has \(componentValues.sorted()))")
                }
            }
        case "PhdCodedEnumerationObservation":
            if values != ["valueCodeableConcept"] && json["dataAbsentReason"] == nil {
                fail("value[x] only CodeableConcept")
            }
        default:
            break
        }
    }

    // MARK: Devices

    static func phdDevice(_ json: ExactJSON, fail: (String) -> Void) {
        deviceIdentifiers(json, fail: fail)
        if (json["identifier"]?.arrayValue ?? []).isEmpty { fail("identifier 1..") }
        if json["manufacturer"] == nil && json["_manufacturer"] == nil { fail("manufacturer 1..") }
        if json["modelNumber"] == nil && json["_modelNumber"] == nil { fail("modelNumber 1..") }
        let type = json["type"]?["coding"]?.arrayValue ?? []
        if !type.contains(where: { $0["system"]?.stringValue == FHIRCodes.mdc && $0["code"]?.stringValue == "65573" }) {
            fail("type.coding[PhdCode] = MDC#65573")
        }
        let specializations = json["specialization"]?.arrayValue ?? []
        if specializations.isEmpty { fail("specialization 1..") }
        for specialization in specializations {
            if !hasMDC(specialization["systemType"]) { fail("specialization.systemType from the MDC device types") }
            if specialization["version"]?.stringValue?.isEmpty != false { fail("specialization.version 1..") }
        }
        versions(json, fail: fail)
    }

    static func phgDevice(_ json: ExactJSON, fail: (String) -> Void) {
        deviceIdentifiers(json, fail: fail)
        if (json["identifier"]?.arrayValue ?? []).isEmpty { fail("identifier 1..") }
        let type = json["type"]?["coding"]?.arrayValue ?? []
        if !type.contains(where: { $0["system"]?.stringValue == FHIRCodes.mdc && $0["code"]?.stringValue == "531981" })
        {
            fail("type.coding[MDCType] = MDC#531981")
        }
        let specializations = json["specialization"]?.arrayValue ?? []
        if specializations.isEmpty { fail("specialization[MDCType] 1..*") }
        for specialization in specializations where !hasMDC(specialization["systemType"]) {
            fail("specialization.systemType from the MDC device types")
        }
        if (json["version"]?.arrayValue ?? []).isEmpty { fail("version[MDCType] 1..*") }
        versions(json, fail: fail)
    }

    /// The typed identifier slices: ContinuaDeviceIdentifiers type, the slice's fixed system, an EUI of the right
    /// length; a System ID that is all zeros identifies nothing (and would make every gateway the same).
    static func deviceIdentifiers(_ json: ExactJSON, fail: (String) -> Void) {
        let slices = [
            "SYSID": (FHIRCodes.eui64System, 8), "BTMAC": (FHIRCodes.bluetoothAddressSystem, 6),
            "ETHMAC": (FHIRCodes.ethernetAddressSystem, 6),
        ]
        for identifier in json["identifier"]?.arrayValue ?? [] {
            guard let coding = identifier["type"]?["coding"]?[0] else {
                if identifier["system"] == nil { fail("an identifier with neither type nor system") }
                continue
            }
            if coding["system"]?.stringValue != "http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers" {
                fail(
                    "identifier.type from ContinuaDeviceIdentifiers (http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers)"
                )
            }
            guard let code = coding["code"]?.stringValue, let (system, octets) = slices[code] else { continue }
            if identifier["system"]?.stringValue != system { fail("identifier[\(code)].system = \(system)") }
            let value = identifier["value"]?.stringValue ?? ""
            let parts = value.split(separator: "-")
            if parts.count != octets || !parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) {
                fail("identifier[\(code)].value '\(value)' is not an EUI-\(octets * 8)")
            }
            if code == "SYSID", json["meta"]?["profile"]?[0]?.stringValue == FHIRCodes.phgDeviceProfile,
                parts.allSatisfy({ $0 == "00" })
            {
                fail("the PhgDevice's System ID is all zeros")
            }
        }
    }

    static func versions(_ json: ExactJSON, fail: (String) -> Void) {
        for version in json["version"]?.arrayValue ?? []
        where !hasMDC(version["type"]) || version["value"]?.stringValue == nil {
            fail("version[MDCType] with an MDC type and a value")
        }
    }

    // MARK: Helpers

    static func hasMDC(_ concept: ExactJSON?) -> Bool {
        (concept?["coding"]?.arrayValue ?? []).contains {
            $0["system"]?.stringValue == FHIRCodes.mdc && $0["code"]?.stringValue != nil
        }
    }

    /// The `value[x]` keys an element has.
    static func valueKeys(_ json: ExactJSON) -> Set<String> {
        guard case .object(let members) = json else { return [] }
        return Set(
            members.map(\.key).filter {
                $0.hasPrefix("value") && $0.count > 5 && $0.dropFirst(5).first?.isUppercase == true
            })
    }
}
