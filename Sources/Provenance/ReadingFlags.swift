/// Per-reading flags, stored with every sample (16 bits in the store). The "doubtful" ones are excluded from
/// summaries by default and counted (DESIGN.md rule 5); the others are informational.
public struct ReadingFlags: OptionSet, Hashable, Sendable, Codable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let bodyMovement = ReadingFlags(rawValue: 1 << 0)
    public static let cuffTooLoose = ReadingFlags(rawValue: 1 << 1)
    public static let irregularPulse = ReadingFlags(rawValue: 1 << 2)
    public static let pulseRateOutOfRange = ReadingFlags(rawValue: 1 << 3)
    public static let improperPosition = ReadingFlags(rawValue: 1 << 4)
    /// A glucose sensor status annunciation (strip error, sample size, temperature, fault …).
    public static let sensorAnnunciation = ReadingFlags(rawValue: 1 << 5)
    /// A heart-rate sensor reported no skin contact.
    public static let noSensorContact = ReadingFlags(rawValue: 1 << 6)
    /// Test data (control solution, simulated device): never a person's reading.
    public static let testData = ReadingFlags(rawValue: 1 << 7)
    /// The device's timestamp was refused; the reading's time is the gateway's receive time.
    public static let timeRefused = ReadingFlags(rawValue: 1 << 8)
    /// The device's timestamp was mapped onto the gateway's timeline (informational).
    public static let timeCorrected = ReadingFlags(rawValue: 1 << 9)
    /// No number: NaN, NRes, ±INFINITY or reserved.
    public static let valueAbsent = ReadingFlags(rawValue: 1 << 10)
    /// Reserved status bits were set by the device: something it wanted to say that we cannot name.
    public static let unknownStatus = ReadingFlags(rawValue: 1 << 11)

    /// Excluded from summaries unless asked for.
    public static let doubtful: ReadingFlags = [
        .bodyMovement, .cuffTooLoose, .irregularPulse, .pulseRateOutOfRange, .improperPosition, .sensorAnnunciation,
        .noSensorContact, .testData, .timeRefused, .valueAbsent, .unknownStatus,
    ]

    public static let names: [(ReadingFlags, String)] = [
        (.bodyMovement, "body_movement"), (.cuffTooLoose, "cuff_too_loose"), (.irregularPulse, "irregular_pulse"),
        (.pulseRateOutOfRange, "pulse_rate_out_of_range"), (.improperPosition, "improper_position"),
        (.sensorAnnunciation, "sensor_annunciation"), (.noSensorContact, "no_sensor_contact"), (.testData, "test_data"),
        (.timeRefused, "time_refused"), (.timeCorrected, "time_corrected"), (.valueAbsent, "value_absent"),
        (.unknownStatus, "unknown_status"),
    ]

    public var labels: [String] { Self.names.filter { contains($0.0) }.map(\.1) }

    /// What a person's summaries leave out. A real person's: every doubtful reading, test data (HTEST) included, so
    /// a simulated device or a control-solution check never moves their averages. A test person's (a configured
    /// `test: true` subject, the demo's people): doubtful readings but not test data — their summaries are made of
    /// test data and are labelled HTEST themselves. The two are never mixed in one summary.
    public static func leftOutOfSummaries(testSubject: Bool) -> ReadingFlags {
        testSubject ? doubtful.subtracting(.testData) : doubtful
    }
}
