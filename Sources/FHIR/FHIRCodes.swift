/// The code systems, profiles and extension URLs the mapping uses, in one place, with where each came from.
///
/// Sources: HL7 Personal Health Device IG STU2 (hl7.fhir.uv.phd 2.0.0) — its FSH profiles, examples and the
/// ASN1ToHL7 code system; IEEE 11073-10101 nomenclature (partition × 65536 + term code); FHIR R4 core code systems;
/// CardX Hypertension Management IG (hl7.fhir.uv.cardx-htn-mng) for the average self-measured blood pressure.
public enum FHIRCodes {
    // Code systems
    public static let mdc = "urn:iso:std:iso:11073:10101"
    public static let loinc = "http://loinc.org"
    public static let ucum = "http://unitsofmeasure.org"
    public static let snomed = "http://snomed.info/sct"
    public static let observationCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
    /// STU2 category code is `phd` (STU1 used `phd-observation`).
    public static let phdCategory = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
    /// Bit N of an ASN.1 BITS measurement with MDC code C is the code "C.N". Canonical in THO (the IG's CodeSystem
    /// `^url`), not under the IG's own base.
    public static let asn1ToHL7 = "http://terminology.hl7.org/CodeSystem/ASN1ToHL7"
    /// Y (bit set) / N (bit cleared).
    public static let v2YesNo = "http://terminology.hl7.org/CodeSystem/v2-0136"
    public static let dataAbsentReason = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
    public static let actReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
    /// The PHD IG's interpretation codes for measurement status (from the PoCD IG).
    public static let measurementStatus = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
    /// Canonical in THO, as the IG's CodeSystem and its PhdDevice and PhgDevice slices say.
    public static let deviceIdentifierType = "http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers"
    /// The system of PhdBaseObservation's `conditionalCreate` identifier slice (fixed by the profile).
    public static let conditionalCreateSystem = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation"
    /// IEEE EUI-64 System ID, "00-1B-C5-00-00-00-04-17".
    public static let eui64System = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
    /// Bluetooth address as EUI-48, "AA-BB-CC-DD-EE-FF".
    public static let bluetoothAddressSystem = "http://hl7.org/fhir/sid/eui-48/bluetooth"
    public static let ethernetAddressSystem = "http://hl7.org/fhir/sid/eui-48/ethernet"
    /// FHIR `$stats` statistic codes (average, minimum, maximum, count, totalcount, …).
    public static let statistics = "http://hl7.org/fhir/observation-statistics"
    public static let participationType = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
    public static let provenanceParticipantType = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
    public static let dataOperation = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
    public static let signatureType = "urn:iso-astm:E1762-95:2013"

    // Profiles
    public static let phdProfileBase = "http://hl7.org/fhir/uv/phd/StructureDefinition/"
    public static let numericProfile = phdProfileBase + "PhdNumericObservation"
    public static let compoundNumericProfile = phdProfileBase + "PhdCompoundNumericObservation"
    public static let bitsProfile = phdProfileBase + "PhdBitsEnumerationObservation"
    public static let codedProfile = phdProfileBase + "PhdCodedEnumerationObservation"
    public static let coincidentTimeStampProfile = phdProfileBase + "PhdCoincidentTimeStampObservation"
    public static let phdDeviceProfile = phdProfileBase + "PhdDevice"
    public static let phgDeviceProfile = phdProfileBase + "PhgDevice"
    public static let averageSMBPProfile = "http://hl7.org/fhir/uv/cardx-htn-mng/StructureDefinition/average-smbp"

    // Extensions
    /// R4 core extension; the PHD base profile references the PhgDevice with it.
    public static let gatewayDeviceExtension = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
    public static let coincidentTimeStampExtension = phdProfileBase + "CoincidentTimeStampReference"
    public static let numberOfMeasurementsExtension =
        "http://hl7.org/fhir/uv/cardx-htn-mng/StructureDefinition/NumberOfMeasurementsExt"
    /// gatewayd's own extensions (no registered home yet; a URN keeps them from pretending to be resolvable).
    public static let gatewaydExtensionBase = "urn:gatewayd:fhir:extension:"

    /// `policy` of every Provenance: the version of these mapping rules, bumped when the output would change.
    public static let mappingRules = "urn:gatewayd:fhir-mapping:phd-stu2:1"
}

/// One coding: system, code, and the MDC reference id / LOINC name for people.
public struct Concept: Hashable, Sendable {
    public var system: String
    public var code: String
    public var display: String?

    public init(_ system: String, _ code: String, _ display: String? = nil) {
        self.system = system
        self.code = code
        self.display = display
    }

    static func mdc(_ code: Int, _ referenceID: String) -> Concept { Concept(FHIRCodes.mdc, String(code), referenceID) }
    static func loinc(_ code: String, _ name: String) -> Concept { Concept(FHIRCodes.loinc, code, name) }
}
