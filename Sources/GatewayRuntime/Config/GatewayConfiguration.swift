import BLEGateway
import FHIR
import Foundation
import Provenance
import StreamEngine
import Yams

/// gatewayd's one configuration file (YAML). Every key is documented in README ("Configuration") and in
/// hw/gatewayd.yaml; unknown keys and wrong types are errors naming the key and its line. Secrets (API tokens,
/// destination credentials) may be given inline, or — better — as `{ env: NAME }` or `{ file: PATH }`.
package struct GatewayConfiguration: Sendable {
    package struct Subject: Sendable {
        package var id: String
        package var zone: TimeZone
        /// Home blood-pressure morning and evening windows (local "HH:MM-HH:MM"; shift workers need their own).
        package var windows = DayPartWindows.standard
        /// How the person is named on their Patient (optional: the local id is enough for the gateway).
        package var name: String?
        /// The person's identifiers (a PHR account, an insurance number), sent on their Patient everywhere.
        package var identifiers: [PatientIdentifier] = []
        /// A test person (`test: true`; the demo's): summaries made of test data, labelled HTEST, kept from any
        /// destination that does not take test data. A real person's summaries never include test data.
        package var test = false

        package var patient: PatientRecord {
            PatientRecord(subject: id, name: name, identifiers: identifiers, test: test)
        }
    }

    package struct DeviceMapping: Sendable {
        package var device: String
        package var user: UInt8?
        package var subject: String
    }

    package struct API: Sendable {
        package var listen = "127.0.0.1:8080"
        package var allowLoopback = false
        package var tokens: [APIToken] = []
        /// SMART Backend Services clients of a hub: each proves itself with its registered key at POST /auth/token.
        package var clients: [APIClient] = []
        /// Add the JP Core vital-signs category coding to vital-sign Observations.
        package var japaneseCoding = false
        /// Accept transaction Bundles at POST /fhir from home gateways (care-facility hub mode).
        package var hub = false
        /// `api.tls` (see `ListenerSecurity`).
        package var tls = TLSChoice.automatic
        /// `api.plain_http: true`: the operator wants plain HTTP off loopback, knowing tokens and readings cross the network in clear.
        package var plainHTTP = false
    }

    package var file: String
    package var dataDirectory: String
    package var gatewayID: String
    package var signingKeyFile: String?
    package var defaultZone: TimeZone

    package init(file: String, dataDirectory: String, gatewayID: String, signingKeyFile: String?, defaultZone: TimeZone)
    {
        (self.file, self.dataDirectory, self.gatewayID, self.signingKeyFile, self.defaultZone) =
            (file, dataDirectory, gatewayID, signingKeyFile, defaultZone)
    }
    package var subjects: [Subject] = []
    package var devices: [DeviceMapping] = []
    package var api = API()
    package var destinations: [SyncDestination] = []
    /// Simulated devices the daemon runs (no radio needed).
    package var simulatedDevices: [SimulatedDeviceSpec] = []
    /// Raw samples older than this are replaced by rollups (nil: kept forever).
    package var retentionRawAgeSeconds: Double?
    /// How long a notification (nobody confirms it) may wait to share its batch (`gateway.notification_linger`).
    package var notificationLingerSeconds = GatewayPipeline.defaultNotificationLingerSeconds
    /// The radio (nil: none; simulated devices only).
    package var bluetooth: BluetoothSettings?

    package func zone(for subject: String) -> TimeZone { subjects.first { $0.id == subject }?.zone ?? defaultZone }
    package var zones: [String: TimeZone] {
        Dictionary(subjects.map { ($0.id, $0.zone) }, uniquingKeysWith: { a, _ in a })
    }
    /// The test people (`subjects.<id>.test: true`).
    package var testSubjects: Set<String> { Set(subjects.filter(\.test).map(\.id)) }

    package static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> GatewayConfiguration
    {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw ConfigError(file: path, line: nil, key: "", problem: "cannot read the configuration file")
        }
        return try parse(text, file: path, environment: environment)
    }

    package static func parse(_ text: String, file: String, environment: [String: String]) throws(ConfigError)
        -> GatewayConfiguration
    {
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, line: nil, key: "", problem: "the file is empty")
            }
            root = composed
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw ConfigError(
                file: file, line: Self.line(of: error), key: "", problem: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw ConfigError(file: file, line: nil, key: "", problem: "not valid YAML: \(error)")
        }
        let base = URL(fileURLWithPath: file).deletingLastPathComponent().path
        let reader = Reader(file: file, base: base, environment: environment)
        return try reader.configuration(ConfigNode(node: root, path: "", file: file))
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): problem
        case .duplicatedKeysInMapping(let duplicates, _): "duplicated keys \(duplicates.joined(separator: ", "))"
        default: "\(error)"
        }
    }

    /// Reads the tree; relative paths are relative to the configuration file's folder.
    package struct Reader {
        package var file: String
        package var base: String
        package var environment: [String: String]

        package func path(_ node: ConfigNode) throws(ConfigError) -> String {
            let text = try node.string()
            guard !text.isEmpty else { throw node.error("a path may not be empty") }
            return text.hasPrefix("/") ? text : base + "/" + text
        }

        package func zone(_ node: ConfigNode) throws(ConfigError) -> TimeZone {
            let name = try node.string()
            guard let zone = TimeZone(identifier: name) else {
                throw node.error("'\(name)' is not an IANA time zone name (e.g. Asia/Tokyo)")
            }
            return zone
        }

        /// "HH:MM-HH:MM" (may wrap past midnight: 18:00-02:00).
        package func dayPart(_ node: ConfigNode) throws(ConfigError) -> DayPart {
            let text = try node.string()
            let ends = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
            guard ends.count == 2 else { throw node.error("'\(text)' is not a window like 04:00-11:00") }
            do { return try DayPart(start: ends[0], end: ends[1]) } catch { throw node.error("'\(text)': \(error)") }
        }

        /// A secret: inline text, `{ env: NAME }` or `{ file: PATH }` (its first line, without the newline).
        package func secret(_ node: ConfigNode) throws(ConfigError) -> String {
            if case .scalar = node.node { return try node.string() }
            let map = try node.mapping()
            let value: String
            if let name = map.optional("env") {
                let variable = try name.string()
                guard let found = environment[variable], !found.isEmpty else {
                    throw name.error("the environment variable \(variable) is not set")
                }
                value = found
            } else if let fileNode = map.optional("file") {
                let secretPath = try path(fileNode)
                guard let data = FileManager.default.contents(atPath: secretPath),
                    let text = String(data: data, encoding: .utf8)
                else {
                    throw fileNode.error("cannot read the secret file \(secretPath)")
                }
                value = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
                guard !value.isEmpty else { throw fileNode.error("the secret file \(secretPath) is empty") }
            } else {
                throw node.error("a secret is text, { env: NAME } or { file: PATH }")
            }
            try map.finish()
            return value
        }

        package func configuration(_ root: ConfigNode) throws(ConfigError) -> GatewayConfiguration {
            let map = try root.mapping()
            let dataDirectory = try path(try map.required("data_directory"))
            var gatewayID = ProcessInfo.processInfo.hostName
            var signingKey: String?
            var defaultZone = TimeZone.gmt
            var linger = GatewayPipeline.defaultNotificationLingerSeconds
            if let gateway = map.optional("gateway") {
                let g = try gateway.mapping()
                if let id = g.optional("id") { gatewayID = try id.string() }
                if let key = g.optional("signing_key_file") {
                    let text = try key.string()
                    signingKey = text.hasPrefix("/") ? text : dataDirectory + "/" + text
                }
                if let zoneNode = g.optional("time_zone") { defaultZone = try zone(zoneNode) }
                if let node = g.optional("notification_linger") {
                    linger = try node.seconds()
                    guard linger <= 60 else {
                        throw node.error("a notification may wait at most 60 s to share a batch, not \(linger) s")
                    }
                }
                try g.finish()
            }
            var configuration = GatewayConfiguration(
                file: file, dataDirectory: dataDirectory, gatewayID: gatewayID, signingKeyFile: signingKey,
                defaultZone: defaultZone)
            configuration.notificationLingerSeconds = linger
            if let subjects = map.optional("subjects") {
                for (id, value) in try subjects.mapping().all() {
                    let s = try value.mapping()
                    var subject = Subject(
                        id: id,
                        zone: try s.optional("time_zone").map { n throws(ConfigError) in try zone(n) } ?? defaultZone)
                    if let morning = s.optional("morning") { subject.windows.morning = try dayPart(morning) }
                    if let evening = s.optional("evening") { subject.windows.evening = try dayPart(evening) }
                    if let name = s.optional("name") { subject.name = try name.string() }
                    if let test = s.optional("test") { subject.test = try test.bool() }
                    if let identifiers = s.optional("identifiers") {
                        subject.identifiers = try identifiers.sequenceOrScalar().map { n throws(ConfigError) in
                            try identifier(n)
                        }
                    }
                    configuration.subjects.append(subject)
                    try s.finish()
                }
            }
            let known = Set(configuration.subjects.map(\.id))
            func subject(_ node: ConfigNode) throws(ConfigError) -> String {
                let id = try node.string()
                if id != "*", let problem = GatewayConfiguration.unknownSubject(id, among: known) {
                    throw node.error(problem)
                }
                return id
            }
            if let devices = map.optional("devices") {
                for item in try devices.sequence() {
                    let d = try item.mapping()
                    let user = try d.optional("user").map { n throws(ConfigError) in UInt8(try n.int(0...254)) }
                    configuration.devices.append(
                        DeviceMapping(
                            device: try d.required("device").string(), user: user,
                            subject: try subject(try d.required("subject"))))
                    try d.finish()
                }
            }
            if let api = map.optional("api") {
                let a = try api.mapping()
                if let listen = a.optional("listen") { configuration.api.listen = try listen.string() }
                if let loopback = a.optional("allow_loopback") { configuration.api.allowLoopback = try loopback.bool() }
                if let jp = a.optional("japanese_coding") { configuration.api.japaneseCoding = try jp.bool() }
                if let hub = a.optional("hub") { configuration.api.hub = try hub.bool() }
                if let tls = a.optional("tls") { configuration.api.tls = try tlsChoice(tls) }
                if let plain = a.optional("plain_http") { configuration.api.plainHTTP = try plain.bool() }
                if let tokens = a.optional("tokens") {
                    for item in try tokens.sequence() {
                        let t = try item.mapping()
                        let secretNode = try t.required("secret")
                        let secret = try self.secret(secretNode)
                        let scopesNode = try t.required("scopes")
                        let text =
                            secret.replacingOccurrences(of: "=", with: "") + "="
                            + (try scopesNode.strings()).joined(separator: ",")
                        do {
                            var token = try APIToken.parse(text)
                            token.secret = secret
                            if let name = t.optional("name") { token.name = try name.string() }
                            configuration.api.tokens.append(token)
                        } catch {
                            throw scopesNode.error("\(error)")
                        }
                        try t.finish()
                    }
                }
                if let clients = a.optional("clients") {
                    for item in try clients.sequence() {
                        let c = try item.mapping()
                        let id = try c.required("client_id").string()
                        let keyNode = try c.required("public_key_file")
                        let (keyPath, pem) = try pemFile(keyNode)
                        let key: ClientPublicKey
                        do { key = try ClientPublicKey(pem: pem) } catch { throw keyNode.error("\(keyPath): \(error)") }
                        let scopesNode = try c.required("scopes")
                        let scopes: [APIToken.Scope]
                        do {
                            scopes = try APIToken.parse("client=" + (try scopesNode.strings()).joined(separator: ","))
                                .scopes
                        } catch {
                            throw scopesNode.error("\(error)")
                        }
                        guard !configuration.api.clients.contains(where: { $0.id == id }) else {
                            throw item.error("two clients are named '\(id)'")
                        }
                        configuration.api.clients.append(APIClient(id: id, key: key, scopes: scopes))
                        try c.finish()
                    }
                }
                try a.finish()
            }
            if let sync = map.optional("sync") {
                for item in try sync.sequence() {
                    configuration.destinations.append(try destination(item, subject: subject, known: known))
                }
                let names = configuration.destinations.map(\.name)
                if let duplicate = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
                    throw sync.error("two destinations are named '\(duplicate)'")
                }
            }
            if let devices = map.optional("simulated_devices") {
                for (index, item) in try devices.sequence().enumerated() {
                    configuration.simulatedDevices.append(try simulatedDevice(item, index: index))
                }
            }
            if let bluetooth = map.optional("bluetooth") { configuration.bluetooth = try self.bluetooth(bluetooth) }
            if let retention = map.optional("retention") {
                let r = try retention.mapping()
                if let age = r.optional("raw_age") { configuration.retentionRawAgeSeconds = try age.seconds() }
                try r.finish()
            }
            try map.finish()
            return configuration
        }

        package func simulatedDevice(_ item: ConfigNode, index: Int) throws(ConfigError) -> SimulatedDeviceSpec {
            let d = try item.mapping()
            let kindNode = try d.required("kind")
            let kindText = try kindNode.string()
            guard let profile = HealthProfile.all.first(where: { $0.id == kindText }) else {
                throw kindNode.error(
                    "'\(kindText)' is not a simulated device kind (\(HealthProfile.all.map(\.id).joined(separator: ", ")))"
                )
            }
            var spec = SimulatedDeviceSpec(
                profile: profile,
                name: try d.optional("name").map { n throws(ConfigError) in try n.string() }
                    ?? "\(kindText)-\(index + 1)")
            spec.number = UInt64(index + 1)
            if let users = d.optional("users") {
                spec.users = try users.sequenceOrScalar().map { n throws(ConfigError) in UInt8(try n.int(0...254)) }
                guard !spec.users.isEmpty else { throw users.error("give at least one user ID") }
            }
            if let stored = d.optional("stored_readings") { spec.storedReadings = try stored.int(0...10_000) }
            if let battery = d.optional("battery_changed") { spec.batteryChanged = try battery.bool() }
            if let offset = d.optional("clock_offset") { spec.clockOffsetSeconds = try offset.seconds() }
            if let every = d.optional("measure_every") { spec.measureEverySeconds = max(0.1, try every.seconds()) }
            if let every = d.optional("notify_every") { spec.notifyEverySeconds = max(0.01, try every.seconds()) }
            if let seed = d.optional("seed") { spec.seed = UInt64(try seed.int(0...Int(Int32.max))) }
            if let userData = d.optional("user_data") { spec.userData = try userData.bool() }
            try d.finish()
            return spec
        }

        /// A PEM key file named at `node`, read whole (a key spans lines, where `secret` reads the first one).
        /// `tls: true | false | {certificate: FILE, key: FILE}` (relative paths: beside the configuration file).
        package func tlsChoice(_ node: ConfigNode) throws(ConfigError) -> TLSChoice {
            if case .scalar = node.node { return try node.bool() ? .generated : .off }
            let t = try node.mapping()
            let certificate = try path(try t.required("certificate"))
            let key = try path(try t.required("key"))
            try t.finish()
            return .files(certificate: certificate, key: key)
        }

        package func pemFile(_ node: ConfigNode) throws(ConfigError) -> (path: String, text: String) {
            let keyPath = try path(node)
            guard let data = FileManager.default.contents(atPath: keyPath) else {
                throw node.error("cannot read the key file \(keyPath)")
            }
            return (keyPath, String(decoding: data, as: UTF8.self))
        }

        /// `auth:` — SMART Backend Services: `token_url`, `client_id`, `key_file` (the PEM private key, P-384 for ES384 or
        /// RSA for RS384, read whole), optional `key_id` and `scope`.
        package func smartBackend(_ node: ConfigNode) throws(ConfigError) -> SMARTBackendSettings {
            let a = try node.mapping()
            let urlNode = try a.required("token_url")
            let tokenURL = try urlNode.string()
            guard let url = URL(string: tokenURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw urlNode.error("'\(tokenURL)' is not an http(s) URL of a token endpoint")
            }
            let clientID = try a.required("client_id").string()
            let keyNode = try a.required("key_file")
            let (keyPath, pem) = try pemFile(keyNode)
            let key: ClientKey
            do { key = try ClientKey(pem: pem) } catch { throw keyNode.error("\(keyPath): \(error)") }
            var settings = SMARTBackendSettings(tokenURL: tokenURL, clientID: clientID, key: key)
            if let kid = a.optional("key_id") { settings.keyID = try kid.string() }
            if let scope = a.optional("scope") { settings.scope = try scope.strings().joined(separator: " ") }
            try a.finish()
            return settings
        }

        /// "system|value", the system a URI: an identifier without a system would match the same value in any system.
        package func identifier(_ node: ConfigNode) throws(ConfigError) -> PatientIdentifier {
            let text = try node.string()
            guard let identifier = PatientIdentifier(token: text), identifier.system.contains(":") else {
                throw node.error(
                    "'\(text)' is not an identifier 'system|value' with a URI system, e.g. urn:oid:1.2.392.100495.20.3.51.1|12345678"
                )
            }
            return identifier
        }

        package func destination(
            _ item: ConfigNode, subject: (ConfigNode) throws(ConfigError) -> String, known: Set<String>
        ) throws(ConfigError) -> SyncDestination {
            let d = try item.mapping()
            let nameNode = try d.required("name")
            let name = try nameNode.string()
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw nameNode.error("a destination name is letters, digits, '-', '_' or '.'")
            }
            let urlNode = try d.required("url")
            let urlText = try urlNode.string()
            guard let url = URL(string: urlText), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw urlNode.error("'\(urlText)' is not an http(s) base URL such as https://phr.example/fhir")
            }
            var destination = SyncDestination(
                name: name, baseURL: urlText.hasSuffix("/") ? String(urlText.dropLast()) : urlText)
            let plainHTTP = try d.optional("plain_http").map { n throws(ConfigError) in try n.bool() } ?? false
            if url.scheme == "http", !ListenerSecurity.isLoopback(host: url.host ?? ""), !plainHTTP {
                throw urlNode.error(
                    "'\(urlText)' is plain HTTP to another machine: bearer tokens and readings would cross the network in clear "
                        + "text. Use https:// (with ca_file for a server with its own certificate), or write plain_http: true if "
                        + "that is really what you want.")
            }
            if let caNode = d.optional("ca_file") {
                let caPath = try path(caNode)
                guard url.scheme == "https" else { throw caNode.error("ca_file is for an https:// destination") }
                guard FileManager.default.isReadableFile(atPath: caPath) else {
                    throw caNode.error("\(caPath) does not exist or cannot be read")
                }
                destination.caFile = caPath
            }
            if let token = d.optional("token") { destination.bearerToken = try secret(token) }
            if let auth = d.optional("auth") {
                guard destination.bearerToken == nil else {
                    throw auth.error("give either token (a static bearer token) or auth, not both")
                }
                destination.smart = try smartBackend(auth)
            }
            if let test = d.optional("test_data") { destination.testData = try test.bool() }
            if let interval = d.optional("interval") { destination.intervalSeconds = max(0.05, try interval.seconds()) }
            if let batch = d.optional("batch_size") { destination.batchSize = try batch.int(1...1000) }
            if let patients = d.optional("patients") {
                for (id, value) in try patients.mapping().all() {
                    if let problem = GatewayConfiguration.unknownSubject(id, among: known) {
                        throw value.error(problem)
                    }
                    destination.patientIdentifiers[id] = try identifier(value)
                }
            }
            if let retry = d.optional("retry") {
                let r = try retry.mapping()
                if let initial = r.optional("initial") {
                    destination.retryInitialSeconds = max(0.01, try initial.seconds())
                }
                if let maximum = r.optional("maximum") {
                    destination.retryMaximumSeconds = max(0.01, try maximum.seconds())
                }
                try r.finish()
            }
            let share = try d.required("share")
            for ruleNode in try share.sequence() {
                let r = try ruleNode.mapping()
                let subjectsNode = try r.required("subjects")
                let subjects = try subjectsNode.sequenceOrScalar().map { n throws(ConfigError) in try subject(n) }
                let kindsNode = try r.required("metrics")
                var kinds: Set<ReadingKind> = []
                for kindNode in try kindsNode.sequenceOrScalar() {
                    let text = try kindNode.string()
                    if text == "*" {
                        kinds.formUnion(ReadingKind.allCases)
                    } else if let kind = ReadingKind(rawValue: text) {
                        kinds.insert(kind)
                    } else {
                        throw kindNode.error(
                            "'\(text)' is not a metric (\(ReadingKind.allCases.map(\.rawValue).joined(separator: ", ")) or *)"
                        )
                    }
                }
                let raw = try r.optional("raw").map { n throws(ConfigError) in try n.bool() } ?? false
                destination.rules.append(SharingRule(subjects: Set(subjects), kinds: kinds, raw: raw))
                try r.finish()
            }
            guard !destination.rules.isEmpty else {
                throw share.error("a destination needs at least one sharing rule; nothing else leaves")
            }
            try d.finish()
            return destination
        }
    }
}

extension ConfigNode {
    /// A list, or a single value standing for a list of one.
    package func sequenceOrScalar() throws(ConfigError) -> [ConfigNode] {
        if case .scalar = node { return [self] }
        return try sequence()
    }
}

extension GatewayConfiguration {
    /// Why `id` cannot be named as a person here — it is not one of the configured subjects — or nil when it can
    /// (it is one, or no subjects are configured).
    package func unknownSubject(_ id: String) -> String? { Self.unknownSubject(id, among: Set(subjects.map(\.id))) }

    package static func unknownSubject(_ id: String, among known: Set<String>) -> String? {
        guard !known.isEmpty, !known.contains(id) else { return nil }
        return "'\(id)' is not one of the subjects (\(known.sorted().joined(separator: ", ")))"
    }
}
