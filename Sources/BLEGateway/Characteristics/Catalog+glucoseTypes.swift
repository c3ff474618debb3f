extension CharacteristicCatalog {
    /// The Glucose Service's characteristics (GlucoseMeasurement.swift, GlucoseMeasurementContext.swift,
    /// GlucoseFeature.swift, RecordAccessControlPoint.swift).
    static let glucoseTypes: [any CharacteristicValue.Type] = [
        GlucoseMeasurement.self,
        GlucoseMeasurementContext.self,
        GlucoseFeature.self,
        RecordAccessControlPoint.self,
    ]
}
