import Foundation
import NIOSSL

/// What the configuration asks of the API's transport (`api.tls`, `api.plain_http`).
package enum TLSChoice: Sendable, Equatable {
    /// No `tls:`: TLS with the gateway's own certificate when the API listens off loopback, plain HTTP on loopback.
    case automatic
    /// `tls: true`: TLS with the gateway's own certificate, wherever it listens.
    case generated
    /// `tls: {certificate, key}`: the operator's PEM files.
    case files(certificate: String, key: String)
    /// `tls: false`: plain HTTP (off loopback only with `plain_http: true`).
    case off
}

/// How the API (and a hub's upload endpoint, the same listener) speaks: TLS, or plain HTTP where nobody else can listen.
///
/// Bearer tokens and readings must not cross a network in clear text: off loopback the API speaks TLS unless the
/// operator wrote `plain_http: true`. With no certificate given the gateway makes a self-signed one once
/// (DATA/tls/), which a phone or a home gateway pins by the fingerprint `gatewayd status` shows.
package enum ListenerSecurity: Sendable, Equatable {
    case plain
    case tls(certificateFile: String, keyFile: String, generated: Bool)

    package var scheme: String { if case .tls = self { "https" } else { "http" } }

    package static func generatedCertificateFile(data: String) -> String { data + "/tls/certificate.pem" }
    package static func generatedKeyFile(data: String) -> String { data + "/tls/key.pem" }

    /// 127.0.0.0/8, ::1 and localhost: nobody else on the network can reach (or read) these.
    package static func isLoopback(host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.") || host == "::ffff:127.0.0.1"
    }

    /// What `choice` means for a listener on `host`; fails, naming the setting, where it would put tokens on the network
    /// in clear text or where the operator's files are missing.
    package static func resolve(
        choice: TLSChoice, plainHTTP: Bool, listen: String, host: String, dataDirectory: String
    ) throws(ListenerSecurityError) -> ListenerSecurity {
        let loopback = isLoopback(host: host)
        switch choice {
        case .automatic:
            if loopback || plainHTTP { return .plain }
            return .tls(
                certificateFile: generatedCertificateFile(data: dataDirectory),
                keyFile: generatedKeyFile(data: dataDirectory), generated: true)
        case .off:
            guard loopback || plainHTTP else { throw .plainOffLoopback(listen: listen) }
            return .plain
        case .generated:
            return .tls(
                certificateFile: generatedCertificateFile(data: dataDirectory),
                keyFile: generatedKeyFile(data: dataDirectory), generated: true)
        case .files(let certificate, let key):
            for (setting, path) in [("api.tls.certificate", certificate), ("api.tls.key", key)]
            where !FileManager.default.isReadableFile(atPath: path) {
                throw .missingFile(setting: setting, path: path)
            }
            return .tls(certificateFile: certificate, keyFile: key, generated: false)
        }
    }

    /// Makes the gateway's own certificate if it is to be used and does not exist yet (the key readable by its owner only).
    package func prepare(listenHost: String) throws(ListenerSecurityError) {
        guard case .tls(let certificateFile, let keyFile, true) = self,
            !FileManager.default.fileExists(atPath: certificateFile) || !FileManager.default.fileExists(atPath: keyFile)
        else { return }
        do {
            let (names, addresses) = GatewayCertificate.localNames(listenHost: listenHost)
            let made = try GatewayCertificate.make(names: names, addresses: addresses)
            let directory = (certificateFile as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            guard
                FileManager.default.createFile(
                    atPath: keyFile, contents: Data(made.privateKeyPEM.utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw CocoaError(.fileWriteUnknown)
            }
            try Data(made.certificatePEM.utf8).write(to: URL(fileURLWithPath: certificateFile), options: .atomic)
        } catch {
            throw .cannotMakeCertificate(path: certificateFile, reason: "\(error)")
        }
    }

    /// The server side's TLS configuration (nil: plain HTTP).
    package func serverConfiguration() throws(ListenerSecurityError) -> TLSConfiguration? {
        guard case .tls(let certificateFile, let keyFile, _) = self else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
            let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        } catch {
            throw .unusableFiles(certificate: certificateFile, key: keyFile, reason: "\(error)")
        }
    }

    /// The SHA-256 fingerprint of the certificate in use (nil: plain HTTP, or the file cannot be read).
    package var fingerprint: String? {
        guard case .tls(let certificateFile, _, _) = self,
            let pem = try? String(contentsOfFile: certificateFile, encoding: .utf8)
        else { return nil }
        return try? GatewayCertificate.fingerprint(pem: pem)
    }
}

package enum ListenerSecurityError: Error, CustomStringConvertible {
    case plainOffLoopback(listen: String)
    case missingFile(setting: String, path: String)
    case cannotMakeCertificate(path: String, reason: String)
    case unusableFiles(certificate: String, key: String, reason: String)

    package var description: String {
        switch self {
        case .plainOffLoopback(let listen):
            "api.listen \(listen) is reachable from the network, and with tls: false bearer tokens and readings would cross it in "
                + "clear text. Remove tls: false (the gateway then makes its own certificate), give api.tls.certificate and "
                + "api.tls.key, or write plain_http: true if plain HTTP there is really what you want."
        case .missingFile(let setting, let path): "\(setting): \(path) does not exist or cannot be read"
        case .cannotMakeCertificate(let path, let reason):
            "could not make the gateway's TLS certificate at \(path): \(reason)"
        case .unusableFiles(let certificate, let key, let reason):
            "the TLS certificate \(certificate) and key \(key) cannot be used (\(reason)); they must be PEM files of one pair"
        }
    }
}

extension GatewayConfiguration {
    /// The API's address and transport, with the gateway's own certificate made if it is to be used and is missing.
    package func apiListener() throws -> (host: String, port: Int, security: ListenerSecurity) {
        let (host, port) = try ListenAddress.parse(api.listen)
        let security = try ListenerSecurity.resolve(
            choice: api.tls, plainHTTP: api.plainHTTP, listen: api.listen, host: host, dataDirectory: dataDirectory)
        try security.prepare(listenHost: host)
        return (host, port, security)
    }
}
