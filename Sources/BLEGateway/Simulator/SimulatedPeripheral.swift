/// The kinds of simulated device, as the command line names them.
public enum SimulatedDeviceKind: String, Sendable, CaseIterable {
    case bloodPressure = "bp"
    case glucose
    case heartRate = "hr"
}

/// A simulated device: serves one connection at a time over any bearer, until the link closes.
public protocol SimulatedPeripheral: Actor {
    nonisolated var kind: SimulatedDeviceKind { get }
    func serve(_ bearer: any ATTBearer) async
}
