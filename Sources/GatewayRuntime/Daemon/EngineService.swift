import ServiceLifecycle
import StreamEngine

/// The engine's batches as a service (`StreamEngine.run()`). The daemon lists it before the API and the devices, so the
/// group stops it after them: what the devices, the hub and sync handed over is batched, and nothing is being written
/// when the daemon closes the store.
package struct EngineService: Service {
    package let engine: StreamEngine

    package init(engine: StreamEngine) { self.engine = engine }

    package func run() async throws {
        // (Each child says whether it was the engine's run.)
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await engine.run()
                return true
            }
            group.addTask {
                // Graceful shutdown ends the run, which batches what waits first; cancellation ends it too.
                try? await gracefulShutdown()
                await engine.stopRunning()
                return false
            }
            // The run is never cancelled while it batches what waits: only the waiter is, once the run has ended.
            while let runEnded = await group.next() {
                if runEnded { group.cancelAll() }
            }
        }
    }
}
