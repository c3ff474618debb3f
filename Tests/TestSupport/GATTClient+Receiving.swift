import BLEGateway

extension GATTClient {
    /// Starts the receive loop of a client a test holds across its body; it ends when the test closes the link. (The
    /// gateway runs it as a child task of the connection's owner, `receiving(_:)`.)
    public nonisolated func startReceiving() { Task { await self.run() } }
}
