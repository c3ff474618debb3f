import BLEGateway
import Testing

@Suite struct BluetoothAddressTests {
    @Test func roundTripsThroughBlueZByteOrder() throws {
        let address = try BluetoothAddress(parsing: "00:1a:7D:da:71:13")
        #expect(address.description == "00:1A:7D:DA:71:13")
        #expect(address.bdaddr.b.0 == 0x13)
        #expect(address.bdaddr.b.5 == 0x00)
        #expect(BluetoothAddress(bdaddr: address.bdaddr) == address)
    }

    @Test(arguments: ["00:11:22:33:44", "00:11:22:33:44:5G", "0:11:22:33:44:55", ""])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: BluetoothAddress.ParseError.self) { try BluetoothAddress(parsing: text) }
    }
}
