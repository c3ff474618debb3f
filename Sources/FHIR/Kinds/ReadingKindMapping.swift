import Provenance

/// How one kind of reading becomes FHIR: its codes (MDC + LOINC), the shape of its Observation, whether it is a vital
/// sign, the IEEE 11073 specialization of the devices that measure it, and its status bits. One file per kind in this
/// folder; the layers ask the mapping instead of switching on the kind (README "Adding a device profile").
struct ReadingKindMapping: Sendable {
    /// A compound Observation (no value of its own; one component per metric: blood pressure), or a numeric one whose
    /// value is `metric` and whose other coded components ride along (a strap's RR intervals).
    enum Shape: Sendable {
        case compound(MeasurementCode, components: [Metric])
        case numeric(Metric)
    }

    var kind: ReadingKind
    var shape: Shape
    /// Vital-signs category beside the PHD one (blood pressure, pulse, heart rate, temperature; not glucose).
    var vitalSign: Bool
    /// The 11073 specialization (PhdDevice.specialization) of a device that reports this kind.
    var specialization: Concept
    var specializationText: String
    /// The device's status word as a PhdBitsEnumerationObservation, when the kind has one.
    var statusBits: StatusBits.Table?
    /// The searchable code of each metric of the kind (glucose: by its sample type and unit); nil when it has none.
    var code: @Sendable (_ metric: Metric, _ glucoseSampleType: String?, _ unit: String) -> MeasurementCode?
    /// The code of a component that is reported with the reading but not searched by (a strap's energy counter).
    var componentCode: @Sendable (_ metric: Metric) -> MeasurementCode? = { _ in nil }
}

extension ReadingKindMapping {
    /// The mapping of each kind of reading: registering a kind is one line here.
    static func of(_ kind: ReadingKind) -> ReadingKindMapping {
        switch kind {
        case .bloodPressure: .bloodPressure
        case .pulseRate: .pulseRate
        case .heartRate: .heartRate
        case .glucose: .glucose
        case .bodyTemperature: .bodyTemperature
        case .oxygenSaturation: .oxygenSaturation
        case .oximetryPulseRate: .oximetryPulseRate
        case .bodyWeight: .bodyWeight
        case .bodyHeight: .bodyHeight
        case .bodyMassIndex: .bodyMassIndex
        case .bodyComposition: .bodyComposition
        }
    }
}
