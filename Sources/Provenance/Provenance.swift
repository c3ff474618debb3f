/// The domain model of one reading: who, where, how and when it was measured, and the tamper-evident ledger.
///
/// Nothing here knows about Bluetooth, storage or FHIR: BLEGateway maps what it decodes into `Reading`s, the
/// StreamEngine stores them, FHIR maps them out.
public enum ProvenanceModel {
    /// Version of the reading model and of the rules that fill it; recorded with every stored reading.
    public static let version = 1
}
