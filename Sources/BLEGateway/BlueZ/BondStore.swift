import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The keys of one bonded device: what lets the kernel re-encrypt a link to it after a restart without pairing
/// again (which many health devices only allow after a button press).
public struct Bond: Equatable, Sendable {
    /// The identity address (public or static random) the keys belong to.
    public var identity: DeviceAddress
    /// Legacy pairing gives one key per role; LE Secure Connections one.
    public var longTermKeys: [LongTermKey]
    public var identityResolvingKey: IdentityResolvingKey?

    public init(
        identity: DeviceAddress, longTermKeys: [LongTermKey] = [], identityResolvingKey: IdentityResolvingKey? = nil
    ) {
        self.identity = identity
        self.longTermKeys = longTermKeys
        self.identityResolvingKey = identityResolvingKey
    }
}

/// Why the bond file could not be used.
public enum BondStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is readable or writable by others: pairing keys would let anyone impersonate the devices.
    case insecurePermissions(path: String, mode: UInt32)
    case notARegularFile(path: String)
    case io(path: String, call: String, message: String)
    case corrupt(path: String, reason: String)

    public var description: String {
        switch self {
        case .insecurePermissions(let path, let mode):
            "the bond file \(path) has permissions \(String(mode, radix: 8)); it holds pairing keys, so only its owner may read or write it. Fix it with: chmod 600 \(path)"
        case .notARegularFile(let path): "the bond file \(path) is not a regular file"
        case .io(let path, let call, let message): "bond file \(path): \(call) failed: \(message)"
        case .corrupt(let path, let reason):
            "the bond file \(path) is unreadable (\(reason)); restore it from a backup, or move it away and pair the devices again"
        }
    }
}

/// Bonds persisted in a JSON file with mode 0600, fed by New Long Term Key / New Identity Resolving Key events and
/// replayed into the kernel at start when gatewayd (not bluetoothd) owns the controller.
///
/// Keys the kernel marks "do not store" (Store_Hint 0) and debug keys are not kept, as bluetoothd does. Every
/// change is written atomically (temporary file, fsync, rename) so a crash leaves the old or the new file.
public actor BondStore {
    public nonisolated let path: String
    private var bondsByIdentity: [DeviceAddress: Bond] = [:]
    private let logger: Logger

    /// Opens the store at `path`, creating an empty one (mode 0600) if there is none; refuses a file others can
    /// read or write.
    public init(path: String, logger: Logger? = nil) throws(BondStoreError) {
        self.path = path
        self.logger = logger ?? Logger(label: "gatewayd.bond-store")
        if let contents = try Self.readSecurely(path) {
            bondsByIdentity = try Self.decode(contents, path: path)
        } else {
            try Self.write(BondFile(bonds: []), to: path)
        }
    }

    /// All bonds, ordered by address.
    public var bonds: [Bond] {
        bondsByIdentity.values.sorted {
            ($0.identity.address.description, $0.identity.type.rawValue) < (
                $1.identity.address.description, $1.identity.type.rawValue
            )
        }
    }

    public func bond(for address: BluetoothAddress) -> Bond? {
        bondsByIdentity.values.first { $0.identity.address == address }
    }

    /// Keeps the key an event carries; returns whether the store changed. Other events are ignored.
    @discardableResult
    public func record(_ event: ManagementEvent) throws(BondStoreError) -> Bool {
        switch event {
        case .newLongTermKey(let storeHint, let key):
            guard storeHint, key.keyType != .debugP256 else { return false }
            var bond = bondsByIdentity[key.device] ?? Bond(identity: key.device)
            // One key per role: a new key for a role replaces the old one (re-pairing).
            bond.longTermKeys.removeAll { $0.central == key.central }
            bond.longTermKeys.append(key)
            bond.longTermKeys.sort { !$0.central && $1.central }
            return try update(bond)
        case .newIdentityResolvingKey(let storeHint, _, let key):
            guard storeHint else { return false }
            var bond = bondsByIdentity[key.device] ?? Bond(identity: key.device)
            bond.identityResolvingKey = key
            return try update(bond)
        default:
            return false
        }
    }

    private func update(_ bond: Bond) throws(BondStoreError) -> Bool {
        guard bondsByIdentity[bond.identity] != bond else { return false }
        var next = bondsByIdentity
        next[bond.identity] = bond
        try persist(next)
        bondsByIdentity = next
        logger.info("bond stored", metadata: ["device": "\(bond.identity)", "keys": "\(bond.longTermKeys.count)"])
        return true
    }

    /// Removes every bond of `address` (whatever its address type); returns whether there was one. The kernel's
    /// copy is removed separately with Unpair Device.
    @discardableResult
    public func forget(address: BluetoothAddress) throws(BondStoreError) -> Bool {
        let next = bondsByIdentity.filter { $0.key.address != address }
        guard next.count != bondsByIdentity.count else { return false }
        try persist(next)
        bondsByIdentity = next
        return true
    }

    /// Load Long Term Keys and Load Identity Resolving Keys for controller `index`, always both: each replaces the
    /// kernel's whole list, so an empty load also clears keys gatewayd no longer has. Keys the kernel would refuse
    /// (not an identity address, a debug key, an encryption size over 16) are left out rather than failing the load.
    public func loadCommands(index: UInt16) -> [ManagementRequest] {
        let bonds = self.bonds.filter { $0.identity.isIdentityAddress }
        let longTermKeys = bonds.flatMap(\.longTermKeys).filter {
            $0.device.isIdentityAddress && $0.keyType != .debugP256 && $0.encryptionSize <= 16
        }
        let identityKeys = bonds.compactMap(\.identityResolvingKey).filter { $0.device.isIdentityAddress }
        return [
            ManagementRequest(index: index, command: .loadLongTermKeys(longTermKeys)),
            ManagementRequest(index: index, command: .loadIdentityResolvingKeys(identityKeys)),
        ]
    }

    /// Records the bond events in `events` (a subscription to the management socket, `management.events()`, taken
    /// before any pairing starts) until they end: the socket closed, or the task running this — a child of the radio's
    /// owner — was cancelled. Only those of controller `index` when given: the management socket reports every
    /// controller's keys, and a store belongs to one controller.
    public nonisolated func follow(_ events: AsyncStream<ManagementEventPacket>, index: UInt16? = nil) async {
        for await packet in events where index == nil || packet.index == index {
            do throws(BondStoreError) {
                try await self.record(packet.event)
            } catch {
                await self.logFailure(error)
            }
        }
    }

    private func logFailure(_ error: BondStoreError) {
        logger.error(
            "a pairing key could not be saved; the device will need pairing again after a restart",
            metadata: ["error": "\(error)"])
    }

    // MARK: File

    private func persist(_ bonds: [DeviceAddress: Bond]) throws(BondStoreError) {
        let sorted = bonds.values.sorted { $0.identity.address.description < $1.identity.address.description }
        try Self.write(BondFile(bonds: sorted.map(StoredBond.init)), to: path)
    }

    /// The file's bytes, or nil when it does not exist; refuses group/other permission bits before reading a byte.
    static func readSecurely(_ path: String) throws(BondStoreError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            if code == ELOOP { throw .notARegularFile(path: path) }
            throw .io(path: path, call: "open", message: String(cString: strerror(code)))
        }
        defer { Glibc.close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw .io(path: path, call: "fstat", message: String(cString: strerror(errno)))
        }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path: path) }
        let mode = UInt32(status.st_mode & 0o7777)
        guard mode & 0o077 == 0 else { throw .insecurePermissions(path: path, mode: mode) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, call: "read", message: String(cString: strerror(errno)))
            }
            contents += buffer[0..<count]
        }
        return contents
    }

    static func write(_ file: BondFile, to path: String) throws(BondStoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(file)
        } catch {
            throw .io(path: path, call: "JSON encoding", message: "\(error)")
        }
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .io(path: temporary, call: "open", message: String(cString: strerror(errno))) }
        var failure: BondStoreError?
        if fchmod(fd, 0o600) != 0 {
            failure = .io(path: temporary, call: "fchmod", message: String(cString: strerror(errno)))
        }
        var written = 0
        let bytes = [UInt8](data)
        while failure == nil, written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                failure = .io(path: temporary, call: "write", message: String(cString: strerror(errno)))
            } else {
                written += count
            }
        }
        if failure == nil, fsync(fd) != 0 {
            failure = .io(path: temporary, call: "fsync", message: String(cString: strerror(errno)))
        }
        Glibc.close(fd)
        if failure == nil, rename(temporary, path) != 0 {
            failure = .io(path: path, call: "rename", message: String(cString: strerror(errno)))
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
        // Make the rename itself durable.
        let directory = (path as NSString).deletingLastPathComponent
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            Glibc.close(directoryFD)
        }
    }

    static func decode(_ contents: [UInt8], path: String) throws(BondStoreError) -> [DeviceAddress: Bond] {
        let file: BondFile
        do {
            file = try JSONDecoder().decode(BondFile.self, from: Data(contents))
        } catch {
            throw .corrupt(path: path, reason: "not a bond file: \(error)")
        }
        guard file.version == BondFile.currentVersion else {
            throw .corrupt(
                path: path, reason: "version \(file.version); this gatewayd reads version \(BondFile.currentVersion)")
        }
        var bonds: [DeviceAddress: Bond] = [:]
        for (position, stored) in file.bonds.enumerated() {
            do {
                let bond = try stored.bond()
                bonds[bond.identity] = bond
            } catch {
                throw .corrupt(path: path, reason: "bond \(position + 1): \(error)")
            }
        }
        return bonds
    }
}

// MARK: - File format

/// The JSON layout: addresses as text, keys as hex, so an operator can read (not edit) the file.
struct BondFile: Codable {
    static let currentVersion = 1
    var version = BondFile.currentVersion
    var bonds: [StoredBond]

    init(bonds: [StoredBond]) { self.bonds = bonds }
}

struct StoredBond: Codable {
    struct Key: Codable {
        var type: UInt8
        var central: Bool
        var encryptionSize: UInt8
        var encryptedDiversifier: UInt16
        var randomNumber: String
        var value: String
    }

    var address: String
    var addressType: String
    var longTermKeys: [Key]
    var identityResolvingKey: String?

    struct FormatError: Error, CustomStringConvertible {
        var description: String
    }

    init(_ bond: Bond) {
        address = bond.identity.address.description
        addressType = bond.identity.type.identifier
        longTermKeys = bond.longTermKeys.map { key in
            var writer = PayloadWriter()
            writer.unsigned(key.randomNumber, 8)
            return Key(
                type: key.keyType.rawValue, central: key.central, encryptionSize: key.encryptionSize,
                encryptedDiversifier: key.encryptedDiversifier, randomNumber: HexBytes.text(writer.bytes),
                value: HexBytes.text(key.value))
        }
        identityResolvingKey = bond.identityResolvingKey.map { HexBytes.text($0.value) }
    }

    func bond() throws(FormatError) -> Bond {
        let parsedAddress: BluetoothAddress
        do {
            parsedAddress = try BluetoothAddress(parsing: address)
        } catch {
            throw FormatError(description: "address: \(error)")
        }
        guard let type = BluetoothAddressType(identifier: addressType) else {
            throw FormatError(description: "address type '\(addressType)' is not le-public, le-random or br-edr")
        }
        let device = DeviceAddress(parsedAddress, type: type)
        var keys: [LongTermKey] = []
        for key in longTermKeys {
            let value = try Self.hex(key.value, bytes: 16, field: "long term key value")
            let random = try Self.hex(key.randomNumber, bytes: 8, field: "random number")
            var reader = PayloadReader(random, characteristic: "bond file")
            let randomNumber = (try? reader.unsigned(8, "random_number")) ?? 0
            keys.append(
                LongTermKey(
                    device: device, keyType: LongTermKeyType(rawValue: key.type), central: key.central,
                    encryptionSize: key.encryptionSize, encryptedDiversifier: key.encryptedDiversifier,
                    randomNumber: randomNumber, value: value))
        }
        var irk: IdentityResolvingKey?
        if let identityResolvingKey {
            irk = IdentityResolvingKey(
                device: device, value: try Self.hex(identityResolvingKey, bytes: 16, field: "identity resolving key"))
        }
        return Bond(identity: device, longTermKeys: keys, identityResolvingKey: irk)
    }

    private static func hex(_ text: String, bytes count: Int, field: String) throws(FormatError) -> [UInt8] {
        switch HexBytes.parse(text) {
        case .success(let bytes) where bytes.count == count: return bytes
        case .success(let bytes): throw FormatError(description: "\(field) has \(bytes.count) bytes, not \(count)")
        case .failure(let error): throw FormatError(description: "\(field): \(error)")
        }
    }
}
