/// Why a characteristic value was refused: which characteristic, which field, at which byte offset, and what
/// was wrong, so a person looking at a device's bytes can find the culprit.
public struct CharacteristicDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong with the field.
    public enum Problem: Equatable, Sendable {
        /// The payload ended inside the field.
        case truncated(needed: Int, available: Int)
        /// The payload carries bytes after the last field its flags announce.
        case trailingBytes(count: Int)
        /// Flag bits the specification reserves for future use are set; they could announce fields we cannot
        /// parse, so the rest of the payload cannot be trusted.
        case reservedFlagBits(UInt64)
        /// An enumerated field holds a value the specification reserves.
        case reservedValue(UInt64)
        /// A field is present but its content is impossible (e.g. month 13, not UTF-8).
        case invalidValue(String)
    }

    /// The characteristic's specification name, e.g. "Blood Pressure Measurement".
    public var characteristic: String
    /// The field's specification name in snake_case, e.g. "time_stamp".
    public var field: String
    /// Byte offset of the field in the payload.
    public var offset: Int
    public var problem: Problem

    public init(characteristic: String, field: String, offset: Int, problem: Problem) {
        self.characteristic = characteristic
        self.field = field
        self.offset = offset
        self.problem = problem
    }

    public var description: String {
        let at = "\(characteristic): field \(field) at byte offset \(offset)"
        switch problem {
        case .truncated(let needed, let available):
            return "\(at) needs \(needed) byte(s) but only \(available) remain (payload truncated)"
        case .trailingBytes(let count):
            return "\(at): \(count) unexpected byte(s) after the last field the flags announce (payload over-long)"
        case .reservedFlagBits(let bits):
            return "\(at) sets reserved-for-future-use bit(s) 0x\(String(bits, radix: 16, uppercase: true))"
        case .reservedValue(let value):
            return "\(at) holds reserved value \(value) (0x\(String(value, radix: 16, uppercase: true)))"
        case .invalidValue(let reason):
            return "\(at) is invalid: \(reason)"
        }
    }
}
