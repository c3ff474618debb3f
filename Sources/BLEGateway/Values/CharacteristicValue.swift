import Provenance

/// A characteristic value type: decoded from the bytes a device sends, encoded back to those bytes (the
/// simulated peripherals and RACP requests need the encoder; round trips test both).
///
/// Policy for every decoder (documented here once, kept by all):
/// - A payload that ends inside a field the flags announce is refused (`.truncated`).
/// - Bytes after the last announced field are refused (`.trailingBytes`): a device that sends them either
///   uses flags we do not know or is broken, and in both cases guessing what they mean could misattribute a
///   value. Variable-length values (strings, RR intervals, regulatory data) consume what they own.
/// - Flag bits the specification reserves for future use are refused (`.reservedFlagBits`), because a future
///   flag may add a field and shift every field after it. Reserved bits inside *status* words (which never
///   change the layout) are kept raw so they stay visible.
/// - Enumerated fields holding a reserved value are refused (`.reservedValue`), except where the value is
///   itself evidence to keep (the SFLOAT/FLOAT reserved special values become `MedicalFloat.reserved`).
public protocol CharacteristicValue: Sendable {
    /// The characteristic's UUID.
    static var uuid: BluetoothUUID { get }
    /// The specification's name, e.g. "Blood Pressure Measurement".
    static var name: String { get }
    /// Decodes one value from its bytes.
    init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError)
    /// The bytes a device would send for this value.
    func encoded() -> [UInt8]
    /// JSON for `gatewayd decode`: field names are the specification's names in snake_case, exact decimals
    /// are JSON numbers, special values are strings.
    var json: ExactJSON { get }
}
