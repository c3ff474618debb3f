extension CharacteristicCatalog {
    /// Blood Pressure Service characteristics (BloodPressure.swift).
    static let bloodPressureTypes: [any CharacteristicValue.Type] = [
        BloodPressureMeasurement.self, IntermediateCuffPressure.self, BloodPressureFeature.self,
    ]
}
