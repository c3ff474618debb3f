import Provenance

/// The Record Access Control Point (0x2A52) as the Glucose Service uses it: the client writes a request
/// (report, delete or count stored records, or abort), the meter indicates a response on the same
/// characteristic. Both directions are one characteristic value here, because the gateway writes requests and
/// reads responses while the simulated meter does the opposite, and `gatewayd decode` must show either.
///
/// Wire form: op code (uint8), operator (uint8), operand (depends on both).
/// - Requests: op 1 report stored records, 2 delete stored records, 4 report number of stored records — each
///   with operator 1 all records, 5 first record or 6 last record (no operand), 2 less than or equal to or 3
///   greater than or equal to (operand: filter type + one value), or 4 within range of, inclusive (operand:
///   filter type + minimum + maximum). Op 3 abort operation takes the null operator (0) and no operand.
/// - Responses: op 5 number of stored records response (null operator, uint16 count); op 6 response code
///   (null operator, request op code uint8, response code value uint8).
/// - Filter types the Glucose Service defines: 1 sequence number (uint16 values), 2 user facing time (7-byte
///   Date Time values: the record's base time plus its time offset). Others are reserved.
///
/// Two decoding paths share one parser. `init(decoding:)` is the strict `CharacteristicValue` path: any
/// malformation is a `CharacteristicDecodeError` naming field and offset. `RACPRequest.validate(_:support:)` is
/// the server's path: it maps the same malformations to the response code the meter must indicate (see there).
public enum RecordAccessControlPoint: CharacteristicValue, Hashable {
    case request(RACPRequest)
    case response(RACPResponse)

    public static let uuid = BluetoothUUID.recordAccessControlPoint
    public static let name = "Record Access Control Point"

    /// Op codes 5 and 6 are responses; everything else (including reserved op codes, which are refused) is
    /// read as a request.
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        switch bytes.first.flatMap(RACPOpCode.init(rawValue:)) {
        case .numberOfStoredRecordsResponse?, .responseCode?: self = .response(try RACPResponse(decoding: bytes))
        default: self = .request(try RACPRequest(decoding: bytes))
        }
    }

    public func encoded() -> [UInt8] {
        switch self {
        case .request(let request): request.encoded()
        case .response(let response): response.encoded()
        }
    }

    public var json: ExactJSON {
        switch self {
        case .request(let request): request.json
        case .response(let response): response.json
        }
    }
}

// MARK: - Enumerations

/// RACP op codes; 0 and 7–255 are reserved.
public enum RACPOpCode: UInt8, Hashable, Sendable, CaseIterable {
    case reportStoredRecords = 1
    case deleteStoredRecords = 2
    case abortOperation = 3
    case reportNumberOfStoredRecords = 4
    case numberOfStoredRecordsResponse = 5
    case responseCode = 6

    /// True for the op codes a client writes (1–4); 5 and 6 only ever come from the server.
    public var isRequest: Bool { rawValue <= 4 }

    public var specName: String {
        switch self {
        case .reportStoredRecords: "report_stored_records"
        case .deleteStoredRecords: "delete_stored_records"
        case .abortOperation: "abort_operation"
        case .reportNumberOfStoredRecords: "report_number_of_stored_records"
        case .numberOfStoredRecordsResponse: "number_of_stored_records_response"
        case .responseCode: "response_code"
        }
    }
}

/// RACP operators; 7–255 are reserved. (`operator` is a Swift keyword, hence the type's name.)
public enum RACPOperator: UInt8, Hashable, Sendable, CaseIterable {
    case null = 0
    case allRecords = 1
    case lessThanOrEqualTo = 2
    case greaterThanOrEqualTo = 3
    case withinRangeOf = 4
    case firstRecord = 5
    case lastRecord = 6

    public var specName: String {
        switch self {
        case .null: "null"
        case .allRecords: "all_records"
        case .lessThanOrEqualTo: "less_than_or_equal_to"
        case .greaterThanOrEqualTo: "greater_than_or_equal_to"
        case .withinRangeOf: "within_range_of"
        case .firstRecord: "first_record"
        case .lastRecord: "last_record"
        }
    }
}

/// The filter types the Glucose Service defines for the operand; 0 and 3–255 are reserved.
public enum RACPFilterType: UInt8, Hashable, Sendable, CaseIterable {
    case sequenceNumber = 1
    /// Base time plus time offset of the record, as a 7-byte Date Time.
    case userFacingTime = 2

    /// Bytes of one filter value.
    public var valueSize: Int {
        switch self {
        case .sequenceNumber: 2
        case .userFacingTime: 7
        }
    }

    public var specName: String {
        switch self {
        case .sequenceNumber: "sequence_number"
        case .userFacingTime: "user_facing_time"
        }
    }
}

/// Response Code Values of op code 6; 0 and 10–255 are reserved.
public enum RACPResponseCode: UInt8, Hashable, Sendable, CaseIterable {
    case success = 1
    case opCodeNotSupported = 2
    /// The operator is defined but wrong for the op code (e.g. null where a selection is needed).
    case invalidOperator = 3
    case operatorNotSupported = 4
    /// The operand is malformed for the operator (missing, wrong length, impossible value).
    case invalidOperand = 5
    case noRecordsFound = 6
    case abortUnsuccessful = 7
    case procedureNotCompleted = 8
    /// The operand is well formed but asks for something the server does not support (e.g. a filter type).
    case operandNotSupported = 9

    public var specName: String {
        switch self {
        case .success: "success"
        case .opCodeNotSupported: "op_code_not_supported"
        case .invalidOperator: "invalid_operator"
        case .operatorNotSupported: "operator_not_supported"
        case .invalidOperand: "invalid_operand"
        case .noRecordsFound: "no_records_found"
        case .abortUnsuccessful: "abort_unsuccessful"
        case .procedureNotCompleted: "procedure_not_completed"
        case .operandNotSupported: "operand_not_supported"
        }
    }
}

// MARK: - Operands

/// One bound of a filter: a sequence number or a user facing time.
public enum RACPFilterValue: Hashable, Sendable {
    case sequenceNumber(UInt16)
    case userFacingTime(DateTime)

    public var filterType: RACPFilterType {
        switch self {
        case .sequenceNumber: .sequenceNumber
        case .userFacingTime: .userFacingTime
        }
    }

    /// Reads one value of `type`; errors name `field` ("operand.minimum", "operand.maximum.month", …).
    static func read(
        _ type: RACPFilterType, from reader: inout PayloadReader, field: String
    ) throws(CharacteristicDecodeError) -> RACPFilterValue {
        switch type {
        case .sequenceNumber: .sequenceNumber(try reader.uint16(field))
        case .userFacingTime: .userFacingTime(try DateTime(reading: &reader, field: field))
        }
    }

    func write(to writer: inout PayloadWriter) {
        switch self {
        case .sequenceNumber(let number): writer.uint16(number)
        case .userFacingTime(let time): time.write(to: &writer)
        }
    }

    /// Ordering key within one filter type. Date Times compare field by field from year down; an unknown
    /// part compares as its wire value 0 (a filter time with unknown parts is odd, but it is not refused).
    var orderKey: [Int] {
        switch self {
        case .sequenceNumber(let number): [Int(number)]
        case .userFacingTime(let time):
            [time.year ?? 0, time.month ?? 0, time.day ?? 0, time.hour, time.minute, time.second]
        }
    }

    var json: ExactJSON {
        switch self {
        case .sequenceNumber(let number): .integer(number)
        case .userFacingTime(let time): time.json
        }
    }
}

/// The operand of "within range of": two bounds of the same filter type with minimum ≤ maximum.
///
/// An inverted range is refused (and a server answers it with Invalid Operand): it can match nothing, and
/// answering "no records found" would hide a client bug behind a plausible-looking empty result.
public struct RACPFilterRange: Hashable, Sendable {
    public let minimum: RACPFilterValue
    public let maximum: RACPFilterValue

    /// Nil when the bounds have different filter types or minimum is after maximum.
    public init?(minimum: RACPFilterValue, maximum: RACPFilterValue) {
        guard minimum.filterType == maximum.filterType,
            minimum.orderKey.lexicographicallyPrecedes(maximum.orderKey) || minimum.orderKey == maximum.orderKey
        else { return nil }
        self.minimum = minimum
        self.maximum = maximum
    }

    /// A sequence-number range; always valid because `ClosedRange` is ordered.
    public init(sequenceNumbers: ClosedRange<UInt16>) {
        minimum = .sequenceNumber(sequenceNumbers.lowerBound)
        maximum = .sequenceNumber(sequenceNumbers.upperBound)
    }

    public var filterType: RACPFilterType { minimum.filterType }
}

/// Which records a report, delete or count request addresses: the operator with its operand.
public enum RACPRecordSelection: Hashable, Sendable {
    case allRecords
    /// Records at or before the value (the operand is the maximum).
    case lessThanOrEqualTo(RACPFilterValue)
    /// Records at or after the value (the operand is the minimum).
    case greaterThanOrEqualTo(RACPFilterValue)
    case withinRangeOf(RACPFilterRange)
    /// The oldest record.
    case firstRecord
    /// The most recent record.
    case lastRecord

    public var operatorCode: RACPOperator {
        switch self {
        case .allRecords: .allRecords
        case .lessThanOrEqualTo: .lessThanOrEqualTo
        case .greaterThanOrEqualTo: .greaterThanOrEqualTo
        case .withinRangeOf: .withinRangeOf
        case .firstRecord: .firstRecord
        case .lastRecord: .lastRecord
        }
    }

    /// The filter type of the operand, nil for the operators without one.
    public var filterType: RACPFilterType? {
        switch self {
        case .allRecords, .firstRecord, .lastRecord: nil
        case .lessThanOrEqualTo(let value), .greaterThanOrEqualTo(let value): value.filterType
        case .withinRangeOf(let range): range.filterType
        }
    }

    func writeOperand(to writer: inout PayloadWriter) {
        switch self {
        case .allRecords, .firstRecord, .lastRecord: break
        case .lessThanOrEqualTo(let value), .greaterThanOrEqualTo(let value):
            writer.uint8(value.filterType.rawValue)
            value.write(to: &writer)
        case .withinRangeOf(let range):
            writer.uint8(range.filterType.rawValue)
            range.minimum.write(to: &writer)
            range.maximum.write(to: &writer)
        }
    }

    var operandJSON: ExactJSON? {
        switch self {
        case .allRecords, .firstRecord, .lastRecord: nil
        case .lessThanOrEqualTo(let value):
            .members([("filter_type", .string(value.filterType.specName)), ("maximum", value.json)])
        case .greaterThanOrEqualTo(let value):
            .members([("filter_type", .string(value.filterType.specName)), ("minimum", value.json)])
        case .withinRangeOf(let range):
            .members([
                ("filter_type", .string(range.filterType.specName)),
                ("minimum", range.minimum.json), ("maximum", range.maximum.json),
            ])
        }
    }
}

// MARK: - Requests

/// A request a client writes to the RACP.
public enum RACPRequest: Hashable, Sendable {
    case reportStoredRecords(RACPRecordSelection)
    case deleteStoredRecords(RACPRecordSelection)
    case abortOperation
    case reportNumberOfStoredRecords(RACPRecordSelection)

    public var opCode: RACPOpCode {
        switch self {
        case .reportStoredRecords: .reportStoredRecords
        case .deleteStoredRecords: .deleteStoredRecords
        case .abortOperation: .abortOperation
        case .reportNumberOfStoredRecords: .reportNumberOfStoredRecords
        }
    }

    /// The record selection, nil for abort.
    public var selection: RACPRecordSelection? {
        switch self {
        case .reportStoredRecords(let selection), .deleteStoredRecords(let selection),
            .reportNumberOfStoredRecords(let selection):
            selection
        case .abortOperation: nil
        }
    }

    /// Strict decoding: a malformed request is a `CharacteristicDecodeError` naming the field and offset.
    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        do {
            self = try Self.parse(bytes, support: .all)
        } catch {
            throw error.error
        }
    }

    /// The server's decoding: the request, or the rejection a meter must indicate for it.
    ///
    /// Mapping (checked in this order; the first problem found decides):
    /// - Empty write: no op code to echo (`requestOpCode` nil, so `response` is nil) — answer at the ATT
    ///   layer. The code carried is Op Code Not Supported.
    /// - Op code reserved (0, 7–255), a response op code (5, 6) written by a client, or one outside
    ///   `support.opCodes` → Op Code Not Supported.
    /// - Operator byte missing → Invalid Operator.
    /// - Abort with any operator other than null (defined or reserved) → Invalid Operator (null is expected);
    ///   abort with operand bytes → Invalid Operand.
    /// - Report/delete/count with the null operator → Invalid Operator; with a reserved operator (7–255) or one
    ///   outside `support.operators` → Operator Not Supported.
    /// - All/first/last with operand bytes → Invalid Operand.
    /// - ≤, ≥, range without a filter type byte → Invalid Operand; a reserved filter type (0, 3–255) or one
    ///   outside `support.filterTypes` → Operand Not Supported.
    /// - Filter values short, over-long, impossible (month 13), or a range with minimum after maximum →
    ///   Invalid Operand.
    public static func validate(
        _ bytes: [UInt8], support: RACPServerSupport = .all
    ) -> Result<RACPRequest, RACPRequestRejection> {
        do {
            return .success(try parse(bytes, support: support))
        } catch {
            return .failure(error)
        }
    }

    /// Runs one read, turning its decode error into a rejection with `code`.
    private static func reading<T>(
        _ reader: inout PayloadReader, echo opCode: UInt8?, _ code: RACPResponseCode,
        _ body: (inout PayloadReader) throws(CharacteristicDecodeError) -> T
    ) throws(RACPRequestRejection) -> T {
        do {
            return try body(&reader)
        } catch {
            throw RACPRequestRejection(requestOpCode: opCode, responseCode: code, error: error)
        }
    }

    private static func parse(
        _ bytes: [UInt8], support: RACPServerSupport
    ) throws(RACPRequestRejection) -> RACPRequest {
        var reader = PayloadReader(bytes, characteristic: RecordAccessControlPoint.name)
        let rawOpCode = try reading(&reader, echo: nil, .opCodeNotSupported) { r throws(CharacteristicDecodeError) in
            try r.uint8("op_code")
        }
        func reject(_ code: RACPResponseCode, _ error: CharacteristicDecodeError) -> RACPRequestRejection {
            RACPRequestRejection(requestOpCode: rawOpCode, responseCode: code, error: error)
        }
        guard let opCode = RACPOpCode(rawValue: rawOpCode) else {
            throw reject(.opCodeNotSupported, reader.error("op_code", .reservedValue(UInt64(rawOpCode)), at: 0))
        }
        guard opCode.isRequest else {
            throw reject(
                .opCodeNotSupported,
                reader.error("op_code", .invalidValue("\(opCode.specName) is sent by the server, not a request"), at: 0)
            )
        }
        guard support.opCodes.contains(opCode) else {
            throw reject(
                .opCodeNotSupported,
                reader.error("op_code", .invalidValue("\(opCode.specName) is not supported by this server"), at: 0))
        }

        let rawOperator = try reading(&reader, echo: rawOpCode, .invalidOperator) {
            r throws(CharacteristicDecodeError) in
            try r.uint8("operator")
        }
        let knownOperator = RACPOperator(rawValue: rawOperator)

        if opCode == .abortOperation {
            guard knownOperator == .null else {
                let problem: CharacteristicDecodeError.Problem =
                    knownOperator == nil
                    ? .reservedValue(UInt64(rawOperator))
                    : .invalidValue("abort_operation takes the null operator")
                throw reject(.invalidOperator, reader.error("operator", problem, at: 1))
            }
            try reading(&reader, echo: rawOpCode, .invalidOperand) { r throws(CharacteristicDecodeError) in
                try r.finish()
            }
            return .abortOperation
        }

        guard let operatorCode = knownOperator else {
            throw reject(.operatorNotSupported, reader.error("operator", .reservedValue(UInt64(rawOperator)), at: 1))
        }
        guard operatorCode != .null else {
            throw reject(
                .invalidOperator,
                reader.error("operator", .invalidValue("\(opCode.specName) needs an operator other than null"), at: 1))
        }
        guard support.operators.contains(operatorCode) else {
            throw reject(
                .operatorNotSupported,
                reader.error(
                    "operator", .invalidValue("\(operatorCode.specName) is not supported by this server"), at: 1))
        }

        let selection: RACPRecordSelection
        switch operatorCode {
        case .allRecords, .firstRecord, .lastRecord:
            try reading(&reader, echo: rawOpCode, .invalidOperand) { r throws(CharacteristicDecodeError) in
                try r.finish()
            }
            selection =
                operatorCode == .allRecords ? .allRecords : operatorCode == .firstRecord ? .firstRecord : .lastRecord
        case .lessThanOrEqualTo, .greaterThanOrEqualTo, .withinRangeOf:
            let rawFilterType = try reading(&reader, echo: rawOpCode, .invalidOperand) {
                r throws(CharacteristicDecodeError) in try r.uint8("operand.filter_type")
            }
            guard let filterType = RACPFilterType(rawValue: rawFilterType) else {
                throw reject(
                    .operandNotSupported,
                    reader.error("operand.filter_type", .reservedValue(UInt64(rawFilterType)), at: 2))
            }
            guard support.filterTypes.contains(filterType) else {
                throw reject(
                    .operandNotSupported,
                    reader.error(
                        "operand.filter_type", .invalidValue("\(filterType.specName) is not supported by this server"),
                        at: 2))
            }
            switch operatorCode {
            case .lessThanOrEqualTo:
                let value = try reading(&reader, echo: rawOpCode, .invalidOperand) {
                    r throws(CharacteristicDecodeError) in
                    try RACPFilterValue.read(filterType, from: &r, field: "operand.maximum")
                }
                selection = .lessThanOrEqualTo(value)
            case .greaterThanOrEqualTo:
                let value = try reading(&reader, echo: rawOpCode, .invalidOperand) {
                    r throws(CharacteristicDecodeError) in
                    try RACPFilterValue.read(filterType, from: &r, field: "operand.minimum")
                }
                selection = .greaterThanOrEqualTo(value)
            default:
                let minimumOffset = reader.offset
                let minimum = try reading(&reader, echo: rawOpCode, .invalidOperand) {
                    r throws(CharacteristicDecodeError) in
                    try RACPFilterValue.read(filterType, from: &r, field: "operand.minimum")
                }
                let maximum = try reading(&reader, echo: rawOpCode, .invalidOperand) {
                    r throws(CharacteristicDecodeError) in
                    try RACPFilterValue.read(filterType, from: &r, field: "operand.maximum")
                }
                guard let range = RACPFilterRange(minimum: minimum, maximum: maximum) else {
                    throw reject(
                        .invalidOperand,
                        reader.error(
                            "operand.minimum", .invalidValue("minimum is after maximum (inverted range)"),
                            at: minimumOffset))
                }
                selection = .withinRangeOf(range)
            }
            try reading(&reader, echo: rawOpCode, .invalidOperand) { r throws(CharacteristicDecodeError) in
                try r.finish()
            }
        case .null:
            // Handled above; kept so the switch stays exhaustive without a default that could hide a new case.
            throw reject(
                .invalidOperator,
                reader.error("operator", .invalidValue("\(opCode.specName) needs an operator other than null"), at: 1))
        }

        switch opCode {
        case .reportStoredRecords: return .reportStoredRecords(selection)
        case .deleteStoredRecords: return .deleteStoredRecords(selection)
        case .reportNumberOfStoredRecords: return .reportNumberOfStoredRecords(selection)
        case .abortOperation, .numberOfStoredRecordsResponse, .responseCode:
            // Abort returned earlier and responses were refused earlier.
            throw reject(.opCodeNotSupported, reader.error("op_code", .invalidValue("not a selection request"), at: 0))
        }
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(opCode.rawValue)
        if let selection {
            writer.uint8(selection.operatorCode.rawValue)
            selection.writeOperand(to: &writer)
        } else {
            writer.uint8(RACPOperator.null.rawValue)
        }
        return writer.bytes
    }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [
            ("op_code", .string(opCode.specName)),
            ("operator", .string((selection?.operatorCode ?? .null).specName)),
        ]
        if let operand = selection?.operandJSON { members.append(("operand", operand)) }
        return .members(members)
    }
}

/// What a server supports, so `RACPRequest.validate` can answer "not supported" for the rest. The default,
/// `.all`, is everything the Glucose Service defines.
public struct RACPServerSupport: Hashable, Sendable {
    /// Only the request op codes (1–4) matter here.
    public var opCodes: Set<RACPOpCode>
    public var operators: Set<RACPOperator>
    public var filterTypes: Set<RACPFilterType>

    public init(opCodes: Set<RACPOpCode>, operators: Set<RACPOperator>, filterTypes: Set<RACPFilterType>) {
        self.opCodes = opCodes
        self.operators = operators
        self.filterTypes = filterTypes
    }

    public static let all = RACPServerSupport(
        opCodes: Set(RACPOpCode.allCases.filter(\.isRequest)),
        operators: Set(RACPOperator.allCases),
        filterTypes: Set(RACPFilterType.allCases))
}

/// Why a server refuses a request: the response code to indicate, the op code to echo, and the precise
/// decode error (field and offset) for the log.
public struct RACPRequestRejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// The op code byte as received (echoed even when reserved); nil only for an empty write.
    public var requestOpCode: UInt8?
    public var responseCode: RACPResponseCode
    public var error: CharacteristicDecodeError

    public init(requestOpCode: UInt8?, responseCode: RACPResponseCode, error: CharacteristicDecodeError) {
        self.requestOpCode = requestOpCode
        self.responseCode = responseCode
        self.error = error
    }

    /// The indication the meter sends back, or nil when there was no op code to answer.
    public var response: RACPResponse? {
        requestOpCode.map { .responseCode(requestOpCode: $0, value: responseCode) }
    }

    public var description: String { "\(responseCode.specName): \(error)" }
}

// MARK: - Responses

/// A response the server indicates on the RACP.
public enum RACPResponse: Hashable, Sendable {
    /// The answer to "report number of stored records".
    case numberOfStoredRecords(UInt16)
    /// The outcome of a request. `requestOpCode` is the raw byte the client sent: a server answering an
    /// unknown op code echoes it, so it need not be a defined op code.
    case responseCode(requestOpCode: UInt8, value: RACPResponseCode)

    /// A response code answering a known request op code.
    public static func responseCode(for opCode: RACPOpCode, _ value: RACPResponseCode) -> RACPResponse {
        .responseCode(requestOpCode: opCode.rawValue, value: value)
    }

    public var opCode: RACPOpCode {
        switch self {
        case .numberOfStoredRecords: .numberOfStoredRecordsResponse
        case .responseCode: .responseCode
        }
    }

    public init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) {
        var reader = PayloadReader(bytes, characteristic: RecordAccessControlPoint.name)
        let rawOpCode = try reader.uint8("op_code")
        guard let opCode = RACPOpCode(rawValue: rawOpCode) else {
            throw reader.error("op_code", .reservedValue(UInt64(rawOpCode)), at: 0)
        }
        guard !opCode.isRequest else {
            throw reader.error("op_code", .invalidValue("\(opCode.specName) is a request, not a response"), at: 0)
        }
        let rawOperator = try reader.uint8("operator")
        guard let operatorCode = RACPOperator(rawValue: rawOperator) else {
            throw reader.error("operator", .reservedValue(UInt64(rawOperator)), at: 1)
        }
        guard operatorCode == .null else {
            throw reader.error("operator", .invalidValue("responses use the null operator"), at: 1)
        }
        if opCode == .numberOfStoredRecordsResponse {
            self = .numberOfStoredRecords(try reader.uint16("operand.number_of_records"))
        } else {
            let requestOpCode = try reader.uint8("operand.request_op_code")
            let valueOffset = reader.offset
            let rawValue = try reader.uint8("operand.response_code_value")
            guard let value = RACPResponseCode(rawValue: rawValue) else {
                throw reader.error("operand.response_code_value", .reservedValue(UInt64(rawValue)), at: valueOffset)
            }
            self = .responseCode(requestOpCode: requestOpCode, value: value)
        }
        try reader.finish()
    }

    public func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.uint8(opCode.rawValue)
        writer.uint8(RACPOperator.null.rawValue)
        switch self {
        case .numberOfStoredRecords(let count): writer.uint16(count)
        case .responseCode(let requestOpCode, let value):
            writer.uint8(requestOpCode)
            writer.uint8(value.rawValue)
        }
        return writer.bytes
    }

    public var json: ExactJSON {
        let operand: ExactJSON
        switch self {
        case .numberOfStoredRecords(let count): operand = .members([("number_of_records", .integer(count))])
        case .responseCode(let requestOpCode, let value):
            let request: ExactJSON =
                RACPOpCode(rawValue: requestOpCode).map { .string($0.specName) } ?? .integer(requestOpCode)
            operand = .members([("request_op_code", request), ("response_code_value", .string(value.specName))])
        }
        return .members([
            ("op_code", .string(opCode.specName)), ("operator", .string(RACPOperator.null.specName)),
            ("operand", operand),
        ])
    }
}
