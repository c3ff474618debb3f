/// The pipeline from a measurement to durable storage and back to an acknowledgement.
///
/// Filled by the Provenance/StreamEngine issue; present now so the module graph of DESIGN.md compiles.
public enum StreamEngineModule {
    /// Version of the pipeline's persisted state (dedupe index, cursors).
    public static let version = 1
}
