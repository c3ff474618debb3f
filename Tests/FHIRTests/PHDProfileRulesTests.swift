import Foundation
import Provenance
import Testing

@testable import FHIR

/// Every resource kind the gateway emits for the demo's device mix — cuffs with a clock in sync, 10 minutes fast and
/// reset to 2000, two users, status bits; a meter with stored records, meal context and status; a strap with RR
/// intervals and no Device Information; the gateway — keeps the PHD IG's profile rules (`PHDProfileRules`).
@Suite struct PHDProfileRulesTests {
    /// A cuff whose clock was reset (battery change): its timestamp in 2000 is refused, the receive time used.
    static func resetClockReading() -> Reading {
        var reading = Fixture.bloodPressure(rawStatus: 0x0001)
        reading.time.deviceTimestamp = DeviceWallClock(year: 2000, month: 1, day: 1, hour: 0, minute: 3, second: 0)
        reading.time.clock = ClockComparison(
            deviceTime: DeviceWallClock(year: 2000, month: 1, day: 1, hour: 0, minute: 5, second: 0),
            deviceUTCOffsetMinutes: nil,
            gatewayMicros: Fixture.at0830, roundTripMicros: 40_000, afterSet: false)
        reading.time.decision = .refused(reason: "the device clock was reset")
        reading.time.effectiveMicros = reading.time.receivedMicros
        reading.flags.insert(.timeRefused)
        return reading
    }

    static func deviceMixReadings() -> [Reading] {
        var bob = Fixture.bloodPressure(
            flags: [.bodyMovement], rawStatus: 0x0025, time: Fixture.mappedTime(), subject: "bob")
        bob.context.userID = 2
        var absent = Fixture.glucose(value: .absent(.notANumber))
        absent.flags.insert(.valueAbsent)
        var test = Fixture.heartRate(rr: [])
        test.flags.insert(.testData)
        // A meter that sends its whole context (insulin in liters here: the other unit).
        var context = Fixture.glucoseWithFullContext()
        context.context.glucose?.medicationUnit = "L"
        return [
            context,
            Fixture.bloodPressure(), bob, Fixture.pulse(), resetClockReading(),
            Fixture.glucose(rawStatus: 0x0001), Fixture.glucose(meal: "fasting", location: nil), absent,
            Fixture.heartRate(), test,
        ]
    }

    static func deviceMix() -> [FHIRResource] {
        var resources = deviceMixReadings().flatMap {
            ObservationMapper.observations(for: $0, gatewayDeviceID: Fixture.gatewayDeviceID)
        }
        resources += [
            DeviceMapper.phdDevice(Fixture.cuff(), kinds: [.bloodPressure, .pulseRate]),
            DeviceMapper.phdDevice(Fixture.meter(), kinds: [.glucose]),
            DeviceMapper.phdDevice(Fixture.strap(), kinds: [.heartRate]),
            DeviceMapper.phgDevice(gateway: Fixture.gateway),
            DeviceMapper.phgDevice(
                gateway: Fixture.gateway, info: GatewayDeviceInfo(ethernetAddress: "b8:27:eb:12:34:56")),
        ]
        return resources
    }

    @Test func everyResourceOfTheDeviceMixKeepsTheProfileRules() {
        let resources = Self.deviceMix()
        // Every profile the gateway emits is in the mix (so no rule goes unchecked).
        let profiles = Set(
            resources.flatMap { $0.json["meta"]?["profile"]?.arrayValue?.compactMap(\.stringValue) ?? [] })
        #expect(
            profiles.isSuperset(of: [
                FHIRCodes.numericProfile, FHIRCodes.compoundNumericProfile, FHIRCodes.bitsProfile,
                FHIRCodes.codedProfile,
                FHIRCodes.coincidentTimeStampProfile, FHIRCodes.phdDeviceProfile, FHIRCodes.phgDeviceProfile,
            ]), "\(profiles.sorted())")
        let violations = resources.flatMap(PHDProfileRules.violations)
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    /// The rules are not vacuous: each defect the gateway used to have is caught.
    @Test func theRulesCatchWhatTheGatewayUsedToSend() throws {
        let reading = Fixture.bloodPressure(rawStatus: 0x0001)
        let observations = ObservationMapper.observations(for: reading, gatewayDeviceID: Fixture.gatewayDeviceID)
        let bits = try #require(
            observations.first { $0.json["meta"]?["profile"]?[0]?.stringValue == FHIRCodes.bitsProfile })
        let oldBits = FHIRResource(
            resourceType: "Observation", id: bits.id,
            json: Self.replacing(bits.json, path: ["component"]) { components in
                .array(
                    (components.arrayValue ?? []).map { component in
                        Self.replacing(component, path: ["valueBoolean"], key: "valueCodeableConcept") { _ in
                            Element.codeable([Concept(FHIRCodes.v2YesNo, "Y", "Yes")])
                        }
                    })
            })
        #expect(PHDProfileRules.violations(oldBits).contains { $0.contains("value[x] only boolean") })

        let main = try #require(
            observations.first { $0.json["meta"]?["profile"]?[0]?.stringValue == FHIRCodes.compoundNumericProfile })
        let noSystem = FHIRResource(
            resourceType: "Observation", id: main.id,
            json: Self.replacing(main.json, path: ["identifier"]) { _ in .array([.obj(["value": .string("abc")])]) })
        #expect(PHDProfileRules.violations(noSystem).contains { $0.contains("conditionalCreate") })

        let phd = DeviceMapper.phdDevice(Fixture.strap())  // no kinds: no specialization
        #expect(PHDProfileRules.violations(phd).contains { $0.contains("specialization 1..") })

        let phg = DeviceMapper.phgDevice(gateway: Fixture.gateway)
        let zero = FHIRResource(
            resourceType: "Device", id: phg.id,
            json: Self.replacing(phg.json, path: ["identifier"]) { identifiers in
                .array(
                    [DeviceMapper.identifier("SYSID", FHIRCodes.eui64System, "00-00-00-00-00-00-00-00")]
                        + (identifiers.arrayValue ?? []))
            })
        #expect(PHDProfileRules.violations(zero).contains { $0.contains("all zeros") })
    }

    /// The host's Ethernet address becomes the PhgDevice's ETHMAC identifier; loopback and virtual interfaces do not.
    @Test func theGatewaysHostAddressIsItsEthernetIdentifier() throws {
        let net = FileManager.default.temporaryDirectory.appendingPathComponent("gw-net-\(UUID().uuidString.prefix(8))")
            .path
        defer { try? FileManager.default.removeItem(atPath: net) }
        for (name, address, hardware) in [
            ("lo", "00:00:00:00:00:00", false), ("docker0", "02:42:ac:11:00:02", false),
            ("eth0", "b8:27:eb:12:34:56", true),
        ] {
            try FileManager.default.createDirectory(atPath: net + "/" + name, withIntermediateDirectories: true)
            try (address + "\n").write(toFile: net + "/" + name + "/address", atomically: true, encoding: .utf8)
            if hardware {
                try FileManager.default.createDirectory(
                    atPath: net + "/" + name + "/device", withIntermediateDirectories: true)
            }
        }
        let info = GatewayDeviceInfo.host(net: net)
        #expect(info.ethernetAddress == "B8-27-EB-12-34-56")
        let phg = DeviceMapper.phgDevice(gateway: Fixture.gateway, info: info)
        #expect(
            phg.json["identifier"]?.arrayValue?.map { $0["value"]?.stringValue } == ["B8-27-EB-12-34-56", "gw-home-1"])
        #expect(GatewayDeviceInfo.host(net: net + "/missing").ethernetAddress == nil)
    }

    /// `json` with the member at `path` (one level) replaced by `transform` of it, under `key` when given.
    static func replacing(_ json: ExactJSON, path: [String], key: String? = nil, _ transform: (ExactJSON) -> ExactJSON)
        -> ExactJSON
    {
        guard case .object(let members) = json, let name = path.first else { return json }
        return .object(
            members.map { member in
                member.key == name ? ExactJSON.Member(key ?? member.key, transform(member.value)) : member
            })
    }
}
