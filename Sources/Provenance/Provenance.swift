/// The domain model of one reading: who, where, how and when it was measured, and the tamper-evident ledger.
///
/// The reading model arrives with the Provenance/StreamEngine issue; this module exists now so the
/// package has the shape DESIGN.md agreed on and the arrows between modules are checked by the compiler.
public enum ProvenanceModel {
    /// Version of the reading model; recorded with every stored reading once readings exist.
    public static let version = 1
}
