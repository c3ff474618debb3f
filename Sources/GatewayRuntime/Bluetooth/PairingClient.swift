import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// `gatewayd pair` while the daemon runs: the daemon holds the radio and the store, so the command asks the daemon's
/// pairing (`/app/api/pairing`) to do each step, on loopback, with a token of the configuration that may pair.
package struct PairingClient: Sendable {
    package let client: HTTPClient
    package let base: String
    package let authorization: String?

    /// The running daemon's pairing, as the configuration says where its API listens.
    package static func forDaemon(_ configuration: GatewayConfiguration) throws -> PairingClient {
        let (host, port) = try ListenAddress.parse(configuration.api.listen)
        let security = try ListenerSecurity.resolve(
            choice: configuration.api.tls, plainHTTP: configuration.api.plainHTTP, listen: configuration.api.listen,
            host: host, dataDirectory: configuration.dataDirectory)
        let token = configuration.api.tokens.first(where: \.mayPair)
        guard token != nil || configuration.api.allowLoopback else {
            throw PairingFailure(
                description: "the daemon is running and pairs itself, but the configuration has no API token that may "
                    + "pair (scopes: [system/Device.write]) and api.allow_loopback is false: add one, or stop the daemon"
            )
        }
        // The daemon listens on every address or on one; this command runs on the same machine.
        let local = ["0.0.0.0", "::", "*", ""].contains(host) ? "127.0.0.1" : host
        let client: HTTPClient
        if case .tls(let certificate, _, _) = security {
            var tls = TLSConfiguration.makeClientConfiguration()
            // Its own certificate, which this machine holds: no name to check on loopback.
            tls.trustRoots = .file(certificate)
            tls.certificateVerification = .noHostnameVerification
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            configuration.timeout.read = .seconds(60)
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        } else {
            var configuration = HTTPClient.Configuration()
            configuration.timeout.read = .seconds(60)
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        }
        let bracketed = local.contains(":") ? "[\(local)]" : local
        return PairingClient(
            client: client, base: "\(security.scheme)://\(bracketed):\(port)/app/api/pairing",
            authorization: token.map { "Bearer \($0.secret)" })
    }

    package func shutdown() async { try? await client.shutdown() }

    /// The status once it changed past `version` (the daemon waits up to 25 s, then answers with no change).
    package func status(after version: Int) async throws -> PairingStatusMessage {
        try await send(HTTPClientRequest(url: base + "?after=\(version)"))
    }

    /// One step: scan, choose, answer, whose or cancel.
    package func post(_ action: String, _ message: PairingRequestMessage) async throws -> PairingStatusMessage {
        var request = HTTPClientRequest(url: base + "/" + action)
        request.method = .POST
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        request.body = .bytes(ByteBuffer(bytes: try encoder.encode(message)))
        request.headers.add(name: "Content-Type", value: "application/json")
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest) async throws -> PairingStatusMessage {
        var request = request
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(60))
        } catch {
            throw PairingFailure(description: "the running daemon's pairing could not be reached at \(base): \(error)")
        }
        let body = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard response.status == .ok else {
            let problem = (try? decoder.decode([String: String].self, from: body))?["error"] ?? "\(response.status)"
            throw PairingFailure(description: "the daemon refused: \(problem)")
        }
        return try decoder.decode(PairingStatusMessage.self, from: body)
    }
}
