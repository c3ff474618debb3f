extension CharacteristicCatalog {
    /// Current Time Service and Battery Service characteristics (TimeAndBattery.swift).
    static let timeAndBatteryTypes: [any CharacteristicValue.Type] = [
        CurrentTime.self, LocalTimeInformation.self, BatteryLevel.self,
    ]
}
