#if canImport(Glibc)
    import Glibc

    @_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

/// The gateway's process-wide memory policy, applied once at start-up by `gatewayd` (and by the benchmarks, which
/// measure the gateway as it runs).
public enum ProcessMemory {
    /// glibc gives each thread that contends for malloc an arena of its own, up to 8 per core, and an arena keeps
    /// what it once held: the engine's thread, GRDB's queues, the HTTP server's event loops and the store's log thread
    /// each held a megabyte or more of their own (PipelineBenchmark: 5.2 MiB more anonymous memory than the no-op sink
    /// with glibc's default, 4.7 with two arenas, at the same throughput). A gateway on a Raspberry Pi has 2–4 cores and
    /// little contention; two arenas are plenty.
    public static let mallocArenas: Int32 = 2

    /// Caps glibc's malloc arenas at `mallocArenas` (M_ARENA_MAX); true when the C library took it (elsewhere: false).
    @discardableResult
    public static func applyPolicy() -> Bool {
        #if canImport(Glibc)
            let arenaMaximum: Int32 = -8  // M_ARENA_MAX in <malloc.h>
            return glibcMallopt(arenaMaximum, mallocArenas) == 1
        #else
            return false
        #endif
    }
}
