extension CharacteristicCatalog {
    /// Device Information Service characteristics (DeviceInformation.swift).
    static let deviceInformationTypes: [any CharacteristicValue.Type] = [
        ManufacturerNameString.self, ModelNumberString.self, SerialNumberString.self, HardwareRevisionString.self,
        FirmwareRevisionString.self, SoftwareRevisionString.self, SystemID.self, RegulatoryCertificationDataList.self,
        PnPID.self,
    ]
}
