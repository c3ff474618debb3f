import FHIR
import Foundation
import GatewayRuntime
import Hummingbird
import Provenance

extension Pages {
    /// Sharing: each destination, what it may receive said in words ("alice's blood-pressure summaries go to phr"),
    /// and — for a token that reads everyone's — what is waiting, sent and refused (with the destination's reasons),
    /// and a way to send the refused entries again. A person's token sees only the sentences about that person.
    func sharing(_ request: Request) async -> Response {
        guard let session = await session(request) else { return Self.redirect("/app/login") }
        let language = language(request)
        let format = PageFormat(language: language, zone: configuration.defaultZone)
        let query = PageForm.fields(request.uri.query ?? "")
        var main = "<p><a href=\"/app\">← \(PageText.needsAttention.text(language))</a></p>\n"
        main += "<h1>\(PageText.sharing.text(language))</h1>\n"
        if let count = query["retried"], let destination = query["to"] {
            main +=
                "<p class=\"done\" role=\"status\">\(HTML.escape(PageText.retried.fill(language, count, destination)))</p>\n"
        }
        if configuration.destinations.isEmpty { main += "<p>\(PageText.nothingShared.text(language))</p>\n" }
        let outbox: Outbox?
        do {
            outbox =
                session.seesEverything && !configuration.destinations.isEmpty
                ? try Outbox(path: configuration.dataDirectory + "/outbox.sqlite") : nil
        } catch {
            return Self.html(.internalServerError, "<!doctype html><p>\(HTML.escape("\(error)"))</p>")
        }
        for destination in configuration.destinations {
            let sentences = destination.rules.compactMap { rule -> String? in
                let people = rule.subjects.contains("*") ? nil : rule.subjects
                let visible = people.map { $0.filter { session.subjects?.contains($0) ?? true } }
                if let visible, visible.isEmpty { return nil }
                if people == nil, !session.seesEverything { return nil }
                let who = visible.map { $0.sorted().joined(separator: ", ") } ?? PageText.everyone.text(language)
                let kinds = rule.kinds.map { PageText.kind($0, language) }.sorted().joined(
                    separator: language == .ja ? "・" : ", ")
                return PageText.shareSentence.fill(
                    language, who, kinds, destination.name + " (" + destination.baseURL + ")")
                    + (rule.raw ? PageText.shareRawToo.text(language) : "") + (language == .ja ? "。" : ".")
            }
            guard !sentences.isEmpty || session.seesEverything else { continue }
            main += "<section class=\"destination\" data-destination=\"\(HTML.escape(destination.name))\">"
            main += "<h2>\(HTML.escape(destination.name))</h2><ul>"
            main += sentences.map { "<li>\(HTML.escape($0))</li>" }.joined()
            main += "</ul>"
            if let outbox, let report = try? outbox.report(destination: destination.name) {
                main += "<dl class=\"facts\">"
                main += "<dt>\(PageText.pending.text(language))</dt><dd data-count=\"pending\">\(report.pending)</dd>"
                main += "<dt>\(PageText.sent.text(language))</dt><dd data-count=\"sent\">\(report.sent)</dd>"
                main += "<dt>\(PageText.refused.text(language))</dt><dd data-count=\"refused\">\(report.failed)</dd>"
                if let oldest = report.oldestPendingMeasuredMicros {
                    main +=
                        "<dt>\(PageText.oldestPending.text(language))</dt><dd>\(HTML.escape(format.time(oldest)))</dd>"
                }
                main += "</dl>"
                if !report.failures.isEmpty {
                    main += "<ul class=\"refusals\">"
                    main += report.failures.map {
                        "<li>\(HTML.escape($0.resource)): \(HTML.escape($0.reason))</li>"
                    }.joined()
                    main += "</ul>"
                    if session.assignable == nil {
                        main += """
                            <form method="post" action="/app/sharing/retry">\
                            <input type="hidden" name="csrf" value="\(session.csrf)">\
                            <input type="hidden" name="destination" value="\(HTML.escape(destination.name))">\
                            <button type="submit">\(PageText.retryRefused.text(language))</button></form>
                            """
                    }
                }
            }
            main += "</section>\n"
        }
        if !session.seesEverything { main += "<p class=\"note\">\(PageText.sharingNotYours.text(language))</p>" }
        return signedInPage(
            request, session, route: "/app/sharing", query: nil, subjects: session.subjects.map { $0.sorted() } ?? [],
            title: PageText.sharing.text(language), path: "/app/sharing", main: main)
    }

    /// Queues a destination's refused entries again (as `gatewayd sync --retry-failed NAME`): an operator's act, for a
    /// token with a system-wide Device write scope.
    func retrySharing(_ request: Request) async -> Response {
        let fields = await form(request)
        guard let session = await session(request) else { return Self.redirect("/app/login") }
        guard fields["csrf"] == session.csrf, let name = fields["destination"],
            configuration.destinations.contains(where: { $0.name == name }), session.seesEverything,
            session.assignable == nil
        else {
            audit.record(
                caller: session.caller, method: "POST", route: "/app/sharing/retry", query: nil, subjects: [],
                status: 403)
            return Self.redirect("/app/sharing")
        }
        do {
            let count = try Outbox(path: configuration.dataDirectory + "/outbox.sqlite").retryFailed(destination: name)
            audit.record(
                caller: session.caller, method: "POST", route: "/app/sharing/retry", query: "destination=\(name)",
                subjects: [], status: 303)
            return Self.redirect(
                "/app/sharing?retried=\(count)&to=\(name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            )
        } catch {
            return Self.html(.internalServerError, "<!doctype html><p>\(HTML.escape("\(error)"))</p>")
        }
    }
}
