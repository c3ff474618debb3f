import StreamEngine
import Testing

@Suite struct ProcessMemoryTests {
    @Test func glibcTakesTheArenaCap() {
        #if os(Linux)
            #expect(ProcessMemory.applyPolicy(), "mallopt(M_ARENA_MAX, \\(ProcessMemory.mallocArenas)) was refused")
        #endif
    }
}
