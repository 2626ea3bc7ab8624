/// A TLSA record ([RFC 6698 §2.1](https://www.rfc-editor.org/rfc/rfc6698#section-2.1)):
/// which certificate or key a TLS server at `_port._proto.host` must present.
/// The three parameters stay raw octets: values this code does not know make the
/// record "unusable" (RFC 7672 §3.1.3), not unreadable.
public struct TLSARecord: Sendable, Hashable, CustomStringConvertible {
    /// Certificate usage ([RFC 7218](https://www.rfc-editor.org/rfc/rfc7218) names).
    public enum Usage: UInt8, Sendable, Hashable {
        case pkixTA = 0, pkixEE = 1, daneTA = 2, daneEE = 3
    }

    /// What part of the certificate is matched.
    public enum Selector: UInt8, Sendable, Hashable {
        /// The whole certificate, DER.
        case certificate = 0
        /// The SubjectPublicKeyInfo, DER.
        case publicKey = 1
    }

    /// How the selected octets are compared with `data`.
    public enum MatchingType: UInt8, Sendable, Hashable {
        case full = 0, sha256 = 1, sha512 = 2
    }

    public var usage: UInt8
    public var selector: UInt8
    public var matchingType: UInt8
    /// The certificate association data.
    public var data: [UInt8]

    public init(usage: UInt8, selector: UInt8, matchingType: UInt8, data: [UInt8]) {
        self.usage = usage
        self.selector = selector
        self.matchingType = matchingType
        self.data = data
    }

    /// Reads the RDATA: three octets, then the association data (RFC 6698 §2.1).
    public init?(rdata: [UInt8]) {
        guard rdata.count > 3 else { return nil }
        self.init(usage: rdata[0], selector: rdata[1], matchingType: rdata[2], data: Array(rdata[3...]))
    }

    /// Presentation form, `3 1 1 ab12…` (RFC 6698 §2.2).
    public var description: String {
        "\(usage) \(selector) \(matchingType) " + data.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
