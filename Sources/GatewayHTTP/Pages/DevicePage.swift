import Foundation
import GatewayRuntime
import Hummingbird
import Provenance
import StreamEngine

extension Pages {
    /// A device's page: whose it is, its last contact and battery, its clock against the gateway's (now, drift, the
    /// history of comparisons), and each recent connection — readings received against expected, the clock offset, the
    /// battery, what failed. A session limited to some people sees only their devices.
    func device(_ request: Request, key: String) async -> Response {
        guard let session = await session(request) else { return Self.redirect("/app/login") }
        let language = language(request)
        let format = PageFormat(language: language, zone: configuration.defaultZone)
        let path = "/app/device/" + (key.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "")
        let frame = HTML.Frame(
            language: language, large: large(request), title: PageText.devices.text(language), csrf: session.csrf,
            path: path)
        do {
            let owners = try archive.subjectMappings().filter { $0.deviceKey == key }
            guard let health = try archive.deviceHealth().first(where: { $0.device.key == key }),
                session.seesEverything || owners.contains(where: { session.subjects?.contains($0.subject) ?? true })
            else {
                audit.record(
                    caller: session.caller, method: "GET", route: "/app/device", query: "device=\(key)", subjects: [],
                    status: 404)
                return Self.html(
                    .notFound,
                    HTML.page(
                        frame, main: "<p class=\"error\" role=\"alert\">\(PageText.deviceUnknown.text(language))</p>"))
            }
            let connections = try archive.connections(deviceKey: key)
            let name = format.deviceName(health.device, key: key)
            var main = "<p><a href=\"/app\">← \(PageText.needsAttention.text(language))</a></p>\n"
            main += "<h1>\(HTML.escape(name))</h1>\n<dl class=\"facts\">"
            func fact(_ label: PageText, _ value: String) {
                main += "<dt>\(label.text(language))</dt><dd>\(value)</dd>"
            }
            let whose = owners.map { owner -> String in
                let person = HTML.escape(owner.subject)
                let link =
                    session.subjects?.contains(owner.subject) ?? true
                    ? "<a href=\"/app/person/\(owner.subject.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "")\">\(person)</a>"
                    : person
                return (owner.userID.map { "\(PageText.userSlot.text(language)) \($0): " } ?? "") + link
            }
            fact(.whose, whose.isEmpty ? PageText.nobodyYet.text(language) : whose.joined(separator: ", "))
            fact(.lastContact, HTML.escape(format.time(health.lastContactMicros)))
            if let battery = connections.lazy.compactMap(\.batteryPercent).first {
                fact(.battery, "\(battery) %")
            }
            if let offset = health.clockOffsetMicros {
                var text = format.offset(offset)
                if let drift = health.clockHistory?.driftPPM {
                    text += String(format: " (\(PageText.drift.text(language)) %+.0f ppm)", drift)
                }
                fact(.clockNow, HTML.escape(text))
            }
            main += "</dl>\n"
            main += "<h2>\(PageText.connections.text(language))</h2>\n<table class=\"connections\"><thead><tr>"
            for heading in [PageText.connectionEnded, .receivedOfExpected, .clockOffset, .battery, .problem] {
                main += "<th scope=\"col\">\(heading.text(language))</th>"
            }
            main += "</tr></thead><tbody>"
            for connection in connections {
                let offset = connection.clockOffsetMicros.map(format.offset) ?? "–"
                main += """
                    <tr><th scope="row">\(HTML.escape(format.time(connection.endedMicros)))</th>\
                    <td>\(connection.readingsReceived)\(connection.readingsExpected.map { " (\($0))" } ?? "")</td>\
                    <td>\(HTML.escape(offset))</td><td>\(connection.batteryPercent.map { "\($0) %" } ?? "–")</td>\
                    <td>\(HTML.escape(connection.error ?? ""))</td></tr>
                    """
            }
            main += "</tbody></table>\n"
            // Its newest readings, of the people this session may see (each person's through the by-device index).
            let visibleOwners = Set(owners.map(\.subject)).filter { session.subjects?.contains($0) ?? true }
            let readings = visibleOwners.flatMap { subject in
                (try? archive.newestReadings(subject: subject, device: key, limit: 12)) ?? []
            }.sorted { $0.time.effectiveMicros > $1.time.effectiveMicros }.prefix(12)
            let testPeople = Set(configuration.subjects.filter(\.test).map(\.id))
            main += readingList(
                Array(readings),
                leftOut: ReadingFlags.leftOutOfSummaries(testSubject: !visibleOwners.isDisjoint(with: testPeople)),
                language: language, zone: configuration.defaultZone)
            let comparisons = (health.clockHistory?.entries ?? []).suffix(20).reversed()
            if !comparisons.isEmpty {
                main += "<h2>\(PageText.clockHistory.text(language))</h2>\n<table class=\"clock\"><tbody>"
                for entry in comparisons {
                    let offset = entry.offsetMicros.map(format.offset) ?? "?"
                    main += """
                        <tr><th scope="row">\(HTML.escape(format.time(entry.comparison.gatewayMicros)))</th>\
                        <td>\(HTML.escape(offset))</td></tr>
                        """
                }
                main += "</tbody></table>\n"
            }
            return signedInPage(
                request, session, route: "/app/device", query: "device=\(key)",
                subjects: owners.map(\.subject).sorted(), title: frame.title, path: path, main: main)
        } catch {
            audit.record(
                caller: session.caller, method: "GET", route: "/app/device", query: "device=\(key)", subjects: [],
                status: 500)
            return Self.html(.internalServerError, "<!doctype html><p>\(HTML.escape("\(error)"))</p>")
        }
    }

    /// The devices this session may see, each a link to its page.
    func deviceList(_ session: PageSession, _ language: PageLanguage) throws -> String {
        let mappings = try archive.subjectMappings()
        let format = PageFormat(language: language, zone: configuration.defaultZone)
        let visible = try archive.deviceHealth().filter { health in
            session.seesEverything
                || mappings.contains {
                    $0.deviceKey == health.device.key && (session.subjects?.contains($0.subject) ?? true)
                }
        }
        guard !visible.isEmpty else { return "" }
        let links = visible.map { health -> String in
            let key = health.device.key
            let path = key.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? key
            return
                "<li><a href=\"/app/device/\(path)\">\(HTML.escape(format.deviceName(health.device, key: key)))</a></li>"
        }.joined()
        return
            "<nav aria-label=\"\(PageText.devices.text(language))\" class=\"people devices\"><h2>\(PageText.devices.text(language))</h2><ul>\(links)</ul></nav>\n"
    }
}
