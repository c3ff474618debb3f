extension CharacteristicCatalog {
    /// Heart Rate Service characteristics (HeartRate.swift).
    static let heartRateTypes: [any CharacteristicValue.Type] = [
        HeartRateMeasurement.self, BodySensorLocation.self, HeartRateControlPoint.self,
    ]
}
