import Provenance

/// Where one metric's value sits in a reading's Observations (the Observation itself, or one of its components), so
/// statistics computed from the store's series carry the very code and unit the Observations carry.
public struct MetricElement: Sendable {
    /// The element's `code` (with every coding the served Observation has, decorations included).
    public var code: ExactJSON
    /// The UCUM unit of the metric in that reading.
    public var unit: String

    /// Finds `metric`'s element among `observations` (a reading's mapped, decorated Observations); nil when the
    /// metric has no coded element (energy expended) or the reading has no such component.
    public static func find(_ metric: Metric, in reading: Reading, observations: [FHIRResource]) -> MetricElement? {
        guard let component = reading.component(metric) else { return nil }
        let sampleType = reading.context.glucose?.sampleType
        let measurement = Nomenclature.code(of: metric, glucoseSampleType: sampleType, unit: component.unit)
        guard let wanted = measurement?.codings.first else { return nil }
        func names(_ element: ExactJSON) -> Bool {
            (element["code"]?["coding"]?.arrayValue ?? []).contains {
                $0["system"]?.stringValue == wanted.system && $0["code"]?.stringValue == wanted.code
            }
        }
        for observation in observations {
            let elements = [observation.json] + (observation.json["component"]?.arrayValue ?? [])
            if let element = elements.first(where: names), let code = element["code"] {
                return MetricElement(code: code, unit: component.unit)
            }
        }
        return nil
    }
}
