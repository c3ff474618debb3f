import BLEGateway
import Foundation
import Logging
import Metrics

/// Pairing requests the daemon refused (DATA/bluetooth/refused-pairing.json): the daemon never pairs on a device's
/// word — a device that lost its keys, or a stranger using a paired device's address to write readings onto a
/// person, is refused; pairing is an operator's act (`gatewayd pair`). One entry per address, newest first, at most
/// `limit` addresses (a device trying random addresses cannot grow the file), shown by `gatewayd status`.
package struct RefusedPairings: Sendable {
    package struct Entry: Codable, Hashable, Sendable {
        package var address: String
        /// The address was a paired device's (it asked to pair again), not an unknown one.
        package var paired: Bool
        package var request: String
        package var count: Int
        package var last: Date
    }

    package static let limit = 64
    package let path: String

    package init(data: String) { path = BluetoothSettings.directory(data: data) + "/refused-pairing.json" }

    package func load() -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return (try? Self.decoder.decode([Entry].self, from: data)) ?? []
    }

    /// Counts one more refusal for `address`.
    package func record(address: String, paired: Bool, request: String, at date: Date) throws {
        var entries = load()
        var entry =
            entries.first { $0.address == address }
            ?? Entry(address: address, paired: paired, request: request, count: 0, last: date)
        entries.removeAll { $0.address == address }
        entry.count += 1
        (entry.paired, entry.request, entry.last) = (paired, request, date)
        entries = Array(([entry] + entries).prefix(Self.limit))
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(entries).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The daemon's answer to every pairing prompt: refused, logged, counted and kept for `gatewayd status`.
    package func refuse(_ prompt: PairingPrompt, pairedAddresses: Set<String>, logger: Logger, now: Date = Date())
        -> PairingAnswer
    {
        let address = "\(prompt.device.address)".uppercased()
        let paired = pairedAddresses.contains(address)
        logger.warning(
            "refused a pairing request no operator started",
            metadata: [
                "device": "\(address)", "paired_device": "\(paired)", "request": "\(prompt.request)",
                "advice": "if this is your device and it lost its keys, pair it again with `gatewayd pair`",
            ])
        Counter(label: "gatewayd_pairing_refused_total", dimensions: [("paired_device", "\(paired)")]).increment()
        do { try record(address: address, paired: paired, request: "\(prompt.request)", at: now) } catch {
            logger.error(
                "could not keep the refused pairing request for gatewayd status", metadata: ["error": "\(error)"])
        }
        return .reject
    }

    /// What `gatewayd status` says about each address.
    package static func advice(_ entry: Entry) -> String {
        (entry.paired ? "paired device asked to pair again" : "unknown device asked to pair")
            + " \(entry.count) time\(entry.count == 1 ? "" : "s"), refused: if it is yours, pair it with `gatewayd pair`"
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
