import Provenance
import Testing

@testable import BLEGateway

private typealias GlucoseKit = GlucoseTestKit

private let racpName = "Record Access Control Point"

private func racpError(_ field: String, _ offset: Int, _ problem: CharacteristicDecodeError.Problem)
    -> CharacteristicDecodeError
{
    CharacteristicDecodeError(characteristic: racpName, field: field, offset: offset, problem: problem)
}

/// 2025-01-31 23:59:58 as the 7 wire bytes.
private let laterTimeBytes: [UInt8] = [0xE9, 0x07, 1, 31, 23, 59, 58]
private let laterTime = DateTime(year: 2025, month: 1, day: 31, hour: 23, minute: 59, second: 58)
private let earlierTimeBytes: [UInt8] = [0xE9, 0x07, 1, 1, 0, 0, 0]
private let earlierTime = DateTime(year: 2025, month: 1, day: 1, hour: 0, minute: 0, second: 0)

@Suite struct RecordAccessControlPointTests {
    /// Every selection with its operator byte and operand bytes, for both filter types.
    static let selections: [(RACPRecordSelection, [UInt8])] = {
        let timeRange = RACPFilterRange(minimum: .userFacingTime(earlierTime), maximum: .userFacingTime(laterTime))
        return [
            (.allRecords, [0x01]),
            (.firstRecord, [0x05]),
            (.lastRecord, [0x06]),
            (.lessThanOrEqualTo(.sequenceNumber(0x0102)), [0x02, 0x01, 0x02, 0x01]),
            (.greaterThanOrEqualTo(.sequenceNumber(7)), [0x03, 0x01, 0x07, 0x00]),
            (.withinRangeOf(RACPFilterRange(sequenceNumbers: 5...10)), [0x04, 0x01, 0x05, 0x00, 0x0A, 0x00]),
            (.withinRangeOf(RACPFilterRange(sequenceNumbers: 9...9)), [0x04, 0x01, 0x09, 0x00, 0x09, 0x00]),
            (.lessThanOrEqualTo(.userFacingTime(laterTime)), [0x02, 0x02] + laterTimeBytes),
            (.greaterThanOrEqualTo(.userFacingTime(earlierTime)), [0x03, 0x02] + earlierTimeBytes),
            (.withinRangeOf(timeRange!), [0x04, 0x02] + earlierTimeBytes + laterTimeBytes),
        ]
    }()

    static var selectionOpCodes: [(UInt8, (RACPRecordSelection) -> RACPRequest)] {
        [
            (0x01, RACPRequest.reportStoredRecords),
            (0x02, RACPRequest.deleteStoredRecords),
            (0x04, RACPRequest.reportNumberOfStoredRecords),
        ]
    }

    @Test func everyOpOperatorAndFilterCombinationEncodesAndDecodes() throws {
        for (opCode, make) in Self.selectionOpCodes {
            for (selection, tail) in Self.selections {
                let request = make(selection)
                let bytes = [opCode] + tail
                #expect(request.encoded() == bytes)
                #expect(request.opCode.rawValue == opCode)
                #expect(request.selection == selection)
                #expect(try RACPRequest(decoding: bytes) == request)
                #expect(try RecordAccessControlPoint(decoding: bytes) == .request(request))
                #expect(RecordAccessControlPoint.request(request).encoded() == bytes)
                #expect(RACPRequest.validate(bytes) == .success(request))
            }
        }
        #expect(RACPRequest.abortOperation.encoded() == [0x03, 0x00])
        #expect(try RecordAccessControlPoint(decoding: [0x03, 0x00]) == .request(.abortOperation))
        #expect(RACPRequest.validate([0x03, 0x00]) == .success(.abortOperation))
    }

    @Test func requestJSONUsesSpecificationNames() throws {
        let request = try RACPRequest(decoding: [0x01, 0x04, 0x01, 0x05, 0x00, 0x0A, 0x00])
        #expect(
            request.json
                == .members([
                    ("op_code", .string("report_stored_records")), ("operator", .string("within_range_of")),
                    (
                        "operand",
                        .members([
                            ("filter_type", .string("sequence_number")), ("minimum", .number("5")),
                            ("maximum", .number("10")),
                        ])
                    ),
                ]))
        #expect(RACPRequest.abortOperation.json["operator"] == .string("null"))
        #expect(RACPRequest.abortOperation.json["operand"] == nil)
        let count = try RACPRequest(decoding: [0x04, 0x03, 0x02] + laterTimeBytes)
        #expect(count.json["operand"]?["minimum"]?["day"] == .number("31"))
    }

    @Test func responsesEncodeAndDecode() throws {
        let count = RACPResponse.numberOfStoredRecords(300)
        #expect(count.encoded() == [0x05, 0x00, 0x2C, 0x01])
        #expect(try RecordAccessControlPoint(decoding: [0x05, 0x00, 0x2C, 0x01]) == .response(count))
        #expect(count.json["operand"]?["number_of_records"] == .number("300"))
        for code in RACPResponseCode.allCases {
            for opCode in RACPOpCode.allCases where opCode.isRequest {
                let response = RACPResponse.responseCode(for: opCode, code)
                let bytes: [UInt8] = [0x06, 0x00, opCode.rawValue, code.rawValue]
                #expect(response.encoded() == bytes)
                #expect(try RACPResponse(decoding: bytes) == response)
                #expect(try RecordAccessControlPoint(decoding: bytes) == .response(response))
            }
        }
        // A server echoes an op code it did not understand; the response is still well formed.
        let echo = try RACPResponse(decoding: [0x06, 0x00, 0x07, 0x02])
        #expect(echo == .responseCode(requestOpCode: 7, value: .opCodeNotSupported))
        #expect(echo.json["operand"]?["request_op_code"] == .number("7"))
        #expect(
            RACPResponse.responseCode(for: .deleteStoredRecords, .noRecordsFound).json["operand"]
                == .members([
                    ("request_op_code", .string("delete_stored_records")),
                    ("response_code_value", .string("no_records_found")),
                ]))
    }

    @Test func malformedResponsesAreRefusedWithFieldAndOffset() {
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x06, 0x00, 0x01, 0x00])
                == racpError("operand.response_code_value", 3, .reservedValue(0)))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x06, 0x00, 0x01, 0x0A])
                == racpError("operand.response_code_value", 3, .reservedValue(10)))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x06, 0x01, 0x01, 0x01])
                == racpError("operator", 1, .invalidValue("responses use the null operator")))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x05, 0x09, 0x01, 0x00])
                == racpError("operator", 1, .reservedValue(9)))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x05, 0x00, 0x01, 0x00, 0x00])
                == racpError("end_of_payload", 4, .trailingBytes(count: 1)))
        #expect(
            (try? RACPResponse(decoding: [0x01, 0x01])) == nil,
            "a request op code is not a response")
        GlucoseKit.expectTruncationTable(
            RecordAccessControlPoint.self, [0x06, 0x00, 0x01, 0x01],
            [
                ("op_code", 0, 1), ("operator", 1, 1), ("operand.request_op_code", 2, 1),
                ("operand.response_code_value", 3, 1),
            ])
        GlucoseKit.expectTruncationTable(
            RecordAccessControlPoint.self, [0x05, 0x00, 0x01, 0x00],
            [("op_code", 0, 1), ("operator", 1, 1), ("operand.number_of_records", 2, 2)])
    }

    @Test func malformedRequestsAreRefusedWithFieldAndOffset() {
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x00, 0x01])
                == racpError("op_code", 0, .reservedValue(0)))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x07, 0x01])
                == racpError("op_code", 0, .reservedValue(7)))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x01, 0x07])
                == racpError("operator", 1, .reservedValue(7)))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x01, 0x00])
                == racpError("operator", 1, .invalidValue("report_stored_records needs an operator other than null")))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x03, 0x01])
                == racpError("operator", 1, .invalidValue("abort_operation takes the null operator")))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x03, 0x00, 0x00])
                == racpError("end_of_payload", 2, .trailingBytes(count: 1)))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x01, 0x01, 0x00])
                == racpError("end_of_payload", 2, .trailingBytes(count: 1)))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x01, 0x03, 0x03, 0x01, 0x00])
                == racpError("operand.filter_type", 2, .reservedValue(3)))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x01, 0x04, 0x01, 0x0A, 0x00, 0x05, 0x00])
                == racpError("operand.minimum", 3, .invalidValue("minimum is after maximum (inverted range)")))
        #expect(
            GlucoseKit.decodeError(RecordAccessControlPoint.self, [0x02, 0x02, 0x02, 0xE9, 0x07, 13, 1, 0, 0, 0])
                == racpError("operand.maximum.month", 5, .reservedValue(13)))
        // Strict request decoding refuses response op codes (the characteristic-level decoder routes them).
        #expect(
            GlucoseKit.decodeError(RACPRequestStrict.self, [0x05, 0x00, 0x01, 0x00])
                == racpError(
                    "op_code", 0,
                    .invalidValue("number_of_stored_records_response is sent by the server, not a request")))
    }

    @Test func truncationOfTheLongestRequestNamesEveryField() {
        let full: [UInt8] = [0x01, 0x04, 0x02] + earlierTimeBytes + laterTimeBytes
        let time = ["year", "month", "day", "hours", "minutes", "seconds"]
        let lengths = [2, 1, 1, 1, 1, 1]
        var spans: [GlucoseKit.FieldSpan] = [("op_code", 0, 1), ("operator", 1, 1), ("operand.filter_type", 2, 1)]
        var start = 3
        for bound in ["operand.minimum", "operand.maximum"] {
            for (part, length) in zip(time, lengths) {
                spans.append(("\(bound).\(part)", start, length))
                start += length
            }
        }
        GlucoseKit.expectTruncationTable(RecordAccessControlPoint.self, full, spans)
        GlucoseKit.expectTruncationTable(
            RecordAccessControlPoint.self, [0x04, 0x02, 0x01, 0x03, 0x00],
            [("op_code", 0, 1), ("operator", 1, 1), ("operand.filter_type", 2, 1), ("operand.maximum", 3, 2)])
    }

    /// The malformations a server must answer, with the response code the specification prescribes.
    static let validationCases: [(bytes: [UInt8], echo: UInt8?, code: RACPResponseCode)] = [
        ([], nil, .opCodeNotSupported),  // empty write: nothing to echo
        ([0x00, 0x01], 0x00, .opCodeNotSupported),  // reserved op code
        ([0x07, 0x01], 0x07, .opCodeNotSupported),
        ([0xFF], 0xFF, .opCodeNotSupported),
        ([0x05, 0x00], 0x05, .opCodeNotSupported),  // response op codes are not requests
        ([0x06, 0x00, 0x01, 0x01], 0x06, .opCodeNotSupported),
        ([0x01], 0x01, .invalidOperator),  // operator missing
        ([0x03], 0x03, .invalidOperator),
        ([0x03, 0x01], 0x03, .invalidOperator),  // abort expects null
        ([0x03, 0x04], 0x03, .invalidOperator),
        ([0x03, 0x07], 0x03, .invalidOperator),
        ([0x03, 0x00, 0x01], 0x03, .invalidOperand),  // abort takes no operand
        ([0x01, 0x00], 0x01, .invalidOperator),  // null where a selection is needed
        ([0x02, 0x00], 0x02, .invalidOperator),
        ([0x04, 0x00], 0x04, .invalidOperator),
        ([0x01, 0x07], 0x01, .operatorNotSupported),  // reserved operator
        ([0x02, 0xFF], 0x02, .operatorNotSupported),
        ([0x01, 0x01, 0x01], 0x01, .invalidOperand),  // all records takes no operand
        ([0x04, 0x05, 0x00], 0x04, .invalidOperand),
        ([0x02, 0x06, 0x01, 0x00, 0x00], 0x02, .invalidOperand),
        ([0x01, 0x03], 0x01, .invalidOperand),  // filter type missing
        ([0x01, 0x04], 0x01, .invalidOperand),
        ([0x01, 0x03, 0x00, 0x01, 0x00], 0x01, .operandNotSupported),  // reserved filter types
        ([0x01, 0x03, 0x03, 0x01, 0x00], 0x01, .operandNotSupported),
        ([0x04, 0x02, 0xFF], 0x04, .operandNotSupported),
        ([0x01, 0x03, 0x01, 0x01], 0x01, .invalidOperand),  // sequence number short
        ([0x01, 0x03, 0x01, 0x01, 0x00, 0x00], 0x01, .invalidOperand),  // over-long
        ([0x01, 0x04, 0x01, 0x05, 0x00], 0x01, .invalidOperand),  // range without maximum
        ([0x01, 0x04, 0x01, 0x0A, 0x00, 0x05, 0x00], 0x01, .invalidOperand),  // inverted range
        ([0x02, 0x04, 0x02] + laterTimeBytes + earlierTimeBytes, 0x02, .invalidOperand),
        ([0x01, 0x02, 0x02, 0xE9, 0x07, 13, 1, 0, 0, 0], 0x01, .invalidOperand),  // month 13
        ([0x01, 0x02, 0x02, 0xE9, 0x07, 1, 1, 0, 0], 0x01, .invalidOperand),  // time short
    ]

    @Test func validateMapsEveryMalformationToItsResponseCode() {
        for (bytes, echo, code) in Self.validationCases {
            guard case .failure(let rejection) = RACPRequest.validate(bytes) else {
                Issue.record("\(bytes) was accepted")
                continue
            }
            #expect(rejection.responseCode == code, "\(bytes): \(rejection)")
            #expect(rejection.requestOpCode == echo, "\(bytes)")
            #expect(rejection.error.characteristic == racpName)
            if let echo {
                #expect(rejection.response == .responseCode(requestOpCode: echo, value: code))
                #expect(rejection.response?.encoded() == [0x06, 0x00, echo, code.rawValue])
            } else {
                #expect(rejection.response == nil)
            }
            // The strict path refuses the same bytes with the same field and offset.
            #expect(GlucoseKit.decodeError(RACPRequestStrict.self, bytes) == rejection.error, "\(bytes)")
        }
    }

    @Test func validateHonoursWhatTheServerSupports() {
        var support = RACPServerSupport.all
        support.opCodes.remove(.deleteStoredRecords)
        support.operators.remove(.withinRangeOf)
        support.filterTypes.remove(.userFacingTime)
        func code(_ bytes: [UInt8]) -> RACPResponseCode? {
            if case .failure(let rejection) = RACPRequest.validate(bytes, support: support) {
                return rejection.responseCode
            }
            return nil
        }
        #expect(code([0x02, 0x01]) == .opCodeNotSupported)
        #expect(code([0x01, 0x04, 0x01, 0x01, 0x00, 0x02, 0x00]) == .operatorNotSupported)
        #expect(code([0x01, 0x03, 0x02] + laterTimeBytes) == .operandNotSupported)
        #expect(
            RACPRequest.validate([0x01, 0x03, 0x01, 0x02, 0x00], support: support)
                == .success(.reportStoredRecords(.greaterThanOrEqualTo(.sequenceNumber(2)))))
        #expect(RACPRequest.validate([0x03, 0x00], support: support) == .success(.abortOperation))
        // The strict decoder accepts everything the service defines.
        #expect((try? RACPRequest(decoding: [0x02, 0x01])) == .deleteStoredRecords(.allRecords))
    }

    @Test func filterRangesAreOrderedAndOfOneType() {
        #expect(RACPFilterRange(minimum: .sequenceNumber(1), maximum: .userFacingTime(laterTime)) == nil)
        #expect(RACPFilterRange(minimum: .sequenceNumber(3), maximum: .sequenceNumber(2)) == nil)
        #expect(RACPFilterRange(minimum: .userFacingTime(laterTime), maximum: .userFacingTime(earlierTime)) == nil)
        let same = RACPFilterRange(minimum: .userFacingTime(laterTime), maximum: .userFacingTime(laterTime))
        #expect(same?.filterType == .userFacingTime)
        // Seconds decide when everything above them is equal.
        var oneSecondLater = laterTime
        oneSecondLater.second += 1
        #expect(RACPFilterRange(minimum: .userFacingTime(oneSecondLater), maximum: .userFacingTime(laterTime)) == nil)
        #expect(RACPFilterRange(sequenceNumbers: 0...UInt16.max).maximum == .sequenceNumber(0xFFFF))
    }

    /// Random writes: for request op codes the strict decoder and the server's validator agree exactly —
    /// same request on success, same field-and-offset error on failure — and never crash.
    @Test func strictAndValidatingPathsAgreeOnRandomInput() {
        var random = GlucoseKit.SplitMix64(seed: 0x5241_4350)
        var accepted = 0
        for _ in 0..<5000 {
            let length = Int(random.next() % 18)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            // Bias towards plausible op codes, operators and filter types so the deep paths run.
            if length > 0 { bytes[0] = UInt8(random.next() % 8) }
            if length > 1 { bytes[1] = UInt8(random.next() % 8) }
            if length > 2 { bytes[2] = UInt8(random.next() % 4) }
            if length > 0, bytes[0] == 5 || bytes[0] == 6 { continue }
            let validated = RACPRequest.validate(bytes)
            do {
                let request = try RACPRequest(decoding: bytes)
                #expect(validated == .success(request))
                #expect(request.encoded() == bytes)
                accepted += 1
            } catch {
                guard case .failure(let rejection) = validated else {
                    Issue.record("\(bytes): strict refused (\(error)) but validate accepted")
                    continue
                }
                #expect(rejection.error == error)
                #expect(rejection.requestOpCode == bytes.first)
            }
        }
        #expect(accepted > 25)  // 50 with this seed: the success path is exercised, not only refusals
    }
}

/// `RACPRequest` viewed as a characteristic value, so `decodeError` can exercise the strict request decoder
/// directly (the characteristic-level decoder routes op codes 5 and 6 to the response decoder).
private struct RACPRequestStrict: CharacteristicValue, Equatable {
    static let uuid = BluetoothUUID.recordAccessControlPoint
    static let name = racpName
    let request: RACPRequest
    init(decoding bytes: [UInt8]) throws(CharacteristicDecodeError) { request = try RACPRequest(decoding: bytes) }
    func encoded() -> [UInt8] { request.encoded() }
    var json: ExactJSON { request.json }
}
