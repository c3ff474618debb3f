import Testing

@testable import Provenance

func sampleReading(
    sequence: UInt16? = nil,
    stamp: DeviceWallClock? = DeviceWallClock(year: 2026, month: 11, day: 18, hour: 7, minute: 30, second: 0),
    payload: [UInt8] = [0x1E, 0xB5, 0xF4], received: Int64 = 1_795_000_000_000_000, user: UInt8? = 1
) -> Reading {
    var device = DeviceRecord(link: "socketpair")
    device.systemID = "00-1B-C5-00-00-00-04-17"
    var context = MeasurementContext()
    context.userID = user
    let time = TimeProvenance(
        deviceTimestamp: stamp, receivedMicros: received, clock: nil, clockOffsetMicros: nil, decision: .kept,
        effectiveMicros: received, localOffsetSeconds: 32_400, syncMethod: "none")
    return Reading(
        kind: .bloodPressure,
        components: [
            ReadingComponent(
                metric: .systolicPressure, value: .quantity(DecimalQuantity(mantissa: 1205, exponent: -1)),
                unit: "mm[Hg]")
        ],
        subject: "alice", device: device, gateway: GatewayRecord(id: "gw-1", softwareVersion: "test"), context: context,
        time: time,
        flags: [], characteristic: "0x2A35", rawPayloads: [payload], sequenceNumber: sequence)
}

@Suite struct ReadingIdentityTests {
    @Test func theSameReadingHeardTwiceHasOneIdentity() throws {
        let first = sampleReading(received: 1_795_000_000_000_000)
        var second = sampleReading(received: 1_795_000_999_000_000)  // resent on a later connection
        second.gateway = GatewayRecord(id: "gw-2", softwareVersion: "other")  // or heard by another gateway
        second.device.link = "l2cap:hci1"
        #expect(first.identity == second.identity)
        #expect(first.identity?.hex.count == 64)
    }

    @Test func whatDistinguishesReadingsChangesTheIdentity() {
        let base = sampleReading()
        #expect(sampleReading(payload: [0x1E, 0xB5, 0xF5]).identity != base.identity)
        #expect(
            sampleReading(stamp: DeviceWallClock(year: 2026, month: 11, day: 18, hour: 7, minute: 31, second: 0))
                .identity != base.identity)
        #expect(sampleReading(user: 2).identity != base.identity)
        var other = base
        other.subject = "bob"
        #expect(other.identity != base.identity)
        var unmapped = base
        unmapped.subject = nil
        #expect(unmapped.identity == nil)
    }

    @Test func theSequenceNumberAnchorsStoredRecordsAndReceiveTimeIsTheLastResort() {
        #expect(sampleReading(sequence: 7, received: 1).identity == sampleReading(sequence: 7, received: 2).identity)
        #expect(sampleReading(stamp: nil, received: 1).identity != sampleReading(stamp: nil, received: 2).identity)
        #expect(ReadingIdentity.canonicalText(of: sampleReading(sequence: 7), subject: "alice").contains("sequence:7"))
    }

    @Test func decimalQuantitiesPrintExactly() {
        #expect(DecimalQuantity(mantissa: 1205, exponent: -1).description == "120.5")
        #expect(DecimalQuantity(mantissa: 90, exponent: -5).description == "0.00090")
        #expect(DecimalQuantity(mantissa: -3, exponent: 2).description == "-300")
    }
}
