import Foundation
import StreamEngine
import TimeSeries

/// What `gatewayd devices` lists: every device the gateway has heard and every mapping, one row per device and user
/// slot — whose it is, when it was last in contact, how many of its readings wait in quarantine.
package enum DeviceListReport {
    package static func text(_ archive: ReadingArchive) throws -> String {
        let mappings = try archive.subjectMappings()
        let health = try archive.deviceHealth()
        var rows: [[String]] = [["device", "model", "user", "subject", "last contact", "quarantined"]]
        var listed: Set<String> = []
        for device in health {
            let model = [device.device.manufacturer, device.device.model].compactMap { $0 }.joined(separator: " ")
            let mine = mappings.filter { $0.deviceKey == device.device.key }
            listed.insert(device.device.key)
            let last = TimeFormat.iso8601(device.lastContactMicros, timeZone: .gmt)
            if mine.isEmpty {
                rows.append([device.device.key, model, "-", "(unmapped)", last, String(device.quarantined)])
            }
            for mapping in mine {
                rows.append([
                    device.device.key, model, mapping.userID.map(String.init) ?? "-", mapping.subject, last,
                    String(device.quarantined),
                ])
            }
        }
        for mapping in mappings where !listed.contains(mapping.deviceKey) {
            rows.append([
                mapping.deviceKey, "(not seen yet)", mapping.userID.map(String.init) ?? "-", mapping.subject, "-", "-",
            ])
        }
        return rows.count > 1 ? TextTable.aligned(rows) : "no devices and no mappings yet"
    }
}
