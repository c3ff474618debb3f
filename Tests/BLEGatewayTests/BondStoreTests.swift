import Foundation
import TestSupport
import Testing

@testable import BLEGateway

#if canImport(Glibc)
    import Glibc
#endif

enum BondStoreTestKit {
    /// A fresh private directory under the system temporary directory.
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "gatewayd-bonds-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func mode(_ path: String) -> UInt32 {
        var status = stat()
        guard stat(path, &status) == 0 else { return 0 }
        return UInt32(status.st_mode & 0o7777)
    }

    static let cuffCentralKey = LongTermKey(
        device: MgmtVectors.cuff, keyType: .unauthenticatedLegacy, central: true, encryptionSize: 16,
        encryptedDiversifier: 0x1234, randomNumber: 0x0102_0304_0506_0708, value: MgmtVectors.keyValue)
    static let cuffPeripheralKey = LongTermKey(
        device: MgmtVectors.cuff, keyType: .unauthenticatedLegacy, central: false, encryptionSize: 16,
        encryptedDiversifier: 0xBEEF, randomNumber: 0xFFEE_DDCC_BBAA_9988, value: Array(MgmtVectors.keyValue.reversed())
    )
    static let meterIRK = IdentityResolvingKey(device: MgmtVectors.meter, value: MgmtVectors.irkValue)
}

@Suite struct BondStoreTests {
    @Test func createsTheFileOwnerOnly() async throws {
        let directory = try BondStoreTestKit.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bonds.json"
        let store = try BondStore(path: path)
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(BondStoreTestKit.mode(path) == 0o600)
        try await store.record(.newLongTermKey(storeHint: true, key: MgmtVectors.meterKey))
        #expect(BondStoreTestKit.mode(path) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test func roundTripsThroughTheFile() async throws {
        let directory = try BondStoreTestKit.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bonds.json"
        let store = try BondStore(path: path)
        #expect(try await store.record(.newLongTermKey(storeHint: true, key: BondStoreTestKit.cuffCentralKey)))
        #expect(try await store.record(.newLongTermKey(storeHint: true, key: BondStoreTestKit.cuffPeripheralKey)))
        #expect(try await store.record(.newLongTermKey(storeHint: true, key: MgmtVectors.meterKey)))
        #expect(
            try await store.record(
                .newIdentityResolvingKey(
                    storeHint: true, randomAddress: MgmtVectors.address("4A:BB:CC:DD:EE:FF"),
                    key: BondStoreTestKit.meterIRK)))
        // The same key again changes nothing.
        #expect(try await !store.record(.newLongTermKey(storeHint: true, key: MgmtVectors.meterKey)))

        let reopened = try BondStore(path: path)
        let bonds = await reopened.bonds
        #expect(bonds == (await store.bonds))
        #expect(bonds.count == 2)
        let cuff = await reopened.bond(for: MgmtVectors.cuff.address)
        #expect(Set(cuff?.longTermKeys ?? []) == [BondStoreTestKit.cuffCentralKey, BondStoreTestKit.cuffPeripheralKey])
        let meter = await reopened.bond(for: MgmtVectors.meter.address)
        #expect(
            meter
                == Bond(
                    identity: MgmtVectors.meter, longTermKeys: [MgmtVectors.meterKey],
                    identityResolvingKey: BondStoreTestKit.meterIRK))

        let commands = await reopened.loadCommands(index: 0)
        #expect(commands.map(\.index) == [0, 0])
        guard case .loadLongTermKeys(let keys) = commands.first?.command,
            case .loadIdentityResolvingKeys(let irks) = commands.last?.command
        else {
            Issue.record("expected Load Long Term Keys then Load Identity Resolving Keys, got \(commands)")
            return
        }
        #expect(
            Set(keys) == [BondStoreTestKit.cuffCentralKey, BondStoreTestKit.cuffPeripheralKey, MgmtVectors.meterKey])
        #expect(irks == [BondStoreTestKit.meterIRK])
    }

    @Test func refusesAFileOthersCanRead() throws {
        let directory = try BondStoreTestKit.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bonds.json"
        _ = try BondStore(path: path)
        #expect(chmod(path, 0o644) == 0)
        do {
            _ = try BondStore(path: path)
            Issue.record("a world-readable bond file was accepted")
        } catch {
            #expect(error == .insecurePermissions(path: path, mode: 0o644))
            #expect(error.description.contains("permissions 644"))
            #expect(error.description.contains("chmod 600 \(path)"))
        }
        #expect(chmod(path, 0o660) == 0)
        #expect(throws: BondStoreError.insecurePermissions(path: path, mode: 0o660)) { try BondStore(path: path) }
        #expect(chmod(path, 0o400) == 0)
        #expect(throws: Never.self) { try BondStore(path: path) }
    }

    @Test func refusesSymlinksAndCorruptFiles() throws {
        let directory = try BondStoreTestKit.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/real.json"
        _ = try BondStore(path: target)
        let link = directory + "/link.json"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(throws: BondStoreError.notARegularFile(path: link)) { try BondStore(path: link) }

        let corrupt = directory + "/corrupt.json"
        #expect(
            FileManager.default.createFile(
                atPath: corrupt, contents: Data("{\"version\": 1".utf8), attributes: [.posixPermissions: 0o600]))
        let corruptError = #expect(throws: BondStoreError.self) { try BondStore(path: corrupt) }
        if case .corrupt = corruptError {
        } else {
            Issue.record("not reported as corrupt: \(String(describing: corruptError))")
        }
        #expect(corruptError?.description.contains("pair the devices again") == true)
        let badKey = directory + "/bad-key.json"
        let json = """
            {"version": 1, "bonds": [{"address": "00:1A:7D:DA:71:13", "addressType": "le-public",
              "longTermKeys": [{"type": 0, "central": true, "encryptionSize": 16, "encryptedDiversifier": 0,
                                "randomNumber": "0000000000000000", "value": "0011"}]}]}
            """
        #expect(
            FileManager.default.createFile(
                atPath: badKey, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600]))
        let keyError = #expect(throws: BondStoreError.self) { try BondStore(path: badKey) }
        #expect(keyError?.description.contains("long term key value has 2 bytes, not 16") == true)
    }

    @Test func keysNotMeantToBeStoredAreNot() async throws {
        let directory = try BondStoreTestKit.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try BondStore(path: directory + "/bonds.json")
        #expect(try await !store.record(.newLongTermKey(storeHint: false, key: MgmtVectors.meterKey)))
        var debug = MgmtVectors.meterKey
        debug.keyType = .debugP256
        #expect(try await !store.record(.newLongTermKey(storeHint: true, key: debug)))
        #expect(
            try await !store.record(
                .newIdentityResolvingKey(storeHint: false, randomAddress: .any, key: BondStoreTestKit.meterIRK)))
        #expect(try await !store.record(.indexAdded))
        #expect(await store.bonds.isEmpty)
    }

    @Test func loadCommandsLeaveOutKeysTheKernelWouldRefuse() async throws {
        let directory = try BondStoreTestKit.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try BondStore(path: directory + "/bonds.json")
        // A resolvable private address (top bits 01) is no identity: the kernel rejects keys for it.
        var privateKey = MgmtVectors.meterKey
        privateKey.device = DeviceAddress(MgmtVectors.address("4A:BB:CC:DD:EE:FF"), type: .leRandom)
        try await store.record(.newLongTermKey(storeHint: true, key: privateKey))
        try await store.record(.newLongTermKey(storeHint: true, key: MgmtVectors.meterKey))
        let commands = await store.loadCommands(index: 3)
        #expect(
            commands == [
                ManagementRequest(index: 3, command: .loadLongTermKeys([MgmtVectors.meterKey])),
                ManagementRequest(index: 3, command: .loadIdentityResolvingKeys([])),
            ])
    }

    @Test func rePairingReplacesTheKeyForThatRole() async throws {
        let directory = try BondStoreTestKit.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try BondStore(path: directory + "/bonds.json")
        try await store.record(.newLongTermKey(storeHint: true, key: MgmtVectors.meterKey))
        var renewed = MgmtVectors.meterKey
        renewed.value = MgmtVectors.irkValue
        #expect(try await store.record(.newLongTermKey(storeHint: true, key: renewed)))
        #expect(await store.bond(for: MgmtVectors.meter.address)?.longTermKeys == [renewed])
    }

    @Test func forgetRemovesTheBondFromTheFile() async throws {
        let directory = try BondStoreTestKit.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bonds.json"
        let store = try BondStore(path: path)
        try await store.record(.newLongTermKey(storeHint: true, key: BondStoreTestKit.cuffCentralKey))
        try await store.record(.newLongTermKey(storeHint: true, key: MgmtVectors.meterKey))
        #expect(try await store.forget(address: MgmtVectors.cuff.address))
        #expect(try await !store.forget(address: MgmtVectors.cuff.address))
        let reopened = try BondStore(path: path)
        #expect(await reopened.bonds.map(\.identity) == [MgmtVectors.meter])
        #expect(BondStoreTestKit.mode(path) == 0o600)
    }

    @Test func fileIsReadableJSON() async throws {
        let directory = try BondStoreTestKit.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bonds.json"
        let store = try BondStore(path: path)
        try await store.record(.newLongTermKey(storeHint: true, key: BondStoreTestKit.cuffCentralKey))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"address\" : \"00:1A:7D:DA:71:13\""))
        #expect(text.contains("\"addressType\" : \"le-public\""))
        #expect(text.contains("\"randomNumber\" : \"0807060504030201\""))
        #expect(text.contains("\"value\" : \"000102030405060708090A0B0C0D0E0F\""))
    }
}
