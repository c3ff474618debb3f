import Foundation
import Yams

/// A configuration error that names the key (as a dotted path) and the line it is on, so a person can find it.
package struct ConfigError: Error, CustomStringConvertible {
    package var file: String
    package var line: Int?
    package var key: String
    package var problem: String

    package var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(key.isEmpty ? "" : "'\(key)': ")\(problem)"
    }
}

/// One YAML node with its dotted path and line, read by typed accessors that fail with a `ConfigError`. A mapping
/// is read through `ConfigMapping`, which remembers which keys were read, so unknown keys are reported too.
package struct ConfigNode {
    package let node: Node
    package let path: String
    package let file: String

    package var line: Int? { node.mark?.line }

    package func error(_ problem: String) -> ConfigError {
        ConfigError(file: file, line: line, key: path, problem: problem)
    }

    package func string() throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node else { throw error("expected a text value, found \(kind)") }
        return scalar.string
    }

    package func int(_ range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
            throw error("expected a whole number, found \(kind)")
        }
        guard range.contains(value) else {
            throw error("\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    package func bool() throws(ConfigError) -> Bool {
        guard case .scalar(let scalar) = node else { throw error("expected true or false, found \(kind)") }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, found '\(scalar.string)'")
        }
    }

    /// A duration such as 500ms, 30s, 5m, 2h, 1d (or a plain number of seconds).
    package func seconds() throws(ConfigError) -> Double {
        let text = try string().trimmingCharacters(in: .whitespaces)
        if let seconds = DurationText.seconds(text) { return seconds }
        throw error("'\(text)' is not a duration like 500ms, 30s, 5m, 2h or 1d")
    }

    package func strings() throws(ConfigError) -> [String] {
        if case .scalar = node { return [try string()] }
        return try sequence().map { item throws(ConfigError) in try item.string() }
    }

    package func sequence() throws(ConfigError) -> [ConfigNode] {
        guard case .sequence(let items) = node else { throw error("expected a list, found \(kind)") }
        return items.enumerated().map { ConfigNode(node: $0.element, path: "\(path)[\($0.offset)]", file: file) }
    }

    package func mapping() throws(ConfigError) -> ConfigMapping {
        guard case .mapping(let pairs) = node else {
            throw error("expected a mapping (key: value lines), found \(kind)")
        }
        var entries: [(key: String, value: ConfigNode, line: Int?)] = []
        for (key, value) in pairs {
            guard case .scalar(let name) = key else {
                throw ConfigError(file: file, line: key.mark?.line, key: path, problem: "a key must be plain text")
            }
            let child = path.isEmpty ? name.string : path + "." + name.string
            entries.append((name.string, ConfigNode(node: value, path: child, file: file), key.mark?.line))
        }
        return ConfigMapping(entries: entries, node: self)
    }

    package var kind: String {
        switch node {
        case .scalar(let scalar): "'\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}

/// A mapping whose keys are taken one by one; `finish()` reports the first key nobody asked for.
package final class ConfigMapping {
    private let entries: [(key: String, value: ConfigNode, line: Int?)]
    private var taken: Set<String> = []
    package let node: ConfigNode

    package init(entries: [(key: String, value: ConfigNode, line: Int?)], node: ConfigNode) {
        self.entries = entries
        self.node = node
    }

    package var keys: [String] { entries.map(\.key) }

    package func optional(_ key: String) -> ConfigNode? {
        taken.insert(key)
        return entries.first { $0.key == key }?.value
    }

    package func required(_ key: String) throws(ConfigError) -> ConfigNode {
        guard let value = optional(key) else { throw node.error("the key '\(key)' is required here") }
        return value
    }

    /// Every entry, for maps keyed by name (subjects: alice: …).
    package func all() -> [(key: String, value: ConfigNode)] {
        for entry in entries { taken.insert(entry.key) }
        return entries.map { ($0.key, $0.value) }
    }

    package func finish() throws(ConfigError) {
        if let unknown = entries.first(where: { !taken.contains($0.key) }) {
            throw ConfigError(
                file: node.file, line: unknown.line, key: unknown.value.path,
                problem: "unknown key (known here: \(taken.sorted().joined(separator: ", ")))")
        }
    }
}
