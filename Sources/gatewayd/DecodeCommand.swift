import ArgumentParser
import BLEGateway
import GatewayRuntime
import Provenance

/// `gatewayd decode <uuid> <hex>`: what a device's bytes mean, for anyone debugging a device.
struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode a characteristic value given as hex and print it as JSON.",
        discussion: """
            Field names are the Bluetooth GATT Specification Supplement's, in snake_case; exact decimals are JSON \
            numbers (120.5 stays 120.5); special values (NaN, NRes, +INFINITY, -INFINITY, reserved) are strings. \
            Exits with status 1 and a message naming the field and byte offset when the bytes are not valid.
            Example: gatewayd decode 2A35 "1E B5 F4 50 00 A7 F3 EA 07 0B 12 14 06 28 40 00 01 00 00"
            """)

    @Argument(help: "The characteristic: 2A35, 0x2A35 or a 128-bit UUID.")
    var characteristic: String

    @Argument(help: "The value's bytes in hex (spaces, colons allowed).")
    var hex: [String]

    @Flag(help: "One line of JSON instead of indented.")
    var compact = false

    func run() throws {
        guard let uuid = BluetoothUUID(parsing: characteristic) else {
            throw ValidationError(
                "'\(characteristic)' is not a UUID (expected e.g. 2A35 or 00002a35-0000-1000-8000-00805f9b34fb)")
        }
        let bytes: [UInt8]
        switch HexBytes.parse(hex.joined()) {
        case .success(let parsed): bytes = parsed
        case .failure(let error): throw ValidationError("the value: \(error)")
        }
        do {
            let value = try CharacteristicCatalog.decode(uuid: uuid, bytes: bytes)
            let type = Swift.type(of: value)
            let document = ExactJSON.members([
                ("characteristic", .string(type.uuid.description)), ("name", .string(type.name)), ("value", value.json),
            ])
            print(compact ? document.text : document.prettyText)
        } catch {
            FileHandleOutput.standardError("gatewayd decode: \(error)")
            throw ExitCode(1)
        }
    }
}
