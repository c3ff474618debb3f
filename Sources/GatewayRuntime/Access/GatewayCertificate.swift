import Crypto
import Foundation
import SwiftASN1
import X509

/// The certificate a gateway makes for itself on first start when its API listens off loopback and the operator gave
/// none: self-signed (a home has no CA), P-256, valid ten years, naming every way a phone or a home gateway on the
/// network may reach it (localhost, the host name and its .local name, every interface address), so a client that pins
/// it — by the SHA-256 fingerprint `gatewayd status` shows, or as a sync destination's `ca_file` — also verifies the name.
package struct GatewayCertificate {
    package var certificatePEM: String
    package var privateKeyPEM: String

    package static func make(names: [String], addresses: [String], now: Date = Date()) throws -> GatewayCertificate {
        let key = P256.Signing.PrivateKey()
        let commonName = names.first(where: { $0 != "localhost" }) ?? "gatewayd"
        let name = try DistinguishedName {
            OrganizationName("gatewayd")
            CommonName(commonName)
        }
        var alternatives: [GeneralName] = names.map { .dnsName($0) }
        alternatives += addresses.compactMap {
            IPAddressBytes.parse($0).map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365.25 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                // Its own issuer: a client that trusts it checks it as the issuer of itself, which a key usage without
                // keyCertSign forbids (BoringSSL: CERTIFICATE_VERIFY_FAILED), so it names none; it is no CA for others.
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(alternatives)
            },
            issuerPrivateKey: .init(key))
        return GatewayCertificate(
            certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }

    /// The SHA-256 of the first certificate's DER bytes, as colon-separated upper-case hex (what browsers and phones show).
    package static func fingerprint(pem: String) throws -> String {
        let certificate = try Certificate(pemEncoded: pem)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// The names and addresses of this machine: what the generated certificate lists.
    package static func localNames(listenHost: String) -> (names: [String], addresses: [String]) {
        var names = ["localhost"]
        let host = ProcessInfo.processInfo.hostName
        if !host.isEmpty, host != "localhost" {
            names.append(host)
            if !host.contains(".") { names.append(host + ".local") }
        }
        var addresses = ["127.0.0.1", "::1"]
        for address in Host.current().addresses where !address.contains("%") && !addresses.contains(address) {
            addresses.append(address)
        }
        if IPAddressBytes.parse(listenHost) != nil {
            if !["0.0.0.0", "::"].contains(listenHost), !addresses.contains(listenHost) {
                addresses.append(listenHost)
            }
        } else if !names.contains(listenHost) {
            names.append(listenHost)
        }
        return (names, addresses)
    }
}

/// An IPv4 or IPv6 address in text as the 4 or 16 bytes a certificate's iPAddress name holds.
package enum IPAddressBytes {
    package static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
