/// A listen address that could not be read, with what was expected.
package struct ListenAddressError: Error, CustomStringConvertible {
    package var description: String
}

/// Where the API listens: "HOST:PORT".
package enum ListenAddress {
    /// "127.0.0.1:8080", "[::1]:8080", "localhost:8080".
    package static func parse(_ text: String) throws(ListenAddressError) -> (host: String, port: Int) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[close...].dropFirst().drop { $0 == ":" }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            throw ListenAddressError(description: "--listen '\(text)': expected HOST:PORT, e.g. 127.0.0.1:8080")
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else {
            throw ListenAddressError(description: "--listen '\(text)': expected HOST:PORT with a port 0-65535")
        }
        return (String(host), port)
    }
}
