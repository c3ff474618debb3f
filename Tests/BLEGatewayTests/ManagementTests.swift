import Foundation
import TestSupport
import Testing

@testable import BLEGateway

/// Vectors below are built by hand from doc/mgmt-api.txt: header = code (2, LE), controller index (2, LE),
/// parameter length (2, LE); addresses are 6 bytes least significant first, then the address type byte.
enum MgmtVectors {
    /// 00:1A:7D:DA:71:13, LE public.
    static let cuff = DeviceAddress(address("00:1A:7D:DA:71:13"), type: .lePublic)
    static let cuffWire: [UInt8] = [0x13, 0x71, 0xDA, 0x7D, 0x1A, 0x00, 0x01]
    /// C0:11:22:33:44:55, LE random (static: top two bits set).
    static let meter = DeviceAddress(address("C0:11:22:33:44:55"), type: .leRandom)
    static let meterWire: [UInt8] = [0x55, 0x44, 0x33, 0x22, 0x11, 0xC0, 0x02]
    static let keyValue: [UInt8] = Array(0x00...0x0F)
    static let irkValue: [UInt8] = Array(0xA0...0xAF)

    static func address(_ text: String) -> BluetoothAddress {
        (try? BluetoothAddress(parsing: text)) ?? .any
    }

    static func hex(_ text: String) -> [UInt8] {
        (try? HexBytes.parse(text).get()) ?? []
    }

    /// An authenticated P-256 key for the meter, as the kernel reports it after LE Secure Connections pairing.
    static let meterKey = LongTermKey(
        device: meter, keyType: .authenticatedP256, central: false, encryptionSize: 16, encryptedDiversifier: 0,
        randomNumber: 0, value: keyValue)
}

/// An in-memory kernel: records every command, answers through `responder`, and can push events at any time.
final class FakeKernel: ManagementTransport, @unchecked Sendable {
    typealias Responder = @Sendable (ManagementPacket) -> [ManagementEventPacket]

    private let lock = NSLock()
    private var packets: [ManagementPacket] = []
    private var responder: Responder
    let incoming: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    var closeReason: ManagementSocketError? { nil }

    init(responder: @escaping Responder = { _ in [] }) {
        self.responder = responder
        (incoming, continuation) = AsyncStream.makeStream(of: [UInt8].self)
    }

    var sent: [ManagementPacket] { lock.withLock { packets } }
    var sentOpcodes: [UInt16] { sent.map(\.code) }

    func respond(with responder: @escaping Responder) { lock.withLock { self.responder = responder } }

    func send(_ bytes: [UInt8]) throws(ManagementSocketError) {
        guard let packet = try? ManagementPacket(decoding: bytes) else {
            throw .system(call: "fake send", errno: EINVAL, message: "malformed command \(HexBytes.text(bytes))")
        }
        let answers = lock.withLock {
            packets.append(packet)
            return responder(packet)
        }
        for answer in answers { continuation.yield(answer.encoded()) }
    }

    func deliver(_ packet: ManagementEventPacket) { continuation.yield(packet.encoded()) }
    func deliverRaw(_ bytes: [UInt8]) { continuation.yield(bytes) }
    func close() { continuation.finish() }

    /// Command Complete for `packet` with `status` and return parameters.
    static func complete(_ packet: ManagementPacket, _ status: ManagementStatus = .success, _ parameters: [UInt8] = [])
        -> ManagementEventPacket
    {
        ManagementEventPacket(
            index: packet.index,
            event: .commandComplete(
                opcode: ManagementOpcode(rawValue: packet.code), status: status, returnParameters: parameters))
    }

    /// The Address + Address_Type that start the command's parameters (Pair Device, replies …).
    static func peer(_ packet: ManagementPacket) -> [UInt8] { Array(packet.parameters.prefix(7)) }
}

/// Commands, events, the management actor against a fake kernel, the pairing agent and the host checks.
@Suite struct ManagementTests {}

extension ManagementTests {
    @Suite struct Packets {
        @Test func headerIsLittleEndianCodeIndexLength() throws {
            let packet = try ManagementPacket(code: 0x0019, index: 0x0102, parameters: [0xAA, 0xBB])
            #expect(packet.encoded() == [0x19, 0x00, 0x02, 0x01, 0x02, 0x00, 0xAA, 0xBB])
            #expect(try ManagementPacket(decoding: packet.encoded()) == packet)
        }

        @Test func headerRefusesTruncatedAndOverlongPackets() {
            #expect(throws: CharacteristicDecodeError.self) { try ManagementPacket(decoding: [0x01, 0x00, 0xFF]) }
            do {
                _ = try ManagementPacket(decoding: [0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0x02])
                Issue.record("a 2-byte parameter block announced as 4 decoded")
            } catch {
                #expect(error.field == "parameters")
                #expect(error.offset == 6)
                #expect(error.problem == .truncated(needed: 4, available: 2))
            }
            #expect(throws: CharacteristicDecodeError.self) {
                try ManagementPacket(decoding: [0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x99])
            }
        }

        /// Every command gatewayd sends, byte for byte.
        @Test(
            arguments: [
                (ManagementCommand.readVersion, ManagementPacket.noController, "01 00 FF FF 00 00"),
                (.readControllerIndexList, ManagementPacket.noController, "03 00 FF FF 00 00"),
                (.readControllerInfo, 0, "04 00 00 00 00 00"),
                (.setPowered(true), 0, "05 00 00 00 01 00 01"),
                (.setPowered(false), 0, "05 00 00 00 01 00 00"),
                (.setConnectable(false), 1, "07 00 01 00 01 00 00"),
                (.setBondable(true), 0, "09 00 00 00 01 00 01"),
                (.setLowEnergy(true), 0, "0D 00 00 00 01 00 01"),
                (.setIOCapability(.noInputNoOutput), 0, "18 00 00 00 01 00 03"),
                (.setIOCapability(.keyboardDisplay), 0, "18 00 00 00 01 00 04"),
                (
                    .pairDevice(MgmtVectors.cuff, ioCapability: .noInputNoOutput), 0,
                    "19 00 00 00 08 00 13 71 DA 7D 1A 00 01 03"
                ),
                (.cancelPairDevice(MgmtVectors.cuff), 0, "1A 00 00 00 07 00 13 71 DA 7D 1A 00 01"),
                (.unpairDevice(MgmtVectors.cuff, disconnect: true), 0, "1B 00 00 00 08 00 13 71 DA 7D 1A 00 01 01"),
                (.userConfirmationReply(MgmtVectors.meter), 0, "1C 00 00 00 07 00 55 44 33 22 11 C0 02"),
                (.userConfirmationNegativeReply(MgmtVectors.meter), 0, "1D 00 00 00 07 00 55 44 33 22 11 C0 02"),
                // 123456 = 0x0001E240
                (
                    .userPasskeyReply(MgmtVectors.cuff, passkey: 123_456), 0,
                    "1E 00 00 00 0B 00 13 71 DA 7D 1A 00 01 40 E2 01 00"
                ),
                (.userPasskeyNegativeReply(MgmtVectors.cuff), 0, "1F 00 00 00 07 00 13 71 DA 7D 1A 00 01"),
                (.startDiscovery(.le), 0, "23 00 00 00 01 00 06"),
                (.startDiscovery([.brEdr, .le]), 0, "23 00 00 00 01 00 07"),
                (.stopDiscovery(.le), 0, "24 00 00 00 01 00 06"),
                (.setAdvertising(.connectable), 0, "29 00 00 00 01 00 02"),
                (.disconnect(MgmtVectors.cuff), 0, "14 00 00 00 07 00 13 71 DA 7D 1A 00 01"),
                (.removeAdvertising(instance: 0), 0, "3F 00 00 00 01 00 00"),
            ] as [(ManagementCommand, UInt16, String)])
        func commandEncodings(_ command: ManagementCommand, _ index: UInt16, _ expected: String) throws {
            #expect(try command.packet(index: index).encoded() == MgmtVectors.hex(expected))
        }

        @Test func loadLongTermKeysLayout() throws {
            // Key_Count 1; then Address, Address_Type, Key_Type, Central, Encryption_Size, EDIV (2), Rand (8), Value (16).
            let legacy = LongTermKey(
                device: MgmtVectors.cuff, keyType: .unauthenticatedLegacy, central: true, encryptionSize: 16,
                encryptedDiversifier: 0x1234, randomNumber: 0x0102_0304_0506_0708, value: MgmtVectors.keyValue)
            let packet = try ManagementCommand.loadLongTermKeys([legacy, MgmtVectors.meterKey]).packet(index: 0)
            let expected = MgmtVectors.hex(
                "13 00 00 00 4A 00 02 00"
                    + " 13 71 DA 7D 1A 00 01 00 01 10 34 12 08 07 06 05 04 03 02 01 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F"
                    + " 55 44 33 22 11 C0 02 03 00 10 00 00 00 00 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F"
            )
            #expect(packet.encoded() == expected)
            #expect(packet.parameters.count == 2 + 2 * 36)
            #expect(
                try ManagementCommand.loadLongTermKeys([]).packet(index: 0).encoded()
                    == MgmtVectors.hex("13 00 00 00 02 00 00 00"))
        }

        @Test func loadIdentityResolvingKeysLayout() throws {
            let irk = IdentityResolvingKey(device: MgmtVectors.meter, value: MgmtVectors.irkValue)
            let packet = try ManagementCommand.loadIdentityResolvingKeys([irk]).packet(index: 0)
            #expect(
                packet.encoded()
                    == MgmtVectors.hex(
                        "30 00 00 00 19 00 01 00 55 44 33 22 11 C0 02 A0 A1 A2 A3 A4 A5 A6 A7 A8 A9 AA AB AC AD AE AF"))
        }

        @Test func addAdvertisingLayout() throws {
            // Instance 1, Flags connectable|discoverable, Duration 0, Timeout 0, Adv_Data_Len 13, Scan_Rsp_Len 0, data:
            // complete 16-bit UUIDs [0x180D] and complete name "HRM-Sim" (the kernel adds Flags itself).
            let data = try AdvertisingData.encode(flags: nil, services: [0x180D], name: "HRM-Sim")
            let packet = try ManagementCommand.addAdvertising(AdvertisingInstance(advertisingData: data)).packet(
                index: 1)
            #expect(
                packet.encoded()
                    == MgmtVectors.hex(
                        "3E 00 01 00 18 00 01 03 00 00 00 00 00 00 00 0D 00 03 03 0D 18 08 09 48 52 4D 2D 53 69 6D"))
        }

        @Test func invalidCommandsAreRefusedBeforeSending() {
            #expect(throws: ManagementError.self) {
                try ManagementCommand.userPasskeyReply(MgmtVectors.cuff, passkey: 1_000_000).packet(index: 0)
            }
            #expect(throws: ManagementError.self) { try ManagementCommand.startDiscovery([]).packet(index: 0) }
            let withFlags = AdvertisingInstance(advertisingData: [0x02, 0x01, 0x06])
            do {
                _ = try ManagementCommand.addAdvertising(withFlags).packet(index: 0)
                Issue.record("advertising data with Flags was accepted while the kernel manages them")
            } catch {
                #expect(error.description.contains("Flags"))
            }
            let badInstance = AdvertisingInstance(instance: 0, advertisingData: [])
            #expect(throws: ManagementError.self) { try ManagementCommand.addAdvertising(badInstance).packet(index: 0) }
            let broken = AdvertisingInstance(flags: [.connectable], advertisingData: [0x05, 0x09, 0x41])
            #expect(throws: ManagementError.self) { try ManagementCommand.addAdvertising(broken).packet(index: 0) }
            let tooLong = AdvertisingInstance(
                flags: [.discoverable], advertisingData: [0x1D, 0xFF] + [UInt8](repeating: 0, count: 28))
            #expect(throws: ManagementError.self) { try ManagementCommand.addAdvertising(tooLong).packet(index: 0) }
        }

        @Test func readVersionAndIndexListReplies() throws {
            #expect(
                try ManagementVersion(returnParameters: [0x01, 0x16, 0x00])
                    == ManagementVersion(version: 1, revision: 22))
            #expect(try ControllerIndexList.decode([0x02, 0x00, 0x00, 0x00, 0x01, 0x00]) == [0, 1])
            #expect(try ControllerIndexList.decode([0x00, 0x00]) == [])
            #expect(throws: CharacteristicDecodeError.self) {
                try ControllerIndexList.decode([0x02, 0x00, 0x00, 0x00])
            }
        }

        @Test func readControllerInformationReply() throws {
            // 00:AA:01:00:00:00, Bluetooth 5.0 (9), manufacturer 0x05F1, supported 0x0001BEFF, current 0x00000A11,
            // class 0x000000, name "BlueZ 5.66" NUL-padded to 249 bytes, empty short name (11 bytes).
            var bytes = MgmtVectors.hex("00 00 00 01 AA 00 09 F1 05 FF BE 01 00 11 0A 00 00 00 00 00")
            bytes += Array("BlueZ 5.66".utf8) + [UInt8](repeating: 0, count: 249 - 10)
            bytes += [UInt8](repeating: 0, count: 11)
            #expect(bytes.count == 280)
            let info = try ControllerInfo(returnParameters: bytes)
            #expect(info.address.description == "00:AA:01:00:00:00")
            #expect(info.bluetoothVersion == 9)
            #expect(info.manufacturer == 0x05F1)
            #expect(
                info.supportedSettings.contains([.powered, .bondable, .lowEnergy, .advertising, .secureConnections]))
            #expect(info.currentSettings == [.powered, .bondable, .lowEnergy, .secureConnections])
            #expect(info.currentSettings.description == "powered bondable le secure-conn")
            #expect(info.name == "BlueZ 5.66")
            #expect(info.shortName == "")
            #expect(info.encoded() == bytes)
            #expect(throws: CharacteristicDecodeError.self) {
                try ControllerInfo(returnParameters: Array(bytes.prefix(279)))
            }
        }

        @Test func statusNamesFollowTheSpecification() {
            #expect(ManagementStatus.success.name == "Success")
            #expect(ManagementStatus.busy.description == "Busy (0x0A)")
            #expect(ManagementStatus.rfKilled.description == "RFKilled (0x12)")
            #expect(ManagementStatus.permissionDenied.name == "Permission Denied")
            #expect(ManagementStatus(rawValue: 0x15).name == "unknown status")
            #expect(ManagementOpcode.pairDevice.description == "Pair Device (0x0019)")
        }
    }
}

extension ManagementTests {
    @Suite struct Events {
        func decode(_ hex: String) -> ManagementEventPacket { ManagementEventPacket(decoding: MgmtVectors.hex(hex)) }

        @Test func commandCompleteAndStatus() {
            #expect(
                decode("01 00 FF FF 06 00 01 00 00 01 16 00")
                    == ManagementEventPacket(
                        index: 0xFFFF,
                        event: .commandComplete(
                            opcode: .readVersion, status: .success, returnParameters: [0x01, 0x16, 0x00])))
            #expect(
                decode("02 00 00 00 03 00 05 00 12")
                    == ManagementEventPacket(index: 0, event: .commandStatus(opcode: .setPowered, status: .rfKilled)))
        }

        @Test(
            arguments: [
                ("03 00 00 00 01 00 2A", ManagementEvent.controllerError(code: 0x2A)),
                ("04 00 01 00 00 00", .indexAdded),
                ("05 00 01 00 00 00", .indexRemoved),
                // powered | bondable | le = 0x211
                ("06 00 00 00 04 00 11 02 00 00", .newSettings([.powered, .bondable, .lowEnergy])),
                // Flags 0x08 (initiated connection), EIR: Flags AD structure
                (
                    "0B 00 00 00 10 00 13 71 DA 7D 1A 00 01 08 00 00 00 03 00 02 01 06",
                    .deviceConnected(MgmtVectors.cuff, flags: 0x08, eir: [0x02, 0x01, 0x06])
                ),
                (
                    "0C 00 00 00 08 00 13 71 DA 7D 1A 00 01 03",
                    .deviceDisconnected(MgmtVectors.cuff, reason: .remoteHost)
                ),
                ("0D 00 00 00 08 00 13 71 DA 7D 1A 00 01 04", .connectFailed(MgmtVectors.cuff, status: .connectFailed)),
                // Confirm_Hint 1 (Just Works), Value 0
                (
                    "0F 00 00 00 0C 00 55 44 33 22 11 C0 02 01 00 00 00 00",
                    .userConfirmationRequest(MgmtVectors.meter, confirmHint: true, value: 0)
                ),
                // Numeric comparison of 123456
                (
                    "0F 00 00 00 0C 00 55 44 33 22 11 C0 02 00 40 E2 01 00",
                    .userConfirmationRequest(MgmtVectors.meter, confirmHint: false, value: 123_456)
                ),
                ("10 00 00 00 07 00 13 71 DA 7D 1A 00 01", .userPasskeyRequest(MgmtVectors.cuff)),
                (
                    "11 00 00 00 08 00 13 71 DA 7D 1A 00 01 05",
                    .authenticationFailed(MgmtVectors.cuff, status: .authenticationFailed)
                ),
                ("13 00 00 00 02 00 06 01", .discovering(.le, active: true)),
                ("16 00 00 00 07 00 13 71 DA 7D 1A 00 01", .deviceUnpaired(MgmtVectors.cuff)),
                (
                    "17 00 00 00 0C 00 13 71 DA 7D 1A 00 01 40 E2 01 00 02",
                    .passkeyNotify(MgmtVectors.cuff, passkey: 123_456, entered: 2)
                ),
                // an event this code does not know is kept raw
                ("25 00 00 00 02 00 00 00", .unknown(ManagementEventCode(rawValue: 0x25), parameters: [0x00, 0x00])),
            ] as [(String, ManagementEvent)])
        func eventDecodings(_ hex: String, _ expected: ManagementEvent) {
            let packet = decode(hex)
            #expect(packet.event == expected)
            #expect(packet.encoded() == MgmtVectors.hex(hex))
        }

        @Test func newLongTermKey() {
            // Store_Hint 1; meter, LE random; Key_Type 3 (authenticated P-256); Central 0; size 16; EDIV 0; Rand 0; value.
            let hex =
                "0A 00 00 00 25 00 01 55 44 33 22 11 C0 02 03 00 10 00 00 00 00 00 00 00 00 00 00"
                + " 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F"
            let packet = decode(hex)
            #expect(packet.event == .newLongTermKey(storeHint: true, key: MgmtVectors.meterKey))
            #expect(packet.encoded() == MgmtVectors.hex(hex))
        }

        @Test func newIdentityResolvingKey() {
            // Store_Hint 1, Random_Address 4A:BB:CC:DD:EE:FF (resolvable), identity meter, value A0…AF.
            let hex =
                "18 00 00 00 1E 00 01 FF EE DD CC BB 4A 55 44 33 22 11 C0 02 A0 A1 A2 A3 A4 A5 A6 A7 A8 A9 AA AB AC AD AE AF"
            let expected = ManagementEvent.newIdentityResolvingKey(
                storeHint: true, randomAddress: MgmtVectors.address("4A:BB:CC:DD:EE:FF"),
                key: IdentityResolvingKey(device: MgmtVectors.meter, value: MgmtVectors.irkValue))
            #expect(decode(hex).event == expected)
        }

        @Test func deviceFound() throws {
            // RSSI -60 (0xC4), Flags 0, EIR: Flags 0x06 + complete 16-bit UUIDs [0x1810].
            let packet = decode("12 00 00 00 15 00 13 71 DA 7D 1A 00 01 C4 00 00 00 00 07 00 02 01 06 03 03 10 18")
            guard case .deviceFound(let found) = packet.event else {
                Issue.record("not a Device Found event: \(packet.event)")
                return
            }
            #expect(found.device == MgmtVectors.cuff)
            #expect(found.rssi == -60)
            #expect(found.flags == [])
            #expect(try found.advertisingData.healthProfiles == [.bloodPressure])
            let unavailable = DeviceFound(device: MgmtVectors.cuff, rawRSSI: 127, flags: [.notConnectable], eir: [])
            #expect(unavailable.rssi == nil)
        }

        @Test func malformedEventsAreKeptWithTheReason() {
            // Device Disconnected without its Reason byte.
            let short = decode("0C 00 00 00 07 00 13 71 DA 7D 1A 00 01")
            guard case .malformed(let code, let parameters, let error) = short.event else {
                Issue.record("decoded a truncated event: \(short.event)")
                return
            }
            #expect(code == .deviceDisconnected)
            #expect(parameters.count == 7)
            #expect(error.field == "reason")
            #expect(error.offset == 7)
            // Device Found whose EIR length (9) runs past the end.
            let found = decode("12 00 00 00 11 00 13 71 DA 7D 1A 00 01 C4 00 00 00 00 09 00 02 01 06")
            guard case .malformed(_, _, let eirError) = found.event else {
                Issue.record("decoded an EIR running past the end")
                return
            }
            #expect(eirError.field == "eir_data")
            // An unknown address type.
            guard case .malformed(_, _, let typeError) = decode("10 00 00 00 07 00 13 71 DA 7D 1A 00 07").event else {
                Issue.record("accepted address type 7")
                return
            }
            #expect(typeError.field == "address_type")
            #expect(typeError.problem == .reservedValue(7))
            // A broken header.
            if case .malformed = decode("0C 00").event {} else { Issue.record("a 2-byte packet decoded") }
        }

        @Test func longerFixedEventsStillDecode() {
            // A future kernel appending a byte to User Passkey Request must not stop us answering it.
            #expect(decode("10 00 00 00 08 00 13 71 DA 7D 1A 00 01 FF").event == .userPasskeyRequest(MgmtVectors.cuff))
        }
    }
}

extension ManagementTests {
    @Suite(.timeLimit(.minutes(1))) struct Actor {
        /// Timeouts of 0.3 s on a clock the test moves: a timeout is reached when the test says, not after waiting.
        static func manual(_ clock: ManualClock) -> ManagementOptions {
            ManagementOptions(
                commandTimeout: .milliseconds(300), pairingTimeout: .milliseconds(300), timeoutClock: clock)
        }

        /// Runs `command` and lets its timeout pass once it waits for an answer.
        static func timingOut<T: Sendable>(
            _ clock: ManualClock, _ command: @escaping @Sendable () async throws -> T
        ) async -> Result<T, any Error> {
            let running = Task { () async -> Result<T, any Error> in
                do { return .success(try await command()) } catch { return .failure(error) }
            }
            await clock.sleeping(atLeast: 1)
            clock.advance(by: .milliseconds(300))
            return await running.value
        }

        @Test func controllersAndVersion() async throws {
            let kernel = FakeKernel { packet in
                switch ManagementOpcode(rawValue: packet.code) {
                case .readControllerIndexList:
                    [FakeKernel.complete(packet, .success, [0x02, 0x00, 0x00, 0x00, 0x01, 0x00])]
                case .readVersion: [FakeKernel.complete(packet, .success, [0x01, 0x16, 0x00])]
                default: [FakeKernel.complete(packet, .unknownCommand)]
                }
            }
            let management = BluetoothManagement(transport: kernel)
            #expect(try await management.controllers() == [0, 1])
            #expect(try await management.version() == ManagementVersion(version: 1, revision: 22))
            #expect(kernel.sent.allSatisfy { $0.index == ManagementPacket.noController })
        }

        @Test func commandStatusFailureNamesTheStatus() async {
            let kernel = FakeKernel { packet in
                [
                    ManagementEventPacket(
                        index: packet.index, event: .commandStatus(opcode: .setPowered, status: .rfKilled))
                ]
            }
            let management = BluetoothManagement(transport: kernel)
            do {
                try await management.setPowered(true, index: 0)
                Issue.record("Set Powered succeeded against an rfkilled radio")
            } catch {
                #expect(error == .commandFailed(.setPowered, index: 0, status: .rfKilled))
                #expect(error.description.contains("Set Powered on hci0 failed with status RFKilled (0x12)"))
                #expect(error.description.contains("rfkill unblock bluetooth"))
            }
        }

        @Test func commandTimesOutAndTheLateReplyIsNotTakenForTheNextOne() async throws {
            let kernel = FakeKernel()  // answers nothing
            let clock = ManualClock()
            let management = BluetoothManagement(transport: kernel, options: Self.manual(clock))
            switch await Self.timingOut(clock, { try await management.setPowered(true, index: 0) }) {
            case .success: Issue.record("a command nobody answered succeeded")
            case .failure(let error):
                #expect(error as? ManagementError == .timeout(.setPowered, index: 0, seconds: 0.3))
                #expect("\(error)".contains("no answer within 0.3 s"))
            }
            // The kernel answers the first command late (settings 0), then answers the next one (powered).
            kernel.respond { packet in [FakeKernel.complete(packet, .success, [0x01, 0x00, 0x00, 0x00])] }
            kernel.deliver(
                ManagementEventPacket(
                    index: 0,
                    event: .commandComplete(opcode: .setPowered, status: .success, returnParameters: [0, 0, 0, 0])))
            #expect(try await management.setPowered(true, index: 0) == [.powered])
            #expect(await management.unmatchedReplies == 0)
        }

        @Test func powerOnForLEAsksForSecureConnectionsWhenSupported() async throws {
            let info = ControllerInfo(
                address: MgmtVectors.address("00:AA:01:00:00:00"), bluetoothVersion: 9, manufacturer: 0x05F1,
                supportedSettings: [.powered, .bondable, .lowEnergy, .secureConnections], currentSettings: [.lowEnergy],
                classOfDevice: 0, name: "hci0", shortName: "")
            let kernel = FakeKernel { packet in
                switch ManagementOpcode(rawValue: packet.code) {
                case .readControllerInfo: [FakeKernel.complete(packet, .success, info.encoded())]
                case .setIOCapability: [FakeKernel.complete(packet)]
                default: [FakeKernel.complete(packet, .success, [0x00, 0x0A, 0x00, 0x00])]
                }
            }
            let management = BluetoothManagement(transport: kernel)
            try await management.powerOnForLE(index: 0, ioCapability: .keyboardDisplay)
            #expect(kernel.sentOpcodes == [0x0004, 0x002D, 0x0009, 0x0018, 0x0005])
            #expect(kernel.sent.map(\.parameters) == [[], [1], [1], [4], [1]])
            #expect(throws: ManagementError.self) { try ManagementCommand.setSecureConnections(3).parameters() }
        }

        @Test func powerOnForLESendsTheSequence() async throws {
            let info = ControllerInfo(
                address: MgmtVectors.address("00:AA:01:00:00:00"), bluetoothVersion: 9, manufacturer: 0x05F1,
                supportedSettings: [.powered, .bondable, .brEdr, .lowEnergy, .advertising], currentSettings: [.brEdr],
                classOfDevice: 0, name: "hci0", shortName: "")
            let kernel = FakeKernel { packet in
                switch ManagementOpcode(rawValue: packet.code) {
                case .readControllerInfo: [FakeKernel.complete(packet, .success, info.encoded())]
                case .setLowEnergy: [FakeKernel.complete(packet, .success, [0x80, 0x02, 0x00, 0x00])]
                case .setBondable: [FakeKernel.complete(packet, .success, [0x90, 0x02, 0x00, 0x00])]
                case .setIOCapability: [FakeKernel.complete(packet)]
                case .setPowered: [FakeKernel.complete(packet, .success, [0x91, 0x02, 0x00, 0x00])]
                default: [FakeKernel.complete(packet, .unknownCommand)]
                }
            }
            let management = BluetoothManagement(transport: kernel)
            let settings = try await management.powerOnForLE(index: 0)
            #expect(settings == [.powered, .bondable, .brEdr, .lowEnergy])
            #expect(kernel.sentOpcodes == [0x0004, 0x000D, 0x0009, 0x0018, 0x0005])
            #expect(kernel.sent.map(\.parameters) == [[], [1], [1], [3], [1]])
        }

        @Test func powerOnForLERefusesAControllerWithoutLE() async {
            let info = ControllerInfo(
                address: MgmtVectors.address("00:AA:01:00:00:00"), bluetoothVersion: 4, manufacturer: 2,
                supportedSettings: [.powered, .brEdr], currentSettings: [], classOfDevice: 0, name: "", shortName: "")
            let kernel = FakeKernel { packet in [FakeKernel.complete(packet, .success, info.encoded())] }
            let management = BluetoothManagement(transport: kernel)
            await #expect(throws: ManagementError.self) { try await management.powerOnForLE(index: 0) }
            #expect(kernel.sentOpcodes == [0x0004])
        }

        /// The whole Just Works flow as the test bed's kernels run it (README pitfall 8): Pair Device → User
        /// Confirmation Request (hint 1) → the agent's User Confirmation Reply → New IRK, New LTK → Pair Device
        /// complete with the identity address; the bond store keeps the keys.
        @Test func pairingWithUserConfirmationAnsweredByTheAgent() async throws {
            let device = MgmtVectors.meter
            let irk = IdentityResolvingKey(device: device, value: MgmtVectors.irkValue)
            let kernel = FakeKernel { packet in
                let peer = FakeKernel.peer(packet)
                switch ManagementOpcode(rawValue: packet.code) {
                case .pairDevice:
                    return [
                        ManagementEventPacket(
                            index: 0, event: .userConfirmationRequest(device, confirmHint: true, value: 0))
                    ]
                case .userConfirmationReply:
                    return [
                        FakeKernel.complete(packet, .success, peer),
                        ManagementEventPacket(
                            index: 0, event: .newIdentityResolvingKey(storeHint: true, randomAddress: .any, key: irk)),
                        ManagementEventPacket(
                            index: 0, event: .newLongTermKey(storeHint: true, key: MgmtVectors.meterKey)),
                        ManagementEventPacket(
                            index: 0,
                            event: .commandComplete(
                                opcode: .pairDevice, status: .success, returnParameters: MgmtVectors.meterWire)),
                    ]
                default:
                    return [FakeKernel.complete(packet, .unknownCommand)]
                }
            }
            let management = BluetoothManagement(transport: kernel)
            let directory = try BondStoreTestKit.directory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try BondStore(path: directory + "/bonds.json")
            let prompts = Collected<PairingPrompt>()
            let agent = PairingAgent(management: management) { prompt in
                await prompts.append(prompt)
                return .accept
            }
            try await whileAnswering(agent, keeping: store) {

                let outcome = try await management.pair(address: device.address, type: device.type, index: 0)

                #expect(outcome == .paired(identity: device))
                #expect(
                    await prompts.values == [
                        PairingPrompt(index: 0, device: device, request: .confirmation(value: 0, justWorks: true))
                    ])
                #expect(kernel.sentOpcodes == [0x0019, 0x001C])
                #expect(kernel.sent.last?.parameters == MgmtVectors.meterWire)
                #expect(
                    await eventually {
                        let bond = await store.bond(for: device.address)
                        return bond?.identityResolvingKey == irk && bond?.longTermKeys == [MgmtVectors.meterKey]
                    })
            }
        }

        /// One kernel reports every controller's prompts and keys on every management socket: an agent and a bond
        /// store given a controller ignore the others' (in the test bed the peers' controllers share the kernel).
        @Test func agentAndBondStoreKeepToTheirController() async throws {
            let kernel = FakeKernel { packet in [FakeKernel.complete(packet, .success, FakeKernel.peer(packet))] }
            let management = BluetoothManagement(transport: kernel)
            let directory = try BondStoreTestKit.directory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try BondStore(path: directory + "/bonds.json")
            let prompts = Collected<PairingPrompt>()
            let agent = PairingAgent(management: management, index: 1) { prompt in
                await prompts.append(prompt)
                return .accept
            }
            try await whileAnswering(agent, keeping: store, index: 1) {
                let otherKey = LongTermKey(
                    device: MgmtVectors.cuff, keyType: .unauthenticatedLegacy, central: true, encryptionSize: 16,
                    encryptedDiversifier: 1,
                    randomNumber: 2, value: MgmtVectors.keyValue)
                kernel.deliver(
                    ManagementEventPacket(
                        index: 0, event: .userConfirmationRequest(MgmtVectors.cuff, confirmHint: true, value: 0)))
                kernel.deliver(ManagementEventPacket(index: 0, event: .newLongTermKey(storeHint: true, key: otherKey)))
                kernel.deliver(
                    ManagementEventPacket(
                        index: 1, event: .userConfirmationRequest(MgmtVectors.meter, confirmHint: true, value: 0)))
                kernel.deliver(
                    ManagementEventPacket(index: 1, event: .newLongTermKey(storeHint: true, key: MgmtVectors.meterKey)))
                #expect(await eventually { await store.bond(for: MgmtVectors.meter.address) != nil })
                #expect(await eventually { kernel.sent.count == 1 })
                #expect(await prompts.values.map(\.index) == [1])
                #expect(kernel.sent.map(\.index) == [1] && kernel.sentOpcodes == [0x001C])
                #expect(
                    await store.bond(for: MgmtVectors.cuff.address) == nil, "controller 0's key is not this gateway's")
            }
        }

        @Test func pairingRejectedByTheAgentFailsWithTheKernelStatus() async throws {
            let device = MgmtVectors.cuff
            let kernel = FakeKernel { packet in
                switch ManagementOpcode(rawValue: packet.code) {
                case .pairDevice:
                    return [
                        ManagementEventPacket(
                            index: 0, event: .userConfirmationRequest(device, confirmHint: false, value: 42))
                    ]
                case .userConfirmationNegativeReply:
                    return [
                        FakeKernel.complete(packet, .success, FakeKernel.peer(packet)),
                        ManagementEventPacket(
                            index: 0, event: .authenticationFailed(device, status: .authenticationFailed)),
                        ManagementEventPacket(
                            index: 0,
                            event: .commandComplete(
                                opcode: .pairDevice, status: .authenticationFailed,
                                returnParameters: MgmtVectors.cuffWire)),
                    ]
                default:
                    return [FakeKernel.complete(packet, .unknownCommand)]
                }
            }
            let management = BluetoothManagement(transport: kernel)
            let agent = PairingAgent(management: management) { _ in .reject }
            try await whileAnswering(agent) {
                do {
                    _ = try await management.pair(address: device.address, type: device.type, index: 0)
                    Issue.record("pairing succeeded although the agent rejected it")
                } catch let error as ManagementError {
                    #expect(error == .commandFailed(.pairDevice, index: 0, status: .authenticationFailed))
                }
            }
            #expect(kernel.sentOpcodes == [0x0019, 0x001D])
        }

        @Test func pairingTimeoutCancelsThePairing() async {
            let kernel = FakeKernel { packet in
                switch ManagementOpcode(rawValue: packet.code) {
                case .cancelPairDevice:
                    // The kernel ends the pending Pair Device with Cancelled, then completes the cancel.
                    [
                        ManagementEventPacket(
                            index: 0,
                            event: .commandComplete(
                                opcode: .pairDevice, status: .cancelled, returnParameters: FakeKernel.peer(packet))),
                        FakeKernel.complete(packet, .success, FakeKernel.peer(packet)),
                    ]
                default: []
                }
            }
            let clock = ManualClock()
            let management = BluetoothManagement(transport: kernel, options: Self.manual(clock))
            let outcome = await Self.timingOut(clock) {
                try await management.pair(address: MgmtVectors.cuff.address, type: .lePublic, index: 0)
            }
            guard case .failure(let error) = outcome else {
                Issue.record("a pairing nobody answered succeeded")
                return
            }
            #expect(error as? ManagementError == .timeout(.pairDevice, index: 0, seconds: 0.3))
            #expect(kernel.sentOpcodes == [0x0019, 0x001A])
            #expect(await management.unmatchedReplies == 0)
        }

        @Test func alreadyPairedIsAnOutcomeNotAnError() async throws {
            let kernel = FakeKernel { packet in [FakeKernel.complete(packet, .alreadyPaired, FakeKernel.peer(packet))] }
            let management = BluetoothManagement(transport: kernel)
            #expect(
                try await management.pair(address: MgmtVectors.cuff.address, type: .lePublic, index: 0)
                    == .alreadyPaired)
        }

        @Test func concurrentPairingsGetTheirOwnReplies() async throws {
            // The kernel finishes the second pairing first; replies carry the peer, so each caller gets its own.
            let kernel = FakeKernel { packet in
                guard packet.code == ManagementOpcode.pairDevice.rawValue else { return [] }
                return FakeKernel.peer(packet) == MgmtVectors.meterWire
                    ? [
                        FakeKernel.complete(packet, .success, MgmtVectors.meterWire),
                        ManagementEventPacket(
                            index: 0,
                            event: .commandComplete(
                                opcode: .pairDevice, status: .connectFailed, returnParameters: MgmtVectors.cuffWire)),
                    ]
                    : []
            }
            let management = BluetoothManagement(transport: kernel)
            let cuff = Task { try await management.pair(address: MgmtVectors.cuff.address, type: .lePublic, index: 0) }
            #expect(await eventually { kernel.sent.count == 1 })
            let meter = try await management.pair(address: MgmtVectors.meter.address, type: .leRandom, index: 0)
            #expect(meter == .paired(identity: MgmtVectors.meter))
            await #expect(throws: ManagementError.commandFailed(.pairDevice, index: 0, status: .connectFailed)) {
                try await cuff.value
            }
        }

        @Test func everySubscriberGetsEveryEvent() async {
            let kernel = FakeKernel()
            let management = BluetoothManagement(transport: kernel)
            let first = await management.events()
            let second = await management.events()
            let found = ManagementEventPacket(
                index: 0,
                event: .deviceFound(DeviceFound(device: MgmtVectors.cuff, rawRSSI: -50, eir: [0x02, 0x01, 0x06])))
            kernel.deliver(found)
            kernel.deliverRaw([0x0C, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])  // malformed, still delivered
            kernel.close()
            var firstEvents: [ManagementEventPacket] = []
            for await event in first { firstEvents.append(event) }
            var secondEvents: [ManagementEventPacket] = []
            for await event in second { secondEvents.append(event) }
            #expect(firstEvents.count == 2)
            #expect(firstEvents.first == found)
            #expect(secondEvents == firstEvents)
            if case .malformed(let code, _, _) = firstEvents.last?.event {
                #expect(code == .deviceDisconnected)
            } else {
                Issue.record("the malformed event was not delivered")
            }
        }

        @Test func closingTheSocketFailsThePendingCommand() async {
            let kernel = FakeKernel()
            let management = BluetoothManagement(transport: kernel)
            let pending = Task { try await management.stopDiscovery(index: 0) }
            #expect(await eventually { kernel.sent.count == 1 })
            kernel.close()
            await #expect(throws: ManagementError.closed(nil)) { try await pending.value }
            await #expect(throws: ManagementError.closed(nil)) { try await management.startDiscovery(index: 0) }
        }

        @Test func discoveryAndAdvertising() async throws {
            let kernel = FakeKernel { packet in
                switch ManagementOpcode(rawValue: packet.code) {
                case .startDiscovery, .stopDiscovery, .addAdvertising:
                    [FakeKernel.complete(packet, .success, Array(packet.parameters.prefix(1)))]
                default: [FakeKernel.complete(packet, .unknownCommand)]
                }
            }
            let management = BluetoothManagement(transport: kernel)
            #expect(try await management.startDiscovery(index: 0) == .le)
            try await management.stopDiscovery(index: 0)
            let data = try AdvertisingData.encode(
                flags: nil, services: [HealthProfile.bloodPressure.service.shortValue ?? 0], name: "BP-Sim")
            #expect(
                try await management.addAdvertising(AdvertisingInstance(instance: 2, advertisingData: data), index: 1)
                    == 2)
            #expect(kernel.sentOpcodes == [0x0023, 0x0024, 0x003E])
            #expect(kernel.sent.last?.index == 1)
        }

        @Test func unpairTreatsNotPairedAsDone() async throws {
            let kernel = FakeKernel { packet in [FakeKernel.complete(packet, .notPaired, FakeKernel.peer(packet))] }
            let management = BluetoothManagement(transport: kernel)
            try await management.unpair(address: MgmtVectors.cuff.address, type: .lePublic, index: 0)
            #expect(kernel.sent.first?.parameters == MgmtVectors.cuffWire + [0x01])
        }

        @Test func restoreBondsReplaysBothLoads() async throws {
            let directory = try BondStoreTestKit.directory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try BondStore(path: directory + "/bonds.json")
            try await store.record(.newLongTermKey(storeHint: true, key: MgmtVectors.meterKey))
            let kernel = FakeKernel { packet in [FakeKernel.complete(packet)] }
            let management = BluetoothManagement(transport: kernel)
            try await management.restoreBonds(from: store, index: 0)
            #expect(kernel.sentOpcodes == [0x0013, 0x0030])
            #expect(kernel.sent.first?.parameters.count == 2 + 36)
            #expect(kernel.sent.last?.parameters == [0x00, 0x00])
        }
    }
}

extension ManagementTests {
    @Suite struct Agent {
        let device = MgmtVectors.cuff

        func prompt(_ request: PairingPrompt.Request) -> PairingPrompt {
            PairingPrompt(index: 0, device: device, request: request)
        }

        @Test func answersBecomeTheRightCommands() {
            let confirm = prompt(.confirmation(value: 0, justWorks: true))
            #expect(PairingAgent.command(for: confirm, answer: .accept) == .userConfirmationReply(device))
            #expect(PairingAgent.command(for: confirm, answer: .reject) == .userConfirmationNegativeReply(device))
            #expect(PairingAgent.command(for: confirm, answer: .passkey(1)) == .userConfirmationNegativeReply(device))
            let entry = prompt(.passkeyEntry)
            #expect(
                PairingAgent.command(for: entry, answer: .passkey(123_456))
                    == .userPasskeyReply(device, passkey: 123_456))
            #expect(PairingAgent.command(for: entry, answer: .passkey(1_000_000)) == .userPasskeyNegativeReply(device))
            #expect(PairingAgent.command(for: entry, answer: .accept) == .userPasskeyNegativeReply(device))
            #expect(PairingAgent.command(for: prompt(.passkeyDisplay(passkey: 1, entered: 0)), answer: .accept) == nil)
        }

        @Test func defaultPolicyAcceptsJustWorksAndRefusesPasskeyEntry() async {
            #expect(await PairingAgent.justWorks(prompt(.confirmation(value: 0, justWorks: true))) == .accept)
            #expect(await PairingAgent.justWorks(prompt(.passkeyEntry)) == .reject)
        }

        @Test func promptsComeFromTheThreeEvents() {
            #expect(
                PairingPrompt(ManagementEventPacket(index: 1, event: .userPasskeyRequest(device)))?.request
                    == .passkeyEntry)
            #expect(
                PairingPrompt(ManagementEventPacket(index: 0, event: .passkeyNotify(device, passkey: 42, entered: 0)))?
                    .description
                    == "type 000042 on \(device) on hci0")
            #expect(PairingPrompt(ManagementEventPacket(index: 0, event: .indexAdded)) == nil)
        }

        @Test func passkeyEntryIsAnsweredOnTheSocket() async throws {
            let kernel = FakeKernel { packet in [FakeKernel.complete(packet, .success, FakeKernel.peer(packet))] }
            let management = BluetoothManagement(transport: kernel)
            let agent = PairingAgent(management: management) { _ in .passkey(654_321) }
            try await whileAnswering(agent) {
                kernel.deliver(ManagementEventPacket(index: 0, event: .userPasskeyRequest(device)))
                #expect(await eventually { kernel.sentOpcodes == [0x001E] })
                // 654321 = 0x0009FBF1
                #expect(kernel.sent.first?.parameters == MgmtVectors.cuffWire + [0xF1, 0xFB, 0x09, 0x00])
            }
        }
    }
}

extension ManagementTests {
    @Suite struct Host {
        @Test func daemonDetectorReadsProcComm() throws {
            let root = try BondStoreTestKit.directory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            for (pid, name) in [("123", "bluetoothd\n"), ("456", "gatewayd\n"), ("self", "bluetoothd\n")] {
                try FileManager.default.createDirectory(atPath: "\(root)/\(pid)", withIntermediateDirectories: true)
                try Data(name.utf8).write(to: URL(fileURLWithPath: "\(root)/\(pid)/comm"))
            }
            try FileManager.default.createDirectory(atPath: "\(root)/789", withIntermediateDirectories: true)  // exited
            let status = BluetoothDaemonDetector(procRoot: root).detect()
            #expect(status.processIDs == [123])
            #expect(status.isRunning)
            #expect(status.advice.contains("pid 123"))
            #expect(status.advice.contains("systemctl disable --now bluetooth"))
            let quiet = BluetoothDaemonDetector(procRoot: root, processName: "nothing-like-this").detect()
            #expect(!quiet.isRunning)
            #expect(quiet.advice.contains("gatewayd answers pairing requests itself"))
        }

        /// On build machines without AF_BLUETOOTH this checks the operator-facing error; in the qemu guest it opens
        /// the real socket.
        @Test func managementSocketOpensOrExplainsWhyNot() {
            do {
                let socket = try ManagementSocket()
                socket.close()
            } catch {
                switch error {
                case .bluetoothUnsupported: #expect(error.description.contains("no Bluetooth support (AF_BLUETOOTH)"))
                case .permissionDenied: #expect(error.description.contains("CAP_NET_ADMIN"))
                default: Issue.record("unexpected error opening the management socket: \(error)")
                }
            }
        }

        @Test func socketErrnoMapping() {
            #expect(ManagementSocketError.fromErrno(EAFNOSUPPORT, call: "socket") == .bluetoothUnsupported)
            #expect(ManagementSocketError.fromErrno(EPERM, call: "bind") == .permissionDenied(call: "bind"))
            #expect(
                ManagementSocketError.permissionDenied(call: "bind(HCI_CHANNEL_CONTROL)").description.contains(
                    "needs CAP_NET_ADMIN"))
        }
    }
}

/// Runs `body` while `agent` answers prompts and `store` (when given) records keys, as child tasks — the way the
/// gateway runs them beside its radio's work — subscribed before `body` starts, so nothing it causes is missed.
func whileAnswering(
    _ agent: PairingAgent, keeping store: BondStore? = nil, index: UInt16? = nil, _ body: () async throws -> Void
) async throws {
    let prompts = await agent.management.events()
    let keys = await agent.management.events()
    try await withThrowingDiscardingTaskGroup { group in
        group.addTask { await agent.run(prompts) }
        if let store { group.addTask { await store.follow(keys, index: index) } }
        defer { group.cancelAll() }
        try await body()
    }
}
