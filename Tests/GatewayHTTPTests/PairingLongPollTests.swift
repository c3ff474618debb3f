import Foundation
import GatewayRuntime
import Logging
import TestSupport
import Testing

/// The pairing page's long poll (`DevicePairing.changes(after:)`): it answers at the next change, or with the status as
/// it is once its 25 s pass on the pairing's clock, or at once when the client goes away.
@Suite(.timeLimit(.minutes(1))) struct PairingLongPollTests {
    @Test func aLongPollAnswersAtItsDeadlineAtTheNextChangeOrWhenItsCallerLeaves() async throws {
        let (pages, pipeline, dir) = try await PagesTests.fixture()
        defer {
            pipeline.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let clock = ManualClock()
        let pairing = DevicePairing(
            pipeline: pipeline, configuration: pages.configuration, logger: Logger(label: "test"),
            unavailable: "no radio", clock: clock)
        let version = await pairing.status().version

        // Nothing changes: the poll answers after 25 s on the clock, not a moment before.
        let quiet = Task { await pairing.changes(after: version) }
        await clock.sleeping(atLeast: 1)
        clock.advance(by: .seconds(24))
        #expect(clock.sleepers == 1)
        clock.advance(by: .seconds(1))
        #expect(await quiet.value.version == version)

        // A change answers every waiting poll at once, and their timers end with them.
        let first = Task { await pairing.changes(after: version) }
        let second = Task { await pairing.changes(after: version) }
        await clock.sleeping(atLeast: 2)
        await pairing.attach(radio: SimulatedPairingRadio.demo { _, _ in })
        #expect(await first.value.phase == .idle)
        #expect(await second.value.version > version)
        #expect(clock.sleepers == 0)

        // A client that leaves ends its poll without time passing; another poll waits on.
        let now = await pairing.status().version
        let leaving = Task { await pairing.changes(after: now) }
        let staying = Task { await pairing.changes(after: now) }
        await clock.sleeping(atLeast: 2)
        leaving.cancel()
        #expect(await leaving.value.version == now)
        #expect(clock.sleepers == 1)
        clock.advance(by: .seconds(25))
        #expect(await staying.value.version == now)
        #expect(clock.now.offset == .seconds(50))
    }
}
