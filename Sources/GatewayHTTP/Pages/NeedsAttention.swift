import FHIR
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine

/// One thing a person should look at, most urgent first: what it is (`kind`, also the item's `data-kind` for tests and
/// styling), a title and a sentence, and for readings waiting for a person the form that says whose they are.
package struct AttentionItem: Sendable, Equatable {
    package enum Kind: String, Sendable {
        case waitingReadings = "waiting-readings"
        case clockReset = "clock-reset"
        case clockOff = "clock-off"
        case silentDevice = "silent-device"
        case batteryLow = "battery-low"
        case connectionProblem = "connection-problem"
        case refusedByPHR = "refused-by-phr"
        case syncBehind = "sync-behind"
        case diskFilling = "disk-filling"
    }

    package var kind: Kind
    package var title: String
    package var detail: String
    /// For waiting readings: the device and user slot the form assigns.
    package var deviceKey: String? = nil
    package var userID: UInt8? = nil
    package var urgent = true
}

/// What needs attention, from what the gateway already keeps: device health (clocks, last contact, last error), the
/// readings waiting for a person, the sync outbox, the disk. A session limited to some people sees only their
/// devices; what belongs to nobody yet (waiting readings), sharing and the disk are for a session that sees everyone.
/// Each source answers from its own summary rows (never a scan of readings).
package struct NeedsAttention: Sendable {
    package var archive: ReadingArchive
    package var configuration: GatewayConfiguration
    package var now: @Sendable () -> Date = { Date() }

    /// A clock this far off is a reset clock (a battery change sends many devices to 2000-01-01).
    static let resetMicros: Int64 = 180 * 86_400 * 1_000_000
    /// A reset the gateway has since corrected is still said for a week: the readings of that time are marked.
    static let recentResetMicros: Int64 = 7 * 86_400 * 1_000_000
    /// A clock further off than this is worth saying.
    static let offMicros: Int64 = 5 * 60 * 1_000_000
    /// A battery this low at the last connection is worth changing before the device stops (and loses its clock).
    static let lowBatteryPercent = 20

    /// A device is silent when it has not been heard from for three of its usual gaps, and at least a day.
    static let minimumSilenceMicros: Int64 = 86_400 * 1_000_000

    package func items(for session: PageSession, language: PageLanguage) throws -> [AttentionItem] {
        var items: [AttentionItem] = []
        let nowMicros = Int64(now().timeIntervalSince1970 * 1_000_000)
        let mappings = try archive.subjectMappings()
        let formatter = PageFormat(language: language, zone: configuration.defaultZone)
        let healths = try archive.deviceHealth()
        if session.seesEverything {
            for group in try archive.waitingGroups() {
                let device = healths.first { $0.device.key == group.deviceKey }?.device
                items.append(
                    AttentionItem(
                        kind: .waitingReadings, title: PageText.waitingReadings.text(language),
                        detail: PageText.waitingReadingsDetail.fill(
                            language, formatter.deviceName(device, key: group.deviceKey),
                            group.userID.map(String.init) ?? "-", String(group.count),
                            formatter.time(group.newestReceivedMicros)),
                        deviceKey: group.deviceKey, userID: group.userID))
            }
        }
        for health in healths {
            let owners = Set(mappings.filter { $0.deviceKey == health.device.key }.map(\.subject))
            guard session.seesEverything || !owners.isDisjoint(with: session.subjects ?? []) else { continue }
            let name = formatter.deviceName(health.device, key: health.device.key)
            // A clock still reset; else one found reset lately and set again by the gateway (its readings from then
            // are on the gateway's time, and marked); else a clock that is merely off.
            let recentReset = health.clockHistory?.entries.last { entry in
                !entry.comparison.afterSet && abs(entry.offsetMicros ?? 0) >= Self.resetMicros
                    && nowMicros - entry.comparison.gatewayMicros < Self.recentResetMicros
            }
            if let offset = health.clockOffsetMicros, abs(offset) >= Self.resetMicros {
                items.append(
                    AttentionItem(
                        kind: .clockReset, title: PageText.clockReset.text(language),
                        detail: PageText.clockResetDetail.fill(language, name, formatter.duration(offset))))
            } else if let reset = recentReset, let offset = reset.offsetMicros {
                items.append(
                    AttentionItem(
                        kind: .clockReset, title: PageText.clockReset.text(language),
                        detail: PageText.clockResetFixedDetail.fill(
                            language, name, formatter.duration(offset), formatter.time(reset.comparison.gatewayMicros)),
                        urgent: false))
            } else if let offset = health.clockOffsetMicros, abs(offset) >= Self.offMicros {
                items.append(
                    AttentionItem(
                        kind: .clockOff, title: PageText.clockOff.text(language),
                        detail: PageText.clockOffDetail.fill(language, name, formatter.duration(offset)),
                        urgent: false))
            }
            let usualGap =
                health.connections > 1
                ? (health.lastContactMicros - health.firstSeenMicros) / Int64(health.connections - 1) : 0
            if nowMicros - health.lastContactMicros > max(3 * usualGap, Self.minimumSilenceMicros) {
                items.append(
                    AttentionItem(
                        kind: .silentDevice, title: PageText.silentDevice.text(language),
                        detail: PageText.silentDeviceDetail.fill(
                            language, name, formatter.time(health.lastContactMicros))))
            }
            // The battery its newest connection read (one indexed row per device).
            if let last = try archive.connections(deviceKey: health.device.key, limit: 1).first,
                let battery = last.batteryPercent, battery <= Self.lowBatteryPercent
            {
                items.append(
                    AttentionItem(
                        kind: .batteryLow, title: PageText.batteryLow.text(language),
                        detail: PageText.batteryLowDetail.fill(
                            language, name, String(battery), formatter.time(last.endedMicros)),
                        urgent: battery <= Self.lowBatteryPercent / 2))
            }
            if let error = health.lastError {
                items.append(
                    AttentionItem(
                        kind: .connectionProblem, title: PageText.connectionProblem.text(language),
                        detail: "\(name): \(error)", urgent: false))
            }
        }
        guard session.seesEverything else { return items }
        if !configuration.destinations.isEmpty,
            FileManager.default.fileExists(atPath: configuration.dataDirectory + "/outbox.sqlite")
        {
            let outbox = try Outbox(path: configuration.dataDirectory + "/outbox.sqlite")
            for destination in configuration.destinations {
                let report = try outbox.report(destination: destination.name)
                for failure in report.failures {
                    items.append(
                        AttentionItem(
                            kind: .refusedByPHR, title: PageText.refusedByPHR.text(language),
                            detail: "\(destination.name): \(failure.resource): \(failure.reason)"))
                }
                if let oldest = report.oldestPendingMeasuredMicros, nowMicros - oldest > 3600 * 1_000_000 {
                    items.append(
                        AttentionItem(
                            kind: .syncBehind, title: PageText.syncBehind.text(language),
                            detail: PageText.syncBehindDetail.fill(
                                language, destination.name, String(report.pending), formatter.time(oldest)),
                            urgent: false))
                }
            }
        }
        var stats = statvfs()
        if statvfs(configuration.dataDirectory, &stats) == 0 {
            let free = Double(stats.f_bavail) * Double(stats.f_frsize)
            let total = Double(stats.f_blocks) * Double(stats.f_frsize)
            if total > 0, free < total * 0.1 {
                items.append(
                    AttentionItem(
                        kind: .diskFilling, title: PageText.diskFilling.text(language),
                        detail: PageText.diskFillingDetail.fill(
                            language, formatter.bytes(free), formatter.bytes(total))))
            }
        }
        return items.sorted { $0.urgent && !$1.urgent }
    }
}

/// Times, durations, sizes and device names as the pages write them, in the page's language and the gateway's zone.
package struct PageFormat: Sendable {
    package var language: PageLanguage
    package var zone: TimeZone

    package func time(_ micros: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: language == .ja ? "ja_JP" : "en_GB")
        formatter.timeZone = zone
        formatter.dateFormat = language == .ja ? "yyyy年M月d日 H:mm" : "d MMM yyyy, HH:mm"
        return formatter.string(from: Date(timeIntervalSince1970: Double(micros) / 1_000_000))
    }

    /// "26.9 years", "3.0 h", "12 min", "8 s" (ja: 年, 時間, 分, 秒).
    package func duration(_ micros: Int64) -> String {
        let seconds = Double(abs(micros)) / 1_000_000
        let (value, en, ja): (String, String, String) =
            if seconds >= 86_400 * 365 {
                (String(format: "%.1f", seconds / (86_400 * 365.25)), "years", "年")
            } else if seconds >= 86_400 {
                (String(format: "%.1f", seconds / 86_400), "days", "日")
            } else if seconds >= 3600 {
                (String(format: "%.1f", seconds / 3600), "h", "時間")
            } else if seconds >= 60 {
                (String(format: "%.0f", seconds / 60), "min", "分")
            } else {
                (String(format: "%.0f", seconds), "s", "秒")
            }
        return language == .ja ? value + ja : value + " " + en
    }

    /// A clock offset with its direction: "+10 min", "−26.9 years", "0 s".
    package func offset(_ micros: Int64) -> String {
        let text = duration(micros)
        return abs(micros) < 500_000 ? text : (micros < 0 ? "−" : "+") + text
    }

    package func bytes(_ count: Double) -> String {
        count >= 1_073_741_824
            ? String(format: "%.1f GiB", count / 1_073_741_824) : String(format: "%.0f MiB", count / 1_048_576)
    }

    /// "Gatewayd Simulated Devices BP-2 (serial BP2-000417)", or the key when the device never said what it is.
    package func deviceName(_ device: DeviceRecord?, key: String) -> String {
        guard let device else { return key }
        let model = [device.manufacturer, device.model].compactMap { $0 }.joined(separator: " ")
        guard !model.isEmpty else { return key }
        return model + (device.serialNumber.map { " (\($0))" } ?? "")
    }
}
