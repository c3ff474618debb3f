import TestSupport
import Testing

@testable import BLEGateway

/// Random and mutated PDUs from a hostile peer: neither end crashes, each answers as the spec requires, and
/// the link keeps working for well-formed traffic afterwards.
@Suite struct ATTHostilePeerTests {
    static let validRequests: [[UInt8]] = [
        [0x02, 0x05, 0x02], [0x10, 0x01, 0x00, 0xFF, 0xFF, 0x00, 0x28], [0x08, 0x01, 0x00, 0xFF, 0xFF, 0x03, 0x28],
        [0x04, 0x01, 0x00, 0xFF, 0xFF], [0x0A, 0x03, 0x00], [0x0C, 0x03, 0x00, 0x01, 0x00],
        [0x12, 0x04, 0x00, 0x01, 0x00],
        [0x06, 0x01, 0x00, 0xFF, 0xFF, 0x00, 0x28, 0x0F, 0x18],
    ]

    @Test func theServerAnswersEveryHostileRequestAndKeepsServing() async throws {
        let (serverEnd, peer) = InProcessBearer.pair()
        var db = AttributeDatabase()
        db.addPrimaryService(.batteryService)
        db.addCharacteristic(.batteryLevel, properties: [.read, .notify], value: .fixed([55]))
        db.finish()
        let server = ATTServer(bearer: serverEnd, database: db, handler: RecordingHandler())
        Task { await server.run() }
        var replies = peer.incoming.makeAsyncIterator()
        var random = TestRandom(seed: 0xBAD)
        var answered = 0
        for round in 0..<3_000 {
            var pdu = Self.validRequests[round % Self.validRequests.count]
            switch random.next() % 3 {
            case 0: pdu[Int(random.next() % UInt64(pdu.count))] ^= UInt8(truncatingIfNeeded: random.next() | 1)
            case 1: pdu = Array(pdu.prefix(Int(random.next() % UInt64(pdu.count))))
            default: pdu += (0..<Int(random.next() % 4)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            guard let opcode = pdu.first else { continue }
            try await peer.send(pdu)
            if ATTOpcode.mustBeAnswered(opcode) {
                // Every request gets exactly one answer: its response or an Error Response naming it.
                guard let reply = await replies.next(), let replyOpcode = reply.first else {
                    Issue.record("no answer to \(pdu)")
                    return
                }
                #expect(
                    replyOpcode == opcode &+ 1 || (replyOpcode == 0x01 && reply.count == 5 && reply[1] == opcode),
                    "request \(pdu) got \(reply)")
                answered += 1
            }
        }
        #expect(answered > 1_000)
        // Still serving well-formed requests.
        try await peer.send([0x0A, 0x03, 0x00])
        var last = await replies.next()
        while let reply = last, reply.first != 0x0B { last = await replies.next() }
        #expect(last == [0x0B, 55])
        peer.close()
    }

    @Test func theClientSurvivesAHostileServer() async throws {
        var random = TestRandom(seed: 0xC11E)
        for _ in 0..<150 {
            let (clientEnd, server) = InProcessBearer.pair()
            let client = GATTClient(
                bearer: clientEnd, options: GATTClientOptions(transactionTimeout: .milliseconds(50)))
            client.startReceiving()
            let discovery = Task { () -> Result<DiscoveredDatabase, GATTError> in
                do throws(GATTError) { return .success(try await client.discoverAll()) } catch {
                    return .failure(error)
                }
            }
            // Answer each request with random bytes, a mutated plausible response, or nothing.
            let seed = random.next()
            let responder = Task {
                var random = TestRandom(seed: seed)
                for await request in server.incoming {
                    guard let opcode = request.first else { continue }
                    var reply: [UInt8]
                    switch random.next() % 4 {
                    case 0: reply = (0..<Int(random.next() % 12)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                    case 1: reply = [opcode &+ 1, 0x06, 0x01, 0x00, 0x05, 0x00, 0x0D, 0x18]
                    case 2: reply = [0x01, opcode, 0x01, 0x00, 0x0A]
                    default: reply = [0x1D, 0x03, 0x00, 0x01]  // an indication instead of a response
                    }
                    if !reply.isEmpty, random.next() % 2 == 0 {
                        reply[Int(random.next() % UInt64(reply.count))] ^= 0x5A
                    }
                    if !reply.isEmpty { try? await server.send(reply) }
                }
            }
            let outcome = await discovery.value
            server.close()
            await responder.value
            switch outcome {
            case .success(let database): #expect(database.services.count <= 8)
            case .failure: break  // a typed GATTError is the expected outcome for most hostile servers
            }
        }
    }
}
