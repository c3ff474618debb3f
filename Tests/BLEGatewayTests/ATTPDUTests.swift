import TestSupport
import Testing

@testable import BLEGateway

@Suite struct ATTPDUTests {
    static let samples: [ATTPDU] = [
        .errorResponse(requestOpcode: 0x0A, handle: 0x0010, error: .readNotPermitted),
        .exchangeMTURequest(clientRxMTU: 517), .exchangeMTUResponse(serverRxMTU: 247),
        .findInformationRequest(HandleRange(start: 1, end: 0xFFFF)),
        .findInformationResponse([HandleType(handle: 3, type: .clientCharacteristicConfiguration)]),
        .findInformationResponse([HandleType(handle: 9, type: BluetoothUUID(bigEndian: Array(0..<16))!)]),
        .findByTypeValueRequest(HandleRange(start: 1, end: 0xFFFF), type: 0x2800, value: [0x10, 0x18]),
        .findByTypeValueResponse([HandleRange(start: 1, end: 7)]),
        .readByTypeRequest(HandleRange(start: 1, end: 9), type: .characteristic),
        .readByTypeResponse([
            HandleValue(handle: 2, value: [0x10, 3, 0, 0x37, 0x2A]),
            HandleValue(handle: 5, value: [2, 6, 0, 0x38, 0x2A]),
        ]),
        .readRequest(handle: 3), .readResponse(value: [1, 2]), .readResponse(value: []),
        .readBlobRequest(handle: 3, offset: 22), .readBlobResponse(value: [9]),
        .readByGroupTypeRequest(HandleRange(start: 1, end: 0xFFFF), type: .primaryService),
        .readByGroupTypeResponse([GroupValue(handle: 1, endGroupHandle: 5, value: [0x0D, 0x18])]),
        .writeRequest(handle: 4, value: [1, 0]), .writeResponse, .writeCommand(handle: 4, value: []),
        .handleValueNotification(handle: 3, value: [0, 60]), .handleValueIndication(handle: 7, value: [0]),
        .handleValueConfirmation, .other(opcode: 0x3F, parameters: [1]),
    ]

    @Test func everyPDURoundTrips() throws {
        for pdu in Self.samples {
            #expect(try ATTPDU(decoding: pdu.encoded()) == pdu)
        }
    }

    @Test func knownWireBytes() throws {
        #expect(ATTPDU.exchangeMTURequest(clientRxMTU: 517).encoded() == [0x02, 0x05, 0x02])
        #expect(
            ATTPDU.readByGroupTypeRequest(.all, type: .primaryService).encoded() == [
                0x10, 0x01, 0x00, 0xFF, 0xFF, 0x00, 0x28,
            ])
        #expect(
            ATTPDU.errorResponse(requestOpcode: 0x10, handle: 0x0001, error: .attributeNotFound).encoded() == [
                0x01, 0x10, 0x01, 0x00, 0x0A,
            ])
        #expect(ATTPDU.handleValueConfirmation.encoded() == [0x1E])
    }

    @Test func malformedPDUsAreTypedErrors() {
        #expect(throws: ATTPDUError.empty) { try ATTPDU(decoding: []) }
        for bytes: [UInt8] in [
            [0x02, 0x05], [0x02, 0x05, 0x02, 0x00], [0x0A, 0x01], [0x1E, 0x00], [0x05, 0x03, 0x01, 0x00, 0x02, 0x29],
            [0x09, 0x01, 0x02, 0x00], [0x11, 0x06, 0x01, 0x00, 0x05, 0x00, 0x0D], [0x08, 0x01, 0x00, 0xFF, 0xFF, 0x03],
        ] {
            #expect(throws: ATTPDUError.self) { try ATTPDU(decoding: bytes) }
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var generator = TestRandom(seed: 0xA77)
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 24)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if let pdu = try? ATTPDU(decoding: bytes) {
                // Whatever decodes re-encodes to a PDU that decodes to the same value.
                #expect((try? ATTPDU(decoding: pdu.encoded())) == pdu)
            }
        }
    }

    @Test func uuidForms() throws {
        #expect(BluetoothUUID(parsing: "2a35") == .bloodPressureMeasurement)
        #expect(BluetoothUUID(parsing: "00002A35-0000-1000-8000-00805F9B34FB") == .bloodPressureMeasurement)
        #expect(BluetoothUUID.bloodPressureMeasurement.attBytes == [0x35, 0x2A])
        #expect(BluetoothUUID(attBytes: [0x35, 0x2A]) == .bloodPressureMeasurement)
        #expect(BluetoothUUID(parsing: "xyz") == nil)
        #expect(BluetoothUUID.bloodPressureMeasurement.description == "0x2A35")
    }
}
