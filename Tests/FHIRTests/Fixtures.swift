import FHIR
import Foundation
import Provenance

/// Readings as the BLE mapper makes them, at 2026-11-18 08:30:00 in Tokyo (+09:00), for a subject "alice".
enum Fixture {
    /// 2026-11-17T23:30:00Z = 2026-11-18T08:30:00+09:00.
    static let at0830: Int64 = 1_794_958_200_000_000
    static let tokyo = 32_400
    static let gateway = GatewayRecord(id: "gw-home-1", softwareVersion: "0.9.0")
    static let gatewayDeviceID = DeviceMapper.phgDeviceID(gateway)

    static func cuff() -> DeviceRecord {
        var device = DeviceRecord(link: "l2cap:AA:BB:CC:DD:EE:01")
        device.systemID = "00-1b-c5-00-00-00-04-17"
        device.address = "AA:BB:CC:DD:EE:01"
        device.manufacturer = "Omron Healthcare"
        device.model = "HEM-7600T"
        device.serialNumber = "20261118A"
        device.firmwareRevision = "1.2.0"
        device.hardwareRevision = "B"
        device.unregulated = false
        return device
    }

    static func meter() -> DeviceRecord {
        var device = DeviceRecord(link: "unix:/run/glucose.sock")
        device.manufacturer = "Acme"
        device.model = "Gluco 3"
        device.serialNumber = "G-77"
        return device
    }

    static func strap() -> DeviceRecord { DeviceRecord(link: "l2cap:hci0") }

    static func q(_ mantissa: Int64, _ exponent: Int8 = 0) -> ReadingValue {
        .quantity(DecimalQuantity(mantissa: mantissa, exponent: exponent))
    }

    /// Device time kept as sent (clock in sync), compared over CTS 5 s before.
    static func keptTime(offsetSeconds: Int = tokyo) -> TimeProvenance {
        let clock = ClockComparison(
            deviceTime: DeviceWallClock(year: 2026, month: 11, day: 18, hour: 8, minute: 29, second: 55),
            deviceUTCOffsetMinutes: nil, gatewayMicros: at0830 - 5_000_000, roundTripMicros: 40_000, afterSet: false)
        return TimeProvenance(
            deviceTimestamp: DeviceWallClock(year: 2026, month: 11, day: 18, hour: 8, minute: 30, second: 0),
            receivedMicros: at0830 + 7_000_000,
            clock: clock, clockOffsetMicros: 0, decision: .kept, effectiveMicros: at0830,
            localOffsetSeconds: offsetSeconds, syncMethod: "cts_read")
    }

    /// A cuff whose clock runs 10 minutes fast: it stamped 08:40:00, the gateway mapped that back to 08:30:00.
    static func mappedTime() -> TimeProvenance {
        let clock = ClockComparison(
            deviceTime: DeviceWallClock(year: 2026, month: 11, day: 18, hour: 8, minute: 45, second: 5),
            deviceUTCOffsetMinutes: nil, gatewayMicros: at0830 + 305_000_000, roundTripMicros: 40_000, afterSet: false)
        return TimeProvenance(
            deviceTimestamp: DeviceWallClock(year: 2026, month: 11, day: 18, hour: 8, minute: 40, second: 0),
            receivedMicros: at0830 + 310_000_000,
            clock: clock, clockOffsetMicros: 600_000_000, decision: .mapped(correctionMicros: -600_000_000),
            effectiveMicros: at0830,
            localOffsetSeconds: tokyo, syncMethod: "cts_read")
    }

    /// No device timestamp (heart-rate notifications): the receive time is the reading's time.
    static func receiveTime(_ micros: Int64 = at0830 + 250_000) -> TimeProvenance {
        TimeProvenance(
            deviceTimestamp: nil, receivedMicros: micros, clock: nil, clockOffsetMicros: nil, decision: .receiveTime,
            effectiveMicros: micros,
            localOffsetSeconds: tokyo, syncMethod: "none")
    }

    static func bloodPressure(
        systolic: ReadingValue = q(1205, -1), diastolic: ReadingValue = q(80), mean: ReadingValue = q(935, -1),
        flags: ReadingFlags = [],
        rawStatus: UInt16? = nil, time: TimeProvenance = keptTime(), payload: [UInt8] = [0x1E, 0xB5, 0xF4, 0x50, 0x00],
        subject: String? = "alice"
    ) -> Reading {
        var context = MeasurementContext()
        context.userID = 1
        context.rawStatus = rawStatus
        return Reading(
            kind: .bloodPressure,
            components: [
                ReadingComponent(metric: .systolicPressure, value: systolic, unit: "mm[Hg]"),
                ReadingComponent(metric: .diastolicPressure, value: diastolic, unit: "mm[Hg]"),
                ReadingComponent(metric: .meanArterialPressure, value: mean, unit: "mm[Hg]"),
            ],
            subject: subject, device: cuff(), gateway: gateway, context: context, time: time, flags: flags,
            characteristic: "0x2A35",
            rawPayloads: [payload])
    }

    static func pulse(flags: ReadingFlags = []) -> Reading {
        var reading = bloodPressure(flags: flags)
        reading.kind = .pulseRate
        reading.components = [ReadingComponent(metric: .pulseRate, value: q(72), unit: "/min")]
        return reading
    }

    static func glucose(
        value: ReadingValue = q(95, -5), unit: String = "kg/L", sampleType: String = "capillary_plasma",
        meal: String? = "postprandial",
        location: String? = "finger", rawStatus: UInt16? = nil, flags: ReadingFlags = []
    ) -> Reading {
        var glucose = GlucoseContext(sequenceNumber: 42)
        glucose.sampleType = sampleType
        glucose.sampleLocation = location
        glucose.meal = meal
        var context = MeasurementContext()
        context.glucose = glucose
        context.rawStatus = rawStatus
        return Reading(
            kind: .glucose, components: [ReadingComponent(metric: .glucose, value: value, unit: unit)],
            subject: "alice", device: meter(),
            gateway: gateway, context: context, time: keptTime(), flags: flags, characteristic: "0x2A18",
            rawPayloads: [[0x1B, 0x2A, 0x00], [0x02, 0x2A]],
            sequenceNumber: 42)
    }

    /// A meter that sends its whole context: tester, health, carbohydrate (0.045 kg at lunch), insulin (0.000012 kg of
    /// long-acting), exercise (40 %, its duration overrun) and HbA1c (6.2 %), taken at bedtime.
    static func glucoseWithFullContext() -> Reading {
        var reading = glucose(meal: "bedtime")
        reading.context.glucose?.tester = "health_care_professional"
        reading.context.glucose?.health = "under_stress"
        reading.context.glucose?.carbohydrateID = "lunch"
        reading.context.glucose?.carbohydrateKilograms = DecimalQuantity(mantissa: 45, exponent: -3)
        reading.context.glucose?.medicationID = "long_acting_insulin"
        reading.context.glucose?.medicationQuantity = DecimalQuantity(mantissa: 12, exponent: -6)
        reading.context.glucose?.medicationUnit = "kg"
        reading.context.glucose?.exerciseDurationSeconds = 0xFFFF
        reading.context.glucose?.exerciseIntensityPercent = 40
        reading.context.glucose?.hba1cPercent = DecimalQuantity(mantissa: 62, exponent: -1)
        return reading
    }

    static func heartRate(rr: [Int64] = [1024, 983]) -> Reading {
        var context = MeasurementContext()
        context.sensorContact = "detected"
        let components =
            [ReadingComponent(metric: .heartRate, value: q(64), unit: "/min")]
            + rr.map { ReadingComponent(metric: .rrInterval, value: q($0 * 9_765_625, -10), unit: "s") }
        return Reading(
            kind: .heartRate, components: components, subject: "bob", device: strap(), gateway: gateway,
            context: context, time: receiveTime(),
            flags: [], characteristic: "0x2A37", rawPayloads: [[0x16, 0x40, 0x00, 0x04]])
    }

    /// Resources with their ids, by id.
    static func byID(_ resources: [FHIRResource]) -> [String: FHIRResource] {
        Dictionary(resources.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Writes resources to `$FHIR_SAMPLE_DIR` (when set) for validating them outside the test suite.
    static func dump(_ resources: [FHIRResource], as name: String) {
        guard let directory = ProcessInfo.processInfo.environment["FHIR_SAMPLE_DIR"] else { return }
        for (index, resource) in resources.enumerated() {
            let path = "\(directory)/\(name)-\(index)-\(resource.resourceType).json"
            _ = FileManager.default.createFile(atPath: path, contents: Data(resource.json.prettyText.utf8))
        }
    }
}
