import BLEGateway
import Foundation
import Provenance
import StreamEngine

/// The pipeline fed by devices behind unix sockets and by reading files (`gatewayd collect`): the same durable path
/// as a radio's devices.
extension GatewayPipeline {
    /// Collects from every device at `paths` at once (one connection each) until they close. `failed` is told, per
    /// socket, what ended it early; the others go on.
    package func collect(
        unixSockets paths: [String], zone: TimeZone, mapper: ReadingMapperOptions,
        onStored: @escaping @Sendable (IngestOutcome, Reading) async -> Void,
        failed: @escaping @Sendable (_ path: String, _ error: any Error) async -> Void
    ) async {
        await withTaskGroup(of: Void.self) { group in
            for path in paths {
                group.addTask {
                    do {
                        let bearer = try UnixSeqPacket.connect(path: path)
                        try await collect(
                            bearer: bearer, link: "unix:\(path)", zone: zone, mapper: mapper, onOutcome: onStored)
                    } catch {
                        await failed(path, error)
                    }
                }
            }
        }
    }

    /// Imports a reading file (`ReadingFile`). Its readings wait for no
    /// confirmation: they go through the engine a decoded chunk at a time, in full batches (one journal transaction,
    /// one fsync, one ledger entry each), while the next chunk decodes. A bad line ends the file there, after everything
    /// before it is stored.
    package func importReadings(
        file: String, onBatch: ([(IngestOutcome, PendingReading)]) async -> Void
    ) async throws {
        for try await chunk in ReadingFile.readings(path: file) {
            let outcomes = try await engine.ingest(batch: chunk)
            await onBatch(Array(zip(outcomes, chunk)))
        }
    }
}
