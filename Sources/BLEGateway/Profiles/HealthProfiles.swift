extension HealthProfile {
    /// Every health profile the gateway reads, in the order a device with several of their services is matched.
    /// Registering a profile is one line here (README "Adding a device profile").
    public static let all: [HealthProfile] = [
        .bloodPressure, .glucose, .heartRate, .healthThermometer, .pulseOximeter, .weightScale, .bodyComposition,
        .continuousGlucose,
    ]
}
