import Foundation

/// Deterministic, plausible readings to preload simulated devices with (the demo, `gatewayd simulate`,
/// tests): the same seed gives the same readings, including the doubtful and NaN ones.
public enum SimulatedReadings {
    /// `count` cuff readings over the given users, about one in five doubtful and every sixth a NaN, taken
    /// `spacing` apart and ending at `end` (nil: all at the device's "now").
    public static func fill(
        _ cuff: SimulatedBloodPressureMonitor, count: Int, users: [UInt8] = [1, 2], seed: UInt64 = 7,
        end: Date? = nil, spacing: TimeInterval = 12 * 3600
    ) async {
        var random = seed
        for index in 0..<count {
            let r = next(&random)
            let systolic = Int32(112 + r % 30)
            let diastolic = Int32(70 + (r >> 8) % 18)
            let mean = (systolic + 2 * diastolic) / 3
            let user: BloodPressureUser = users.isEmpty ? .unknown : .user(users[index % users.count])
            let instant = end.map { $0.addingTimeInterval(-Double(count - 1 - index) * spacing) }
            if index % 6 == 5 {
                await cuff.measure(
                    systolic: .nan, diastolic: .nan, meanArterialPressure: .nan, pulseRate: nil, user: user,
                    status: BloodPressureMeasurementStatus(cuffTooLoose: true), at: instant)
                continue
            }
            let doubtful = r % 5 == 0
            let status = BloodPressureMeasurementStatus(
                bodyMovementDetected: doubtful && r % 2 == 0, cuffTooLoose: false,
                irregularPulseDetected: doubtful && r % 2 == 1)
            await cuff.measure(
                systolic: .number(mantissa: systolic * 10 + Int32((r >> 16) % 10), exponent: -1),
                diastolic: .number(mantissa: diastolic, exponent: 0),
                meanArterialPressure: .number(mantissa: mean, exponent: 0),
                pulseRate: .number(mantissa: Int32(58 + (r >> 24) % 30), exponent: 0), user: user, status: status,
                at: instant)
        }
    }

    /// `count` meter records, every other one with a meal context, one in seven with a sensor annunciation,
    /// `spacing` apart and ending at `end` (nil: all at the meter's "now").
    public static func fill(
        _ meter: SimulatedGlucoseMeter, count: Int, seed: UInt64 = 11, end: Date? = nil,
        spacing: TimeInterval = 6 * 3600
    ) async {
        var random = seed
        for index in 0..<count {
            let r = next(&random)
            let context =
                index % 2 == 0
                ? GlucoseMeasurementContext(
                    sequenceNumber: 0, meal: index % 4 == 0 ? .preprandial : .postprandial,
                    testerHealth: GlucoseTesterHealth(tester: .`self`, health: .noHealthIssues))
                : nil
            let status: GlucoseSensorStatus? = index % 7 == 6 ? [.sampleSizeInsufficient] : nil
            let instant = end.map { $0.addingTimeInterval(-Double(count - 1 - index) * spacing) }
            await meter.measure(
                milligramsPerDeciliter: Int32(85 + r % 70), status: status, context: context, at: instant)
        }
    }

    static func next(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
