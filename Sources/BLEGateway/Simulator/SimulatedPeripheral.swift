/// A simulated device: serves one connection at a time over any bearer, until the link closes.
public protocol SimulatedPeripheral: Actor {
    /// The health profile it speaks.
    nonisolated var profile: HealthProfile { get }
    func serve(_ bearer: any ATTBearer) async
}
