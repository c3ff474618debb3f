extension CharacteristicCatalog {
    /// Placeholder until the decoders land; replaced by the file that defines them.
    static let bloodPressureTypes: [any CharacteristicValue.Type] = []
}
