/// HL7 FHIR R4 resources, the PHD IG mapping, `$stats`/`$lastn` and the PHR sync client.
///
/// Filled by the FHIR issue; present now so the module graph of DESIGN.md compiles.
public enum FHIRModule {
    /// The FHIR release the gateway emits.
    public static let fhirVersion = "4.0.1"
}
