/// Every characteristic the gateway can decode, by UUID: what `gatewayd decode` and the fuzz targets use.
public enum CharacteristicCatalog {
    /// The shared services' characteristics, then each health profile's (a characteristic several profiles use, the
    /// RACP, listed once).
    public static let all: [any CharacteristicValue.Type] = {
        var types: [any CharacteristicValue.Type] = [DateTime.self] + deviceInformationTypes + timeAndBatteryTypes
        // The User Data Service, which multi-user devices of several profiles carry, comes last: appended, the fuzz
        // seeds keep their meaning.
        let userData: [any CharacteristicValue.Type] = [
            UserIndex.self, DatabaseChangeIncrement.self, UserControlPoint.self,
        ]
        for type in HealthProfile.all.flatMap(\.characteristics) + userData
        where !types.contains(where: { $0.uuid == type.uuid }) {
            types.append(type)
        }
        return types
    }()

    public static func type(for uuid: BluetoothUUID) -> (any CharacteristicValue.Type)? {
        all.first { $0.uuid == uuid }
    }

    /// Why `decode` refused.
    public enum DecodeFailure: Error, Equatable, CustomStringConvertible {
        case unknownCharacteristic(BluetoothUUID)
        case invalid(CharacteristicDecodeError)

        public var description: String {
            switch self {
            case .unknownCharacteristic(let uuid):
                "characteristic \(uuid) is not one this gateway decodes; known: "
                    + CharacteristicCatalog.all.map { "\($0.uuid) \($0.name)" }.joined(separator: ", ")
            case .invalid(let error): error.description
            }
        }
    }

    /// Decodes `bytes` as the characteristic `uuid` names.
    public static func decode(
        uuid: BluetoothUUID, bytes: [UInt8]
    ) throws(DecodeFailure) -> any CharacteristicValue {
        guard let type = type(for: uuid) else { throw .unknownCharacteristic(uuid) }
        do {
            return try type.init(decoding: bytes)
        } catch {
            throw .invalid(error)
        }
    }
}
