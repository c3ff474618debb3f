import Foundation
import Provenance
import TimeSeries

/// The readings a home or a care facility produces, generated deterministically: heart-rate straps at 1 Hz with RR
/// intervals (the bulk), blood-pressure cuffs with a clock a few minutes fast (morning and evening, two users on
/// one cuff), and glucose meters whose stored records carry sequence numbers — the demo's device mix.
struct Workload {
    var people: Int
    var hours: Double
    var startMicros: Int64
    /// How heart rates and RR intervals are generated.
    var values: HeartValues = .physiological
    /// False: only the cuffs and meters (for the footprint of a reading with its full provenance).
    var straps = true

    enum HeartValues: String, Sendable, CaseIterable {
        /// As a heart and a strap give them: the rate walks (the benchmark series `hr_1hz_1m` moves 0 bpm in half of
        /// its seconds, 1 in 40 %, 2 in 10 %), each notification carries the RR intervals of the beats that ended
        /// in its second (0, 1 or 2, with beat-to-beat variation), and receipt times wobble by a few milliseconds.
        case physiological
        /// Every rate and RR interval drawn independently (white noise): the worst case for a delta encoder.
        case noise
    }
    /// People 0..<cuffPeople share cuffs two to a cuff (user slots 1 and 2); all have a meter.
    var cuffPeople: Int { max(2, people / 2) }

    static let gateway = GatewayRecord(id: "bench-gateway", softwareVersion: "bench")

    func strapKey(_ person: Int) -> String { String(format: "00-1B-C5-00-00-30-%02X-%02X", person / 256, person % 256) }
    func cuffKey(_ person: Int) -> String {
        String(format: "00-1B-C5-00-00-10-%02X-%02X", (person / 2) / 256, (person / 2) % 256)
    }
    func meterKey(_ person: Int) -> String { String(format: "00-1B-C5-00-00-20-%02X-%02X", person / 256, person % 256) }

    /// `DEVICE[#USER]=SUBJECT` for `gatewayd collect --map`.
    var mappings: [String] {
        (0..<people).flatMap { person -> [String] in
            var list = ["\(strapKey(person))=person-\(person)", "\(meterKey(person))=person-\(person)"]
            if person < cuffPeople { list.append("\(cuffKey(person))#\(person % 2 + 1)=person-\(person)") }
            return list
        }
    }

    func device(_ key: String, model: String) -> DeviceRecord {
        var record = DeviceRecord(link: "sim:" + key)
        record.systemID = key
        record.manufacturer = "gatewayd bench"
        record.model = model
        record.serialNumber = key.suffix(5).replacingOccurrences(of: "-", with: "")
        record.firmwareRevision = "1.0"
        return record
    }

    /// Writes the workload as JSON lines (gatewayd's import format), newest last; returns counts per kind.
    func write(to path: String) throws -> [ReadingKind: Int] {
        FileManager.default.createFile(atPath: path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw BenchmarkError("cannot write \(path)") }
        defer { try? handle.close() }
        let encoder = JSONEncoder()
        var counts: [ReadingKind: Int] = [:]
        var buffer = Data()
        func emit(_ reading: Reading) throws {
            buffer.append(try encoder.encode(reading))
            buffer.append(0x0A)
            counts[reading.kind, default: 0] += 1
            if buffer.count > 1 << 20 {
                handle.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        let seconds = Int(hours * 3600)
        var random = SplitMix64(seed: 42)
        let policy = TimePolicy(timeZoneIdentifier: "UTC")
        var hearts = (0..<people).map { Heart(rate: 62 + 3 * ($0 % 10), lastBeatMicros: startMicros) }
        for second in 0..<seconds {
            let now = startMicros + Int64(second) * 1_000_000
            for person in 0..<people where straps {
                switch values {
                case .noise: try emit(heartRate(person, at: now + Int64(person) * 997, random: &random))
                case .physiological:
                    let received = now + Int64(person) * 997 + hearts[person].receiptJitterMicros(&random)
                    let (rate, ticks) = hearts[person].second(endingAt: received, random: &random)
                    try emit(heartRate(person, at: received, rate: rate, ticks: ticks))
                }
            }
            // Cuffs at 07:00 and 19:00 of each day (and whatever hour the run starts at), meters every 6 hours.
            if second % 43_200 == 0 {
                for person in 0..<cuffPeople {
                    for reading in bloodPressure(
                        person, at: now + Int64(person) * 60_000_000, policy: policy, random: &random)
                    { try emit(reading) }
                }
            }
            if second % 21_600 == 0 {
                for person in 0..<people {
                    try emit(
                        glucose(
                            person, at: now + Int64(person) * 30_000_000,
                            sequence: UInt16(
                                truncatingIfNeeded: (Int(startMicros / 1_000_000) + second) / 21_600 % 65_535 + 1),
                            policy: policy, random: &random))
                }
            }
        }
        handle.write(buffer)
        return counts
    }

    /// A 2A37 notification with white-noise values: a rate, one or two RR intervals.
    func heartRate(_ person: Int, at micros: Int64, random: inout SplitMix64) -> Reading {
        let rate = 58 + Int(random.next() % 25) + person % 10
        let ticks = (0..<(rate > 70 ? 2 : 1)).map { _ in UInt16(61_440 / rate + Int(random.next() % 40)) }
        return heartRate(person, at: micros, rate: rate, ticks: ticks)
    }

    /// A 2A37 notification: flags 0x16 (uint8 rate, contact detected, RR present; 0x06 without RR), the rate, its RR
    /// intervals in 1/1024 s.
    func heartRate(_ person: Int, at micros: Int64, rate: Int, ticks: [UInt16]) -> Reading {
        var payload: [UInt8] = [ticks.isEmpty ? 0x06 : 0x16, UInt8(rate)]
        for tick in ticks { payload += [UInt8(tick & 0xFF), UInt8(tick >> 8)] }
        var components = [
            ReadingComponent(
                metric: .heartRate, value: .quantity(DecimalQuantity(mantissa: Int64(rate), exponent: 0)), unit: "/min")
        ]
        for tick in ticks {
            components.append(
                ReadingComponent(
                    metric: .rrInterval,
                    value: .quantity(DecimalQuantity(mantissa: Int64(tick) * 9_765_625, exponent: -10)), unit: "s"))
        }
        var context = MeasurementContext()
        context.sensorContact = "detected"
        context.bodySensorLocation = "chest"
        let time = TimeProvenance(
            deviceTimestamp: nil, receivedMicros: micros, clock: nil, clockOffsetMicros: nil, decision: .receiveTime,
            effectiveMicros: micros,
            localOffsetSeconds: 0, syncMethod: "none")
        return Reading(
            kind: .heartRate, components: components, subject: nil, device: device(strapKey(person), model: "HR strap"),
            gateway: Self.gateway,
            context: context, time: time, flags: [], characteristic: "0x2A37", rawPayloads: [payload])
    }

    /// A 2A35 indication from a cuff whose clock runs 3 minutes fast: mapped onto the gateway's timeline.
    func bloodPressure(_ person: Int, at micros: Int64, policy: TimePolicy, random: inout SplitMix64) -> [Reading] {
        let fast: Int64 = 180_000_000
        let stamp = wallClock(micros + fast - 30_000_000)
        let clock = ClockComparison(
            deviceTime: wallClock(micros + fast), deviceUTCOffsetMinutes: nil, gatewayMicros: micros,
            roundTripMicros: 40_000, afterSet: false)
        let time = TimeDecisionRules.decide(
            deviceTimestamp: stamp, deviceTimeOffsetMinutes: nil, receivedMicros: micros, comparisons: [clock],
            policy: policy)
        let systolic = 118 + Int(random.next() % 30)
        let diastolic = 72 + Int(random.next() % 15)
        let pulse = 60 + Int(random.next() % 20)
        let user = UInt8(person % 2 + 1)
        var payload: [UInt8] = [0x1E] + sfloat(systolic) + sfloat(diastolic) + sfloat((systolic + 2 * diastolic) / 3)
        payload += [
            UInt8(stamp.year! & 0xFF), UInt8(stamp.year! >> 8), UInt8(stamp.month!), UInt8(stamp.day!),
            UInt8(stamp.hour), UInt8(stamp.minute), UInt8(stamp.second),
        ]
        payload += sfloat(pulse) + [user]
        var context = MeasurementContext()
        context.userID = user
        var flags: ReadingFlags = []
        if case .mapped = time.decision { flags.insert(.timeCorrected) }
        let device = self.device(cuffKey(person), model: "BP cuff")
        func reading(_ kind: ReadingKind, _ components: [ReadingComponent]) -> Reading {
            Reading(
                kind: kind, components: components, subject: nil, device: device, gateway: Self.gateway,
                context: context, time: time,
                flags: flags, characteristic: "0x2A35", rawPayloads: [payload])
        }
        func mmHg(_ metric: Metric, _ value: Int) -> ReadingComponent {
            ReadingComponent(
                metric: metric, value: .quantity(DecimalQuantity(mantissa: Int64(value), exponent: 0)), unit: "mm[Hg]")
        }
        return [
            reading(
                .bloodPressure,
                [
                    mmHg(.systolicPressure, systolic), mmHg(.diastolicPressure, diastolic),
                    mmHg(.meanArterialPressure, (systolic + 2 * diastolic) / 3),
                ]),
            reading(
                .pulseRate,
                [
                    ReadingComponent(
                        metric: .pulseRate, value: .quantity(DecimalQuantity(mantissa: Int64(pulse), exponent: 0)),
                        unit: "/min")
                ]),
        ]
    }

    /// A 2A18 stored record with a sequence number, its meter's clock in sync.
    func glucose(_ person: Int, at micros: Int64, sequence: UInt16, policy: TimePolicy, random: inout SplitMix64)
        -> Reading
    {
        let stamp = wallClock(micros - 5_000_000)
        let clock = ClockComparison(
            deviceTime: wallClock(micros), deviceUTCOffsetMinutes: nil, gatewayMicros: micros, roundTripMicros: 30_000,
            afterSet: false)
        let time = TimeDecisionRules.decide(
            deviceTimestamp: stamp, deviceTimeOffsetMinutes: 0, receivedMicros: micros, comparisons: [clock],
            policy: policy)
        let milligrams = 85 + Int(random.next() % 70)
        var payload: [UInt8] = [0x03, UInt8(sequence & 0xFF), UInt8(sequence >> 8)]
        payload += [
            UInt8(stamp.year! & 0xFF), UInt8(stamp.year! >> 8), UInt8(stamp.month!), UInt8(stamp.day!),
            UInt8(stamp.hour), UInt8(stamp.minute), UInt8(stamp.second), 0, 0,
        ]
        payload += sfloat(milligrams, exponent: -5) + [0x11]
        var glucose = GlucoseContext(sequenceNumber: sequence)
        glucose.sampleType = "capillary_whole_blood"
        glucose.sampleLocation = "finger"
        var context = MeasurementContext()
        context.glucose = glucose
        return Reading(
            kind: .glucose,
            components: [
                ReadingComponent(
                    metric: .glucose, value: .quantity(DecimalQuantity(mantissa: Int64(milligrams), exponent: -5)),
                    unit: "kg/L")
            ],
            subject: nil, device: device(meterKey(person), model: "Glucose meter"), gateway: Self.gateway,
            context: context, time: time, flags: [],
            characteristic: "0x2A18", rawPayloads: [payload], sequenceNumber: sequence)
    }

    func wallClock(_ micros: Int64) -> DeviceWallClock {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second],
            from: Date(timeIntervalSince1970: Double(micros) / 1_000_000))
        return DeviceWallClock(
            year: parts.year, month: parts.month, day: parts.day, hour: parts.hour ?? 0, minute: parts.minute ?? 0,
            second: parts.second ?? 0)
    }

    /// IEEE-11073 SFLOAT: 12-bit mantissa, 4-bit exponent.
    func sfloat(_ mantissa: Int, exponent: Int = 0) -> [UInt8] {
        let raw = UInt16((exponent & 0xF) << 12) | UInt16(mantissa & 0xFFF)
        return [UInt8(raw & 0xFF), UInt8(raw >> 8)]
    }
}

/// One person's heart as a strap reports it, second by second (deterministic from the workload's generator).
struct Heart {
    var rate: Int
    var lastBeatMicros: Int64
    /// The beat under way: its interval is drawn once, when it starts.
    var beatTicks: Int?

    /// A receipt time's wobble around its second: whole milliseconds, roughly normal with σ ≈ 3 ms (as the
    /// benchmark series' timestamps).
    func receiptJitterMicros(_ random: inout SplitMix64) -> Int64 {
        let sum = (0..<3).reduce(0) { total, _ in total + Int(random.next() % 7) } - 9
        return Int64(sum) * 1_000
    }

    /// Moves the rate one second on and returns it with the RR intervals (1/1024 s) of the beats that ended by `micros`.
    mutating func second(endingAt micros: Int64, random: inout SplitMix64) -> (rate: Int, ticks: [UInt16]) {
        let step = random.next() % 10
        var change = step < 5 ? 0 : step < 7 ? 1 : step < 9 ? -1 : (random.next() % 2 == 0 ? 2 : -2)
        if rate + change < 48 || rate + change > 140 { change = -change }
        rate += change
        var ticks: [UInt16] = []
        while true {
            // Beat-to-beat variation of about ±25 ms around the rate's interval.
            let interval =
                beatTicks
                ?? max(300, 61_440 / rate + (0..<2).reduce(0) { total, _ in total + Int(random.next() % 27) } - 26)
            beatTicks = interval
            let ends = lastBeatMicros + Int64(interval) * 1_000_000 / 1024
            guard ends <= micros else { break }
            ticks.append(UInt16(interval))
            lastBeatMicros = ends
            beatTicks = nil
        }
        return (rate, ticks)
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
