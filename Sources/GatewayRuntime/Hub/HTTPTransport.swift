import AsyncHTTPClient
import FHIR
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// The sync client's transport: one POST of a transaction Bundle over AsyncHTTPClient (HTTP/1.1 or HTTP/2, TLS
/// through the system's trust roots, or a destination's own `ca_file`; the server's name is verified either way), with a
/// timeout so a hung upstream counts as a failure and backs off.
package struct HTTPTransport: FHIRTransport {
    package let client: HTTPClient
    package var timeoutSeconds: Int64 = 30
    /// TLS trusting a destination's `ca_file`, by the host and port of its base and token URLs.
    private var trust: [String: TLSConfiguration] = [:]

    /// The sync client's HTTP client. It does not retry a refused connection itself: the outbox has its own backoff
    /// (each destination's `retry`), and AsyncHTTPClient's would hold every pass against a down upstream for its whole
    /// connect timeout (10 s) before saying "unreachable". A host that does not answer at all fails after 5 s.
    package static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    package init(client: HTTPClient, destinations: [SyncDestination] = []) throws {
        self.client = client
        for destination in destinations {
            guard let caFile = destination.caFile else { continue }
            var configuration = TLSConfiguration.makeClientConfiguration()
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw HTTPTransportError.unusableCAFile(destination: destination.name, path: caFile, reason: "\(error)")
            }
            for url in [destination.baseURL] + (destination.smart.map { [$0.tokenURL] } ?? []) {
                if let key = Self.origin(url) { trust[key] = configuration }
            }
        }
    }

    /// "host:port" of an http(s) URL.
    package static func origin(_ url: String) -> String? {
        guard let parsed = URL(string: url), let host = parsed.host else { return nil }
        return "\(host.lowercased()):\(parsed.port ?? (parsed.scheme == "https" ? 443 : 80))"
    }

    private func request(_ url: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        if let key = Self.origin(url), let configuration = trust[key] { request.tlsConfiguration = configuration }
        return request
    }

    package func post(_ body: [UInt8], to url: String, bearerToken: String?) async throws -> (
        status: Int, body: [UInt8]
    ) {
        var request = request(url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/fhir+json")
        request.headers.add(name: "Accept", value: "application/fhir+json")
        request.headers.add(name: "Prefer", value: "return=minimal")
        if let bearerToken { request.headers.add(name: "Authorization", value: "Bearer " + bearerToken) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(timeoutSeconds))
        let buffer = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), Array(buffer.readableBytesView))
    }

    package func postForm(_ form: [(String, String)], to url: String) async throws -> (status: Int, body: [UInt8]) {
        var request = request(url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        let response = try await client.execute(request, timeout: .seconds(timeoutSeconds))
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), Array(buffer.readableBytesView))
    }
}

package enum HTTPTransportError: Error, CustomStringConvertible {
    case unusableCAFile(destination: String, path: String, reason: String)

    package var description: String {
        switch self {
        case .unusableCAFile(let destination, let path, let reason):
            "sync destination \(destination): ca_file \(path) holds no usable PEM certificate (\(reason))"
        }
    }
}

/// `application/x-www-form-urlencoded` bodies: every byte but RFC 3986's unreserved ones percent-encoded (a space as
/// %20, which every decoder reads as a space, where '+' would not be read so by all).
package enum FormEncoding {
    package static func encode(_ form: [(String, String)]) -> String {
        var unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        unreserved.insert(charactersIn: "-._~")
        return form.map { name, value in
            (name.addingPercentEncoding(withAllowedCharacters: unreserved) ?? name) + "="
                + (value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value)
        }.joined(separator: "&")
    }
}
