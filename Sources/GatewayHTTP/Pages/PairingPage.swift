import BLEGateway
import Foundation
import GatewayRuntime
import Hummingbird

/// Pairing while the service runs, from a phone or a laptop: look for devices, pick one, confirm the six digits it
/// shows (or type its passkey), say whose each user slot is. The daemon pairs (`DevicePairing`); the page shows its
/// steps. With JavaScript the panel follows the pairing live (server-sent events, `/app/pair.js`); without, each
/// form posts and comes back, and "Refresh" shows the next step.
extension Pages {
    /// Pairing says whose a device is, so it takes a session that may assign readings to everyone.
    func mayPair(_ session: PageSession) -> Bool { session.seesEverything && session.assignable == nil }

    func pairingPage(_ request: Request) async -> Response {
        guard let session = await session(request) else { return Self.redirect("/app/login") }
        let language = language(request)
        var main = "<p><a href=\"/app\">← \(PageText.needsAttention.text(language))</a></p>\n"
        main += "<h1>\(PageText.pairDevice.text(language))</h1>\n"
        guard mayPair(session) else {
            main += "<p class=\"error\" role=\"alert\">\(PageText.notAllowedToPair.text(language))</p>\n"
            audit.record(
                caller: session.caller, method: "GET", route: "/app/pair", query: nil, subjects: [], status: 403)
            return Self.html(
                .forbidden,
                HTML.page(
                    HTML.Frame(
                        language: language, large: large(request), title: PageText.pairDevice.text(language),
                        csrf: session.csrf, path: "/app/pair"), main: main))
        }
        if let problem = PageForm.fields(request.uri.query ?? "")["problem"] {
            main += "<p class=\"error\" role=\"alert\">\(HTML.escape(problem))</p>\n"
        }
        let status = await pairing?.status()
        main += "<section id=\"pairing\" aria-live=\"polite\" data-version=\"\(status?.version ?? 0)\">"
        main += pairingPanel(status, session: session, language: language)
        main += "</section>\n<script src=\"/app/pair.js\"></script>\n"
        return signedInPage(
            request, session, route: "/app/pair", query: nil, subjects: [], title: PageText.pairDevice.text(language),
            path: "/app/pair", main: main)
    }

    /// The panel for the pairing's current step (also what each server-sent event carries).
    func pairingPanel(_ status: DevicePairing.Status?, session: PageSession, language: PageLanguage) -> String {
        guard let status, status.phase != .unavailable else {
            return
                "<p class=\"error\">\(PageText.cannotPairNow.text(language)) \(HTML.escape(status?.message ?? ""))</p>"
        }
        let csrf = "<input type=\"hidden\" name=\"csrf\" value=\"\(session.csrf)\">"
        func button(_ action: String, _ label: PageText, fields: String = "") -> String {
            "<form method=\"post\" action=\"/app/pair/\(action)\">\(csrf)\(fields)<button type=\"submit\">\(label.text(language))</button></form>"
        }
        var html = ""
        if status.simulated { html += "<p class=\"note\">\(PageText.simulatedDevices.text(language))</p>" }
        let target = status.target.map { $0.name ?? "\($0.device.address)" } ?? ""
        switch status.phase {
        case .unavailable:
            break
        case .idle:
            html += "<p>\(PageText.pairIntro.text(language))</p>" + button("scan", .lookForDevices)
        case .scanning, .choosing:
            html +=
                "<p role=\"status\">\((status.phase == .scanning ? PageText.lookingForDevices : PageText.devicesFound).text(language))</p>"
            if status.phase == .choosing, status.sightings.isEmpty {
                html += "<p>\(PageText.noDeviceFound.text(language))</p>"
            }
            html += "<ul class=\"sightings\">"
            for (index, sighting) in status.sightings.enumerated() {
                let name = sighting.name ?? PageText.noName.text(language)
                let kind = sighting.profile.map { PageText.profileName($0, language) } ?? ""
                html += "<li><form method=\"post\" action=\"/app/pair/choose\">\(csrf)"
                html += "<input type=\"hidden\" name=\"address\" value=\"\(sighting.device.address)\">"
                html += "<strong>\(HTML.escape(name))</strong> — \(HTML.escape(kind)) "
                html += "<span class=\"when\">\(sighting.device.address)</span> "
                if ["weight_scale", "body_composition"].contains(sighting.profile?.id ?? "") {
                    html += newUserSelect(index: index, session: session, language: language)
                }
                html += "<button type=\"submit\">\(PageText.thisOne.text(language))</button></form></li>"
            }
            html += "</ul>"
            if status.phase == .choosing { html += button("scan", .lookAgain) }
        case .pairing:
            html += "<p role=\"status\">\(HTML.escape(PageText.pairingWith.fill(language, target)))</p>"
            html += button("cancel", .stop)
        case .question:
            switch status.question {
            case .confirmation(let value, _)?:
                let code = PairingPrompt.sixDigits(value)
                html += "<p class=\"code\">\(HTML.escape(PageText.doesItShow.fill(language, code)))</p>"
                html += "<div class=\"answers\">"
                html += button("answer", .yesSame, fields: "<input type=\"hidden\" name=\"answer\" value=\"accept\">")
                html += button(
                    "answer", .noDifferent, fields: "<input type=\"hidden\" name=\"answer\" value=\"reject\">")
                html += "</div>"
            case .passkeyEntry?:
                html += """
                    <form method="post" action="/app/pair/answer">\(csrf)\
                    <label for="passkey">\(PageText.typePasskey.text(language))</label>\
                    <input id="passkey" name="answer" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" \
                    autocomplete="one-time-code" required> \
                    <button type="submit">\(PageText.send.text(language))</button></form>
                    """
            case .passkeyDisplay(let passkey, _)?:
                html +=
                    "<p class=\"code\">\(HTML.escape(PageText.typeOnDevice.fill(language, PairingPrompt.sixDigits(passkey))))</p>"
            case nil:
                break
            }
            html += button("cancel", .stop)
        case .saving:
            html += "<p role=\"status\">\(PageText.saving.text(language))</p>"
        case .downloading:
            if case .passkeyDisplay(let passkey, _)? = status.question {
                html +=
                    "<p class=\"code\">\(HTML.escape(PageText.typeOnDevice.fill(language, PairingPrompt.sixDigits(passkey))))</p>"
            }
            let count = "\(status.received)" + (status.expected.map { " / \($0)" } ?? "")
            html += "<p role=\"status\">\(HTML.escape(PageText.downloadingReadings.fill(language, target, count)))</p>"
        case .whose:
            html += "<form method=\"post\" action=\"/app/pair/whose\">\(csrf)"
            html += "<p>\(HTML.escape(PageText.downloaded.fill(language, target, "\(status.received)")))</p>"
            let people = configuration.subjects
            for (index, slot) in status.whose.enumerated() {
                let whom =
                    slot.map { PageText.userOfDevice.fill(language, String($0)) } ?? PageText.thisDevice.text(language)
                html += "<label for=\"whose-\(index)\">\(HTML.escape(PageText.whoseSlot.fill(language, whom)))</label>"
                html += "<select id=\"whose-\(index)\" name=\"slot-\(slot.map(String.init) ?? "device")\">"
                html += "<option value=\"\">\(PageText.decideLater.text(language))</option>"
                for person in people {
                    let label =
                        (person.name ?? person.id) + (person.test ? " (\(PageText.testData.text(language)))" : "")
                    html += "<option value=\"\(HTML.escape(person.id))\">\(HTML.escape(label))</option>"
                }
                html += "</select>"
            }
            html += " <button type=\"submit\">\(PageText.save.text(language))</button></form>"
        case .done:
            html +=
                "<p class=\"done\" role=\"status\">\(HTML.escape(PageText.pairedDone.fill(language, target, "\(status.received)")))"
            for assignment in status.assigned {
                html +=
                    "<br>"
                    + HTML.escape(
                        PageText.slotBelongsTo.fill(
                            language,
                            assignment.slot.map { PageText.userOfDevice.fill(language, String($0)) }
                                ?? PageText.thisDevice.text(language), assignment.subject))
            }
            html += "</p>"
            if let key = status.device?.key {
                let path = key.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? key
                html += "<p><a href=\"/app/device/\(path)\">\(PageText.device.text(language))</a></p>"
            }
            html += button("scan", .pairAnother)
        case .failed:
            html += "<div class=\"error\" role=\"alert\"><p>\(PageText.pairingFailed.text(language))</p>"
            html += "<p>\(HTML.escape(status.message ?? ""))</p></div>" + button("scan", .tryAgain)
        }
        // Without JavaScript the page does not follow the pairing by itself.
        if status.phase != .idle { html += "<p><a href=\"/app/pair\">\(PageText.refresh.text(language))</a></p>" }
        return html
    }

    private func newUserSelect(index: Int, session: PageSession, language: PageLanguage) -> String {
        let options = configuration.subjects.map { person in
            "<option value=\"\(HTML.escape(person.id))\">\(HTML.escape(person.name ?? person.id))</option>"
        }.joined()
        return """
            <label for="new-user-\(index)">\(PageText.newUserFor.text(language))</label>\
            <select id="new-user-\(index)" name="new_user"><option value="">—</option>\(options)</select>
            """
    }

    /// A pairing action from the page: CSRF-checked, audited, then back to the page (the panel shows the next step).
    func pairingAction(_ request: Request, action: String) async -> Response {
        let fields = await form(request)
        guard let session = await session(request) else { return Self.redirect("/app/login") }
        let route = "/app/pair/" + action
        guard fields["csrf"] == session.csrf, mayPair(session), let pairing else {
            audit.record(caller: session.caller, method: "POST", route: route, query: nil, subjects: [], status: 403)
            return Self.redirect("/app?problem=form")
        }
        // The form's fields as the pairing's request message: the same steps as the JSON face and `gatewayd pair`.
        var message = PairingRequestMessage()
        message.seconds = 10
        message.address = fields["address"]
        message.newUser = fields["new_user"].flatMap { $0.isEmpty ? nil : $0 }
        message.answer = fields["answer"]
        var whose: [String: String] = [:]
        for (key, value) in fields where key.hasPrefix("slot-") { whose[String(key.dropFirst(5))] = value }
        message.whose = whose
        let subjects: [String]
        do {
            subjects = try await pairing.perform(action, message, caller: session.caller)
        } catch {
            audit.record(caller: session.caller, method: "POST", route: route, query: nil, subjects: [], status: 409)
            let problem = "\(error)".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            return Self.redirect("/app/pair?problem=" + problem)
        }
        audit.record(caller: session.caller, method: "POST", route: route, query: nil, subjects: subjects, status: 303)
        return Self.redirect("/app/pair")
    }

    /// Server-sent events: the panel again each time the pairing changes (a comment every 25 s keeps the stream open).
    /// `Last-Event-ID` (the browser sends it when it reconnects) or `after` is the version the page already shows;
    /// `limit` ends the stream after that many panels.
    func pairingEvents(_ request: Request) async -> Response {
        guard let session = await session(request), mayPair(session), let pairing else {
            return Self.html(.forbidden, "")
        }
        let language = language(request)
        let query = PageForm.fields(request.uri.query ?? "")
        let lastEvent = HTTPFields.Element.Name("Last-Event-ID").flatMap { request.headers[$0] }.flatMap { Int($0) }
        let after = lastEvent ?? Int(query["after"] ?? "") ?? 0
        let limit = Int(query["limit"] ?? "") ?? Int.max
        var headers = Self.securityHeaders(cookies: [])
        headers[.contentType] = "text/event-stream; charset=utf-8"
        let pages = self
        let body = ResponseBody { writer in
            var version = after
            var sent = 0
            let deadline = ContinuousClock.now + .seconds(600)
            while sent < limit, ContinuousClock.now < deadline {
                let status = await pairing.changes(after: version, timeout: .seconds(25))
                guard status.version > version else {
                    try await writer.write(ByteBuffer(string: ": still here\n\n"))
                    continue
                }
                version = status.version
                let panel = pages.pairingPanel(status, session: session, language: language)
                let data = panel.split(separator: "\n", omittingEmptySubsequences: false).map { "data: \($0)" }
                try await writer.write(ByteBuffer(string: "id: \(version)\n" + data.joined(separator: "\n") + "\n\n"))
                sent += 1
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// The page's one script: follows the pairing's events and replaces the panel. Nothing else depends on it.
    static let pairingScript = """
        (function () {
          var panel = document.getElementById('pairing');
          if (!panel || !window.EventSource) return;
          var source = new EventSource('/app/pair/events?after=' + panel.getAttribute('data-version'));
          source.onmessage = function (event) {
            panel.innerHTML = event.data;
            panel.setAttribute('data-version', event.lastEventId);
            var first = panel.querySelector('input[type=text], input:not([type]), input[inputmode]');
            if (first) first.focus();
          };
        })();
        """
}
