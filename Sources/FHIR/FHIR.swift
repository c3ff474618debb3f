import Provenance

/// HL7 FHIR R4 for gatewayd: readings, devices, batches and summaries mapped to resources following the Personal
/// Health Device IG STU2 (`ObservationMapper`, `DeviceMapper`, `ProvenanceMapper`, `SummaryMapper`), written as JSON
/// that keeps every measured decimal exactly (`ExactJSON`).
public enum FHIRModule {
    /// The FHIR release the gateway emits.
    public static let fhirVersion = "4.0.1"
}
