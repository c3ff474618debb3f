import Foundation
import Provenance

extension HealthProfile {
    /// Weight Scale (0x181D), with the Body Composition Service when the scale has one: indicated measurements, kept
    /// until confirmed; several user slots.
    public static let weightScale = HealthProfile(
        id: "weight_scale", serviceName: "Weight Scale", service: .weightScaleService, deviceName: "scale",
        appearanceCategories: [0x00C],
        characteristics: [
            WeightMeasurement.self, WeightScaleFeature.self, BodyCompositionMeasurement.self,
            BodyCompositionFeature.self,
        ],
        session: { client, _, options in WeightScaleSession(client: client, options: options).run() },
        simulator: SimulatorRecipe(
            shortName: "scale", model: "WS-4", systemIDBase: 0x0D_0100, recordSpacing: 24 * 3600, streams: false
        ) { settings in
            var configuration = SimulatedScale.Configuration()
            if let identity = settings.identity { configuration.identity = identity }
            configuration.clock = settings.clock
            configuration.faults = settings.faults
            if let consents = settings.userConsents {
                configuration.usesUserData = true
                configuration.consentCodes = consents
            }
            return SimulatedScale(configuration: configuration)
        })

    /// Body Composition (0x181B) on a device without the Weight Scale Service: the same session.
    public static let bodyComposition = HealthProfile(
        id: "body_composition", serviceName: "Body Composition", service: .bodyCompositionService,
        deviceName: "body composition analyser", appearanceCategories: [],
        characteristics: [BodyCompositionMeasurement.self, BodyCompositionFeature.self],
        session: { client, _, options in WeightScaleSession(client: client, options: options).run() },
        simulator: SimulatorRecipe(
            shortName: "bodycomp", model: "BC-1", systemIDBase: 0x0B_0100, recordSpacing: 24 * 3600, streams: false
        ) { settings in
            var configuration = SimulatedScale.Configuration()
            if let identity = settings.identity { configuration.identity = identity }
            configuration.clock = settings.clock
            configuration.faults = settings.faults
            configuration.hasWeightScaleService = false
            return SimulatedScale(configuration: configuration)
        })
}

extension ScaleValue {
    /// The exact reading value, or "not reported" for an unsuccessful measurement (FHIR dataAbsentReason "error").
    func readingValue(_ decimal: (ScaleValue) -> ScaleDecimal) -> ReadingValue {
        if isUnsuccessful { return .absent(.notReported) }
        let value = decimal(self)
        return .quantity(DecimalQuantity(mantissa: value.mantissa, exponent: value.exponent))
    }
}

extension WeightMeasurement: HealthMeasurement {
    public var measurementJSON: ExactJSON { .members([("weight_measurement", json)]) }

    public var summary: String {
        var text = weight.isUnsuccessful ? "weighing unsuccessful" : "weight \(weight.mass(units)) \(units.massName)"
        if let bmi, let height { text += ", BMI \(bmi.tenths), height \(height.length(units)) \(units.lengthName)" }
        if let userID { text += userID == 0xFF ? ", unknown user" : ", user \(userID)" }
        if let timeStamp { text += ", at \(timeStamp) on the device clock" }
        return text
    }

    /// The weight (in the unit sent, exactly), and BMI and height when sent, as readings of the scale's user slot.
    public func readings(_ mapping: ReadingMapping) -> [Reading] {
        var mapping = mapping
        mapping.context.userID = userID
        let time = mapping.time(deviceTime: timeStamp)
        let units = units
        var readings = [
            mapping.reading(
                .bodyWeight,
                [
                    ReadingComponent(
                        metric: .bodyWeight, value: weight.readingValue { $0.mass(units) }, unit: units.massUCUM)
                ],
                time: time)
        ]
        if let bmi, let height {
            readings.append(
                mapping.reading(
                    .bodyMassIndex,
                    [ReadingComponent(metric: .bodyMassIndex, value: bmi.readingValue(\.tenths), unit: "kg/m2")],
                    time: time))
            readings.append(
                mapping.reading(
                    .bodyHeight,
                    [
                        ReadingComponent(
                            metric: .bodyHeight, value: height.readingValue { $0.length(units) }, unit: units.lengthUCUM
                        )
                    ],
                    time: time))
        }
        return readings
    }
}

/// A body composition measurement: one packet, or the two packets of a measurement too long for the link, joined.
public struct BodyCompositionRecord: HealthMeasurement {
    public var packets: [BodyCompositionMeasurement]

    public init(packets: [BodyCompositionMeasurement]) { self.packets = packets }

    /// The joined measurement: the first packet's units and body fat, each other field from the packet that has it.
    public var joined: BodyCompositionMeasurement {
        guard var joined = packets.first else { return BodyCompositionMeasurement(bodyFatPercentage: .unsuccessful) }
        for packet in packets.dropFirst() {
            joined.timeStamp = joined.timeStamp ?? packet.timeStamp
            joined.userID = joined.userID ?? packet.userID
            for field in BodyCompositionMeasurement.Field.allCases where joined[field] == nil {
                joined[field] = packet[field]
            }
        }
        joined.multiplePacket = packets.count > 1
        return joined
    }

    /// A measurement announced as two packets of which one arrived.
    public var isIncomplete: Bool { packets.count == 1 && packets[0].multiplePacket }

    public var measurementJSON: ExactJSON {
        .members([("body_composition_measurement", .array(packets.map(\.json)))])
    }

    public var summary: String {
        let m = joined
        var text =
            m.bodyFatPercentage.isUnsuccessful
            ? "body composition unsuccessful" : "body fat \(m.bodyFatPercentage.tenths) %"
        for field in BodyCompositionMeasurement.Field.allCases {
            if let value = m[field] {
                text += ", \(field.name.replacingOccurrences(of: "_", with: " ")) \(m.text(field, value))"
            }
        }
        if let userID = m.userID { text += userID == 0xFF ? ", unknown user" : ", user \(userID)" }
        if isIncomplete { text += "; its second packet never came" }
        return text
    }

    /// Body fat with the analysis's other values as components; the weight and height it carries as readings of their
    /// own when the device is a body composition analyser alone. A scale with the Weight Scale Service (its Weight
    /// Scale Feature was read) sends the same weighing's weight and height in its Weight Measurement too: taking them
    /// from both would count every weighing twice. An incomplete measurement is kept, doubtful, and says which packet
    /// is missing.
    public func readings(_ mapping: ReadingMapping) -> [Reading] {
        var mapping = mapping
        let m = joined
        mapping.context.userID = m.userID
        if isIncomplete {
            mapping.flags.insert(.unknownStatus)
            mapping.context.statusLabels = ["second_packet_missing"]
        }
        let time = mapping.time(deviceTime: m.timeStamp)
        let units = m.units
        func component(_ metric: Metric, _ value: ScaleValue?, _ unit: String, _ decimal: (ScaleValue) -> ScaleDecimal)
            -> ReadingComponent?
        {
            value.map { ReadingComponent(metric: metric, value: $0.readingValue(decimal), unit: unit) }
        }
        let components = [
            component(.bodyFat, m.bodyFatPercentage, "%", \.tenths),
            component(.basalMetabolism, m.basalMetabolism, "kJ", \.whole),
            component(.musclePercentage, m.musclePercentage, "%", \.tenths),
            component(.muscleMass, m.muscleMass, units.massUCUM) { $0.mass(units) },
            component(.fatFreeMass, m.fatFreeMass, units.massUCUM) { $0.mass(units) },
            component(.softLeanMass, m.softLeanMass, units.massUCUM) { $0.mass(units) },
            component(.bodyWaterMass, m.bodyWaterMass, units.massUCUM) { $0.mass(units) },
            component(.impedance, m.impedance, "Ohm", \.tenths),
        ].compactMap { $0 }
        var readings = [mapping.reading(.bodyComposition, components, time: time)]
        guard mapping.connectionValue(WeightScaleFeature.self) == nil else { return readings }
        if let weight = m.weight {
            readings.append(
                mapping.reading(
                    .bodyWeight,
                    [
                        ReadingComponent(
                            metric: .bodyWeight, value: weight.readingValue { $0.mass(units) }, unit: units.massUCUM)
                    ], time: time))
        }
        if let height = m.height {
            readings.append(
                mapping.reading(
                    .bodyHeight,
                    [
                        ReadingComponent(
                            metric: .bodyHeight, value: height.readingValue { $0.length(units) }, unit: units.lengthUCUM
                        )
                    ], time: time))
        }
        return readings
    }
}
