import Foundation

/// Server-rendered HTML, written as text: escaping in one place, one layout for every page.
package enum HTML {
    /// Text and attribute values, escaped for HTML.
    package static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    /// What a page's frame needs: its language, text size, title, and (signed in) the form token for sign-out.
    package struct Frame: Sendable {
        package var language: PageLanguage
        package var large: Bool
        package var title: String
        package var csrf: String?
        /// Where the language and size switches come back to.
        package var path: String
    }

    /// The whole document: a header with the gateway's name, the language and text-size switches and sign-out, then
    /// `main`. No script, no external font or stylesheet: it works offline and with JavaScript off.
    package static func page(_ frame: Frame, main: String) -> String {
        let language = frame.language
        let back = escape(frame.path)
        let switches = PageLanguage.allCases.filter { $0 != language }.map { other in
            "<a href=\"/app/prefs?lang=\(other.rawValue)&amp;back=\(back)\" lang=\"\(other.rawValue)\">\(other.ownName)</a>"
        }
        let size =
            frame.large
            ? "<a href=\"/app/prefs?size=normal&amp;back=\(back)\">\(PageText.normalText.text(language))</a>"
            : "<a href=\"/app/prefs?size=large&amp;back=\(back)\">\(PageText.largeText.text(language))</a>"
        var signOut = ""
        if let csrf = frame.csrf {
            signOut = """
                <form method="post" action="/app/logout"><input type="hidden" name="csrf" value="\(escape(csrf))">\
                <button type="submit">\(PageText.signOut.text(language))</button></form>
                """
        }
        return """
            <!doctype html>
            <html lang="\(language.rawValue)">
            <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(frame.title)) — \(PageText.appName.text(language))</title>
            <link rel="icon" href="/app/icon.svg" type="image/svg+xml">
            <link rel="stylesheet" href="/app/style.css"></head>
            <body class="\(frame.large ? "large" : "normal")">
            <header><p class="app">\(PageText.appName.text(language))</p>
            <nav aria-label="settings">\((switches + [size]).joined(separator: " "))\(signOut)</nav></header>
            <main>\(main)</main>
            </body></html>
            """
    }

    /// The pages' icon (a browser asks for one; without it every page logs a 404): a white heart on the header's blue.
    package static let icon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b3d62"/>\
        <path d="M16 26 6.5 16.5a5.5 5.5 0 0 1 7.8-7.8L16 10.4l1.7-1.7a5.5 5.5 0 0 1 7.8 7.8z" fill="#fff"/></svg>
        """

    /// The one stylesheet: system fonts, high contrast (WCAG AA and more), a visible focus ring, readable on a phone.
    package static let stylesheet = """
        :root { color-scheme: light; }
        body { font-family: system-ui, sans-serif; margin: 0; color: #111; background: #fff; line-height: 1.5;
          font-size: 1.05rem; }
        body.large { font-size: 1.45rem; }
        header { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: center; gap: .5em;
          padding: .5em 1em; background: #0b3d62; color: #fff; }
        header a, header button { color: #fff; }
        header .app { font-weight: bold; margin: 0; }
        nav { display: flex; gap: 1em; align-items: center; flex-wrap: wrap; }
        nav form { display: inline; margin: 0; }
        button { font: inherit; padding: .35em .9em; border-radius: .3em; border: 2px solid #0b3d62;
          background: #0b3d62; color: #fff; cursor: pointer; }
        header button { background: transparent; border-color: #fff; }
        select, input { font: inherit; padding: .3em; border: 2px solid #444; border-radius: .3em; }
        a:focus, button:focus, select:focus, input:focus { outline: 3px solid #f5a623; outline-offset: 2px; }
        main { max-width: 46em; margin: 0 auto; padding: 1em; }
        ul.attention { list-style: none; padding: 0; }
        ul.attention li { border-left: .4em solid #b3261e; background: #fdf3f2; padding: .6em .9em; margin: .8em 0; }
        ul.attention li.notice { border-color: #8a5a00; background: #fff7e6; }
        ul.attention h2 { font-size: 1.1em; margin: 0 0 .2em; }
        .done { border-left: .4em solid #1e6b34; background: #eef8f0; padding: .6em .9em; }
        .error { border-left: .4em solid #b3261e; background: #fdf3f2; padding: .6em .9em; }
        .ok { font-size: 1.1em; }
        label { display: block; margin: .6em 0 .2em; }
        nav.people ul { list-style: none; padding: 0; display: flex; gap: 1em; flex-wrap: wrap; }
        nav.people h2 { font-size: 1em; margin: 0; }
        .badge { font-size: .6em; vertical-align: middle; background: #8a5a00; color: #fff; padding: .15em .5em;
          border-radius: .3em; }
        figure { margin: 1.5em 0; }
        figure h2 { font-size: 1.15em; }
        svg.chart { width: 100%; height: auto; background: #fafafa; border: 1px solid #ccc; }
        table { border-collapse: collapse; }
        th, td { padding: .2em .7em; border-bottom: 1px solid #ddd; text-align: right; }
        .note { color: #5c3d00; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3em 1em; }
        dl.facts dt { font-weight: bold; }
        dl.facts dd { margin: 0; }
        ul.readings { list-style: none; padding: 0; }
        ul.readings li { padding: .3em .5em; border-bottom: 1px solid #ddd; }
        ul.readings li.doubtful { background: #fff7e6; border-left: .4em solid #8a5a00; }
        ul.readings .when { color: #444; }
        ul.readings .why { color: #5c3d00; font-weight: normal; }
        p.code { font-size: 1.5em; }
        .answers { display: flex; gap: .8em; flex-wrap: wrap; margin: .6em 0; }
        ul.sightings { list-style: none; padding: 0; }
        ul.sightings li { padding: .5em 0; border-bottom: 1px solid #ddd; }
        .line0 { color: #0b3d62; fill: #0b3d62; }
        .line1 { color: #b3261e; fill: #b3261e; }
        .line2 { color: #1e6b34; fill: #1e6b34; }
        .line3 { color: #6a3d9a; fill: #6a3d9a; }
        """
}
