import Foundation
import GatewayRuntime
import Hummingbird
import StreamEngine
import TimeSeries

/// The pages for the people a gateway serves, on the API's listener beside /fhir (issue: "a page for the people it
/// serves"): sign in with a token (it becomes a session cookie), then "Needs attention". Every page view and every
/// action is audited as API reads are; every action carries the session's form token (CSRF) and a cookie that is
/// HttpOnly, SameSite=Strict and, under TLS, Secure. A page shows nothing the API would not show the same token.
package struct Pages: Sendable {
    package var configuration: GatewayConfiguration
    /// The engine, to say whose waiting readings are; nil where the pages only read (`gatewayd serve` beside a running
    /// daemon, which holds the store).
    package var engine: StreamEngine?
    /// The API the pages stand beside: its tokens, its audit log, and its read path (`$stats` for the charts).
    package var api: FHIRAPI
    /// The listener speaks TLS: cookies are Secure.
    package var secure: Bool
    /// The daemon's pairing (nil under `gatewayd serve`, which has no radio).
    package var pairing: DevicePairing?
    package var sessions = PageSessions()
    package var now: @Sendable () -> Date = { Date() }

    package init(configuration: GatewayConfiguration, api: FHIRAPI, engine: StreamEngine?, secure: Bool) {
        (self.configuration, self.api, self.engine, self.secure) = (configuration, api, engine, secure)
    }

    /// The archive the API reads (device health, waiting readings, mappings, connections).
    var archive: ReadingArchive { api.data.archive }

    var access: APIAccess { api.access }
    var audit: AuditLog { api.audit }

    static let sessionCookie = "gw_session"
    static let languageCookie = "gw_lang"
    static let sizeCookie = "gw_size"
    /// A form is a few hundred bytes; anything much larger is not one of ours.
    static let maximumFormBytes = 16 << 10

    package func install(on router: Router<APIRequestContext>) {
        let pages = self
        for (path, type, text) in [
            ("/app/style.css", "text/css; charset=utf-8", HTML.stylesheet),
            ("/app/icon.svg", "image/svg+xml", HTML.icon),
            ("/app/pair.js", "text/javascript; charset=utf-8", Pages.pairingScript),
        ] {
            router.get(RouterPath(path)) { _, _ -> Response in
                var headers = HTTPFields()
                headers[.contentType] = type
                headers[.cacheControl] = "max-age=3600"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        router.get("/app") { request, _ in await pages.needsAttention(request) }  // "/app/" too
        router.get("/app/person/:subject") { request, context in
            await pages.person(request, subject: context.parameters.get("subject") ?? "")
        }
        router.get("/app/device/:key") { request, context in
            await pages.device(request, key: context.parameters.get("key") ?? "")
        }
        router.get("/app/sharing") { request, _ in await pages.sharing(request) }
        router.post("/app/sharing/retry") { request, _ in await pages.retrySharing(request) }
        router.get("/app/login") { request, _ in await pages.loginForm(request, problem: nil, status: .ok) }
        router.post("/app/login") { request, context in await pages.login(request, peer: context.peerAddress) }
        router.post("/app/logout") { request, _ in await pages.logout(request) }
        router.post("/app/assign") { request, _ in await pages.assign(request) }
        router.get("/app/prefs") { request, _ in pages.preferences(request) }
        router.get("/app/pair") { request, _ in await pages.pairingPage(request) }
        router.get("/app/pair/events") { request, _ in await pages.pairingEvents(request) }
        router.post("/app/pair/:action") { request, context in
            await pages.pairingAction(request, action: context.parameters.get("action") ?? "")
        }
        router.get("/app/api/pairing") { request, context in
            await pages.pairingAPI(request, action: nil, peerIsLoopback: context.peerIsLoopback)
        }
        router.post("/app/api/pairing/:action") { request, context in
            await pages.pairingAPI(
                request, action: context.parameters.get("action") ?? "", peerIsLoopback: context.peerIsLoopback)
        }
    }

    // MARK: Pages and actions

    func needsAttention(_ request: Request) async -> Response {
        guard let session = await session(request) else { return Self.redirect("/app/login") }
        let language = language(request)
        let query = PageForm.fields(request.uri.query ?? "")
        var main = "<h1>\(PageText.needsAttention.text(language))</h1>\n"
        if let count = query["assigned"], let subject = query["to"] {
            main +=
                "<p class=\"done\" role=\"status\">\(HTML.escape(PageText.assigned.fill(language, count, subject)))</p>\n"
        }
        if query["problem"] == "form" {
            main += "<p class=\"error\" role=\"alert\">\(PageText.formExpired.text(language))</p>\n"
        }
        if query["problem"] == "read-only" {
            main += "<p class=\"error\" role=\"alert\">\(PageText.readOnly.text(language))</p>\n"
        }
        if query["problem"] == "scope" {
            main += "<p class=\"error\" role=\"alert\">\(PageText.notAllowedToAssign.text(language))</p>\n"
        }
        let items: [AttentionItem]
        do {
            items = try NeedsAttention(archive: archive, configuration: configuration, now: now).items(
                for: session, language: language)
        } catch {
            audit.record(
                caller: session.caller, method: "GET", route: "/app", query: nil, subjects: [], status: 500)
            return Self.html(.internalServerError, "<!doctype html><p>\(HTML.escape("\(error)"))</p>")
        }
        main += peopleList(session, language)
        main += "<p><a href=\"/app/sharing\">\(PageText.sharing.text(language))</a>"
        if mayPair(session), pairing != nil {
            main += " · <a href=\"/app/pair\">\(PageText.pairDevice.text(language))</a>"
        }
        main += "</p>\n"
        main += (try? deviceList(session, language)) ?? ""
        if items.isEmpty {
            main += "<p class=\"ok\">\(PageText.nothingNeedsAttention.text(language))</p>\n"
        } else {
            main += "<ul class=\"attention\">\n"
            for (index, item) in items.enumerated() {
                main += "<li data-kind=\"\(item.kind.rawValue)\"\(item.urgent ? "" : " class=\"notice\"")>"
                main += "<h2>\(HTML.escape(item.title))</h2><p>\(HTML.escape(item.detail))</p>"
                if item.kind == .waitingReadings { main += assignForm(item, index: index, session, language) }
                main += "</li>\n"
            }
            main += "</ul>\n"
        }
        return signedInPage(
            request, session, route: "/app", query: request.uri.query,
            subjects: session.subjects.map { $0.sorted() } ?? [], title: PageText.needsAttention.text(language),
            path: "/app", main: main)
    }

    /// A signed-in page that was read: audited as the API audits a read, then framed (language, text size, sign-out).
    func signedInPage(
        _ request: Request, _ session: PageSession, route: String, query: String?, subjects: [String], title: String,
        path: String, main: String
    ) -> Response {
        audit.record(caller: session.caller, method: "GET", route: route, query: query, subjects: subjects, status: 200)
        return Self.html(
            .ok,
            HTML.page(
                HTML.Frame(
                    language: language(request), large: large(request), title: title, csrf: session.csrf, path: path),
                main: main))
    }

    /// A person the pages know: from the configuration (with a name, a test flag), or only from the devices mapped to
    /// them (`gatewayd serve --dir` has no configured people).
    struct Person: Sendable {
        var id: String
        var name: String?
        var test: Bool
    }

    func knownPeople() -> [Person] {
        var people = configuration.subjects.map { Person(id: $0.id, name: $0.name, test: $0.test) }
        let mapped = Set((try? archive.subjectMappings().map(\.subject)) ?? [])
        for id in mapped.sorted() where !people.contains(where: { $0.id == id }) {
            people.append(Person(id: id, name: nil, test: false))
        }
        return people
    }

    /// The people this session may see, each a link to their page.
    func peopleList(_ session: PageSession, _ language: PageLanguage) -> String {
        let people = knownPeople().filter { session.subjects?.contains($0.id) ?? true }
        guard !people.isEmpty else { return "" }
        let links = people.map { person -> String in
            let label = (person.name ?? person.id) + (person.test ? " (\(PageText.testData.text(language)))" : "")
            let path = person.id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? person.id
            return "<li><a href=\"/app/person/\(path)\">\(HTML.escape(label))</a></li>"
        }.joined()
        return
            "<nav aria-label=\"\(PageText.people.text(language))\" class=\"people\"><h2>\(PageText.people.text(language))</h2><ul>\(links)</ul></nav>\n"
    }

    /// A person's page: a chart per kind of reading they have (daily averages over 7, 30 or 90 days, from `$stats`),
    /// the last 7 days' average, reference lines where guidelines give them. Test data is labelled.
    func person(_ request: Request, subject: String) async -> Response {
        guard let session = await session(request) else { return Self.redirect("/app/login") }
        let language = language(request)
        let path = "/app/person/" + (subject.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "")
        guard let person = knownPeople().first(where: { $0.id == subject }),
            session.subjects?.contains(subject) ?? true
        else {
            audit.record(
                caller: session.caller, method: "GET", route: "/app/person", query: nil, subjects: [subject],
                status: 403)
            return Self.html(
                .forbidden,
                HTML.page(
                    HTML.Frame(
                        language: language, large: large(request), title: PageText.notYours.text(language),
                        csrf: session.csrf, path: "/app"),
                    main: "<p class=\"error\" role=\"alert\">\(PageText.notYours.text(language))</p>"))
        }
        let query = PageForm.fields(request.uri.query ?? "")
        let requested = Int(query["days"] ?? "") ?? 30
        let days = [7, 30, 90].contains(requested) ? requested : 30
        // `until=YYYY-MM-DD`: the period's last day (default today), to look back at an earlier month.
        let until = query["until"].flatMap { LocalDate($0) }.flatMap { day -> Date? in
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = api.subjectZones[subject] ?? api.zone
            return calendar.date(from: DateComponents(year: day.year, month: day.month, day: day.day, hour: 12))
        }
        let untilLink = query["until"].flatMap { LocalDate($0) }.map { "&amp;until=\($0)" } ?? ""
        let grant = APIGrant(subjects: session.subjects, caller: session.caller)
        let name = person.name ?? person.id
        var main = "<p><a href=\"/app\">← \(PageText.needsAttention.text(language))</a></p>\n"
        main += "<h1>\(HTML.escape(name))"
        if person.test { main += " <span class=\"badge\">\(PageText.testData.text(language))</span>" }
        main += "</h1>\n<nav class=\"periods\" aria-label=\"period\">"
        for choice in [7, 30, 90] {
            let label = PageText.lastDays.fill(language, String(choice))
            main +=
                choice == days
                ? "<strong aria-current=\"page\">\(label)</strong> "
                : "<a href=\"\(path)?days=\(choice)\(untilLink)\">\(label)</a> "
        }
        main += "</nav>\n"
        let end = until ?? now()
        let charts = PersonCharts(api: api, subject: subject, grant: grant, days: days, now: end)
        let week = PersonCharts(api: api, subject: subject, grant: grant, days: 7, now: end)
        var shown = 0
        do {
            let summaries = try charts.summaries()
            if let home = try charts.homeBloodPressure(summaries, language: language) {
                shown += 1
                main += home
            }
            for figure in try charts.dailySummaryCharts(summaries, language: language) {
                shown += 1
                main += figure
            }
            for spec in ChartSpec.all {
                guard let figure = try charts.figure(spec, language: language) else { continue }
                shown += 1
                main += figure
                let averages = try spec.lines.compactMap { line -> String? in
                    try week.average(code: line.code).map { "\(line.label.text(language)) \($0)" }
                }
                if !averages.isEmpty {
                    main +=
                        "<p class=\"average\" data-chart=\"\(spec.id)\">"
                        + HTML.escape(
                            PageText.sevenDayAverage.fill(language, averages.joined(separator: ", ") + " " + spec.unit))
                        + "</p>\n"
                }
            }
        } catch {
            audit.record(
                caller: session.caller, method: "GET", route: "/app/person", query: nil, subjects: [subject],
                status: 500)
            return Self.html(.internalServerError, "<!doctype html><p>\(HTML.escape("\(error)"))</p>")
        }
        if shown == 0 { main += "<p>\(PageText.noReadings.text(language))</p>" }
        main += recentReadings(subject: subject, test: person.test, language: language)
        return signedInPage(
            request, session, route: "/app/person", query: "subject=\(subject)&days=\(days)", subjects: [subject],
            title: name, path: path + "?days=\(days)", main: main)
    }

    /// Whose the readings of a device's user slot are: the people this session may assign to.
    func assignForm(_ item: AttentionItem, index: Int, _ session: PageSession, _ language: PageLanguage) -> String {
        guard engine != nil else { return "<p>\(PageText.readOnly.text(language))</p>" }
        let people = configuration.subjects.filter { session.mayAssign(to: $0.id) }
        guard let device = item.deviceKey, !people.isEmpty else {
            return "<p>\(PageText.notAllowedToAssign.text(language))</p>"
        }
        let options = people.map { person -> String in
            let label = (person.name ?? person.id) + (person.test ? " (\(PageText.testData.text(language)))" : "")
            return "<option value=\"\(HTML.escape(person.id))\">\(HTML.escape(label))</option>"
        }.joined()
        return """
            <form method="post" action="/app/assign">\
            <input type="hidden" name="csrf" value="\(session.csrf)">\
            <input type="hidden" name="device" value="\(HTML.escape(device))">\
            <input type="hidden" name="user" value="\(item.userID.map(String.init) ?? "")">\
            <label for="whose-\(index)">\(PageText.whoseAreThey.text(language))</label>\
            <select id="whose-\(index)" name="subject">\(options)</select> \
            <button type="submit">\(PageText.assign.text(language))</button></form>
            """
    }

    func loginForm(_ request: Request, problem: String?, status: HTTPResponse.Status) async -> Response {
        if problem == nil, await session(request) != nil { return Self.redirect("/app") }
        let language = language(request)
        var main = "<h1>\(PageText.signIn.text(language))</h1>\n"
        if let problem { main += "<p class=\"error\" role=\"alert\">\(HTML.escape(problem))</p>\n" }
        main += """
            <p>\(PageText.signInHelp.text(language))</p>
            <form method="post" action="/app/login">
            <label for="token">\(PageText.accessToken.text(language))</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required>
            <button type="submit">\(PageText.signIn.text(language))</button>
            </form>
            """
        return Self.html(
            status,
            HTML.page(
                HTML.Frame(
                    language: language, large: large(request), title: PageText.signIn.text(language), csrf: nil,
                    path: "/app/login"), main: main))
    }

    /// A token the gateway knows, with a read scope, becomes a session: its people (a patient scope) or everyone (a
    /// system scope), and whose readings it may assign (a Device write scope).
    func login(_ request: Request, peer: String) async -> Response {
        let fields = await form(request)
        let secret = (fields["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let language = language(request)
        guard await sessions.maySignIn(from: peer) else {
            audit.record(caller: "none", method: "POST", route: "/app/login", query: nil, subjects: [], status: 429)
            return await loginForm(
                request, problem: PageText.tooManyWrongTokens.text(language), status: .tooManyRequests)
        }
        guard !secret.isEmpty, let token = access.token(secret: secret),
            let grant = try? access.grant(
                authorization: "Bearer " + secret, peerIsLoopback: false, resourceType: "Observation")
        else {
            await sessions.failedSignIn(from: peer)
            audit.record(caller: "none", method: "POST", route: "/app/login", query: nil, subjects: [], status: 401)
            return await loginForm(request, problem: PageText.wrongToken.text(language), status: .unauthorized)
        }
        let session = await sessions.open(caller: grant.caller, subjects: grant.subjects, assignable: token.assignable)
        audit.record(caller: grant.caller, method: "POST", route: "/app/login", query: nil, subjects: [], status: 303)
        return Self.redirect(
            "/app", cookies: [PageForm.setCookie(Self.sessionCookie, session.id, secure: secure)])
    }

    func logout(_ request: Request) async -> Response {
        let fields = await form(request)
        if let session = await session(request), fields["csrf"] == session.csrf {
            await sessions.close(session.id)
            audit.record(
                caller: session.caller, method: "POST", route: "/app/logout", query: nil, subjects: [], status: 303)
        }
        return Self.redirect(
            "/app/login", cookies: [PageForm.setCookie(Self.sessionCookie, "", secure: secure, maxAge: 0)])
    }

    /// Says whose a device's (user slot's) waiting readings are: they are stored for that person now, and the
    /// device's next readings go to them too — as `gatewayd devices --map` does.
    func assign(_ request: Request) async -> Response {
        let fields = await form(request)
        guard let session = await session(request) else { return Self.redirect("/app/login") }
        guard fields["csrf"] == session.csrf, let device = fields["device"], !device.isEmpty,
            let subject = fields["subject"], configuration.subjects.contains(where: { $0.id == subject })
        else {
            audit.record(
                caller: session.caller, method: "POST", route: "/app/assign", query: nil, subjects: [], status: 403)
            return Self.redirect("/app?problem=form")
        }
        let userText = fields["user"] ?? ""
        let user = UInt8(userText)
        guard let engine else {
            audit.record(
                caller: session.caller, method: "POST", route: "/app/assign", query: "device=\(device)",
                subjects: [subject], status: 409)
            return Self.redirect("/app?problem=read-only")
        }
        guard session.seesEverything, session.mayAssign(to: subject), userText.isEmpty || user != nil else {
            audit.record(
                caller: session.caller, method: "POST", route: "/app/assign", query: "device=\(device)",
                subjects: [subject], status: 403)
            return Self.redirect("/app?problem=scope")
        }
        do {
            let released = try await engine.mapSubject(deviceKey: device, userID: user, subject: subject)
            audit.record(
                caller: session.caller, method: "POST", route: "/app/assign",
                query: "device=\(device)&user=\(userText)", subjects: [subject], status: 303)
            return Self.redirect(
                "/app?assigned=\(released)&to=\(subject.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            )
        } catch {
            audit.record(
                caller: session.caller, method: "POST", route: "/app/assign", query: "device=\(device)",
                subjects: [subject], status: 500)
            return Self.html(.internalServerError, "<!doctype html><p>\(HTML.escape("\(error)"))</p>")
        }
    }

    /// The language and text-size switches: cookies for a year, then back to the page (only ever a page of ours).
    func preferences(_ request: Request) -> Response {
        let query = PageForm.fields(request.uri.query ?? "")
        var cookies: [String] = []
        if let language = query["lang"].flatMap(PageLanguage.init(rawValue:)) {
            cookies.append(
                PageForm.setCookie(Self.languageCookie, language.rawValue, secure: secure, maxAge: 31_536_000))
        }
        if let size = query["size"], size == "large" || size == "normal" {
            cookies.append(PageForm.setCookie(Self.sizeCookie, size, secure: secure, maxAge: 31_536_000))
        }
        let back = query["back"] ?? "/app"
        let safe = back.hasPrefix("/app") && !back.contains("//") ? back : "/app"
        return Self.redirect(safe, cookies: cookies)
    }

    // MARK: Helpers

    func session(_ request: Request) async -> PageSession? {
        await sessions.session(PageForm.cookies(request.headers[.cookie])[Self.sessionCookie])
    }

    func language(_ request: Request) -> PageLanguage {
        PageLanguage.preferred(
            cookie: PageForm.cookies(request.headers[.cookie])[Self.languageCookie],
            acceptLanguage: request.headers[.acceptLanguage])
    }

    func large(_ request: Request) -> Bool { PageForm.cookies(request.headers[.cookie])[Self.sizeCookie] == "large" }

    func form(_ request: Request) async -> [String: String] {
        guard let buffer = try? await request.body.collect(upTo: Self.maximumFormBytes) else { return [:] }
        return PageForm.fields(String(buffer: buffer))
    }

    static func html(_ status: HTTPResponse.Status, _ text: String, cookies: [String] = []) -> Response {
        var headers = securityHeaders(cookies: cookies)
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String, cookies: [String] = []) -> Response {
        var headers = securityHeaders(cookies: cookies)
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    /// No caching of a person's data; nothing loaded from anywhere but this gateway; no framing; no referrer.
    static func securityHeaders(cookies: [String]) -> HTTPFields {
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] =
            "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        if let nosniff = HTTPFields.Element.Name("X-Content-Type-Options") { headers[nosniff] = "nosniff" }
        if let referrer = HTTPFields.Element.Name("Referrer-Policy") { headers[referrer] = "no-referrer" }
        for cookie in cookies { headers.append(.init(name: .setCookie, value: cookie)) }
        return headers
    }
}
