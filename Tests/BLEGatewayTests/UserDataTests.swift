import Foundation
import Provenance
import Testing

@testable import BLEGateway

/// The User Data Service on a multi-user scale: the characteristics' bytes, registering a new user, and a session
/// that consents as the scale's current user before it collects — and collects that user's weighings only.
@Suite struct UserDataTests {
    typealias Kit = CharacteristicTestKit

    @Test func theControlPointRoundTripsAndRefusesWhatIsReserved() {
        for value in [
            UserControlPoint.registerNewUser(consentCode: 0), .registerNewUser(consentCode: 9999),
            .consent(userIndex: 2, consentCode: 1234),
            .deleteUserData, .response(request: 0x01, result: .success, userIndex: 3),
            .response(request: 0x02, result: .userNotAuthorized, userIndex: nil),
        ] {
            Kit.expectRoundTrip(value)
        }
        #expect(UserControlPoint.consent(userIndex: 2, consentCode: 1234).encoded() == [0x02, 0x02, 0xD2, 0x04])
        Kit.expectError(
            UserControlPoint.self, [0x01, 0x10, 0x27], field: "consent_code", offset: 1, problem: .reservedValue(10_000)
        )
        Kit.expectError(UserControlPoint.self, [0x07], field: "op_code", offset: 0, problem: .reservedValue(7))
        Kit.expectError(
            UserControlPoint.self, [0x20, 0x02, 0x09], field: "response_value", offset: 2, problem: .reservedValue(9))
        Kit.expectTruncation(
            UserControlPoint.self, full: [0x02, 0x01, 0xD2, 0x04],
            layout: [("op_code", 1), ("user_index", 1), ("consent_code", 2)])
        Kit.expectRoundTrip(UserIndex(index: 0xFF))
        Kit.expectRoundTrip(DatabaseChangeIncrement(value: 7))
        #expect(Kit.catalogType(0x2A9F) == ObjectIdentifier(UserControlPoint.self))
    }

    static func scale(_ codes: [UInt8: UInt16]) -> SimulatedScale {
        var configuration = SimulatedScale.Configuration()
        configuration.clock = SimulatedClock(offset: 0, reference: simulationNow, timeZone: tokyo)
        configuration.usesUserData = true
        configuration.consentCodes = codes
        return SimulatedScale(configuration: configuration, now: { simulationNow })
    }

    static func options(_ codes: [UInt8: UInt16]) -> ProfileSessionOptions {
        var options = sessionOptions()
        options.userConsents = { _ in codes }
        return options
    }

    /// Slot 2 stepped on last: the gateway consents as slot 2 with its code and gets slot 2's weighings; slot 1's stay
    /// on the scale for the next time slot 1 is the current user.
    @Test func theSessionConsentsAsTheCurrentUserAndCollectsThatUsersWeighings() async throws {
        let scale = Self.scale([1: 1001, 2: 1002])
        await scale.measure(user: 1, weightSteps: 12_460, bodyFatTenths: 251, heightMillimetres: 1600)
        await scale.measure(user: 2, weightSteps: 15_700, bodyFatTenths: 230, heightMillimetres: 1750)
        let log = await SessionLog.collect(
            WeightScaleSession(client: try await connect(scale), options: Self.options([1: 1001, 2: 1002])).run())
        #expect(log.error == nil, "\(String(describing: log.error))")
        #expect(log.measurements.compactMap { $0.measurement.as(WeightMeasurement.self) }.map(\.userID) == [2])
        #expect(
            log.events.contains {
                if case .characteristicRead(let value) = $0 { (value as? UserIndex)?.index == 2 } else { false }
            })
        #expect(await scale.stored.map(\.weight.userID) == [1])
    }

    /// A slot this gateway has no code for, and a code the scale refuses, end the session with an error naming the
    /// slot and what to do; nothing is collected, nothing is lost from the scale.
    @Test func aMissingOrRefusedConsentIsSaidAndNothingIsLost() async throws {
        let scale = Self.scale([1: 1001])
        await scale.measure(user: 1, weightSteps: 12_460, bodyFatTenths: 251, heightMillimetres: 1600)
        let none = await SessionLog.collect(
            WeightScaleSession(client: try await connect(scale), options: Self.options([:])).run())
        #expect(
            none.error as? ProfileError == .userConsent(slot: 1, problem: "this gateway holds no consent code for it"))
        #expect((none.error as? ProfileError)?.description.contains("gatewayd pair") == true)
        let wrong = await SessionLog.collect(
            WeightScaleSession(client: try await connect(scale), options: Self.options([1: 4321])).run())
        #expect(
            wrong.error as? ProfileError
                == .userConsent(slot: 1, problem: "the device refused its consent code (user not authorized)"))
        #expect(none.measurements.isEmpty && wrong.measurements.isEmpty)
        #expect(await scale.stored.count == 1)
    }

    /// Registration (pairing): the scale gives the new user a free slot, the session says which and consents as it;
    /// the next session consents with that code and collects the new user's weighings. A code out of range is refused
    /// before anything is written.
    @Test func registeringANewUserGivesItsSlotAndConsentsAsIt() async throws {
        let scale = Self.scale([1: 1001])
        await scale.measure(user: 1, weightSteps: 12_460, bodyFatTenths: 251, heightMillimetres: 1600)
        var pairing = Self.options([:])
        pairing.newUserConsentCode = { _ in 4242 }
        let registered = await SessionLog.collect(
            WeightScaleSession(client: try await connect(scale), options: pairing).run())
        #expect(registered.error == nil, "\(String(describing: registered.error))")
        #expect(
            registered.events.contains {
                if case .userRegistered(2, 4242) = $0 { true } else { false }
            })
        #expect(await scale.consentCodes[2] == 4242)
        // The new user has weighed nothing yet, and slot 1's weighing is not theirs.
        #expect(registered.measurements.isEmpty)
        #expect(await scale.stored.count == 1)
        await scale.measure(user: 2, weightSteps: 14_000, bodyFatTenths: 240, heightMillimetres: 1700)
        let log = await SessionLog.collect(
            WeightScaleSession(client: try await connect(scale), options: Self.options([2: 4242])).run())
        #expect(log.measurements.compactMap { $0.measurement.as(WeightMeasurement.self) }.map(\.userID) == [2])
        var outOfRange = Self.options([:])
        outOfRange.newUserConsentCode = { _ in 10_000 }
        let refused = await SessionLog.collect(
            WeightScaleSession(client: try await connect(scale), options: outOfRange).run())
        #expect(refused.error as? ProfileError == .userConsent(slot: 0xFF, problem: "consent code 10000 is not 0-9999"))
        #expect(await scale.consentCodes.count == 2)
    }

    /// Someone whose code the gateway lacks stepped on last: the gateway consents as a user it holds a code for, and
    /// that user's weighings come; the other user's stay on the scale.
    @Test func anotherUserLastOnTheScaleDoesNotStopAHeldUsersWeighings() async throws {
        let scale = Self.scale([1: 1001, 2: 1002])
        await scale.measure(user: 1, weightSteps: 12_460, bodyFatTenths: 251, heightMillimetres: 1600)
        await scale.measure(user: 2, weightSteps: 15_700, bodyFatTenths: 230, heightMillimetres: 1750)
        let log = await SessionLog.collect(
            WeightScaleSession(client: try await connect(scale), options: Self.options([1: 1001])).run())
        #expect(log.error == nil, "\(String(describing: log.error))")
        #expect(log.measurements.compactMap { $0.measurement.as(WeightMeasurement.self) }.map(\.userID) == [1])
        #expect(await scale.stored.map(\.weight.userID) == [2])
    }
}
