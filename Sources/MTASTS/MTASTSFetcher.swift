import AsyncHTTPClient
import DNSModel
import Foundation
import Logging
import NIOCore
import NIOSSL

/// Why a policy could not be fetched (RFC 8461 §3.3); the domain is then
/// treated as having no policy unless a fresh one is cached (§5.1).
public enum MTASTSFetchError: Error, Sendable, Hashable, CustomStringConvertible {
    case badDomain(String)
    /// `mta-sts.<domain>` has no address, or the look-up failed.
    case noAddress(String)
    /// Connection, TLS (certificate not valid for the name) or HTTP failure.
    case transport(String)
    /// §3.3: only 200 counts; redirects are not followed.
    case status(Int)
    /// §3.3: the media type must be text/plain.
    case contentType(String)
    case tooLarge
    case policy(MTASTSPolicyError)

    public var description: String {
        switch self {
        case .badDomain(let domain): return "bad domain name \(domain)"
        case .noAddress(let detail): return "no address: \(detail)"
        case .transport(let detail): return "HTTPS: \(detail)"
        case .status(let code): return "HTTP status \(code) (200 needed, redirects not followed)"
        case .contentType(let type): return "content type '\(type)' (text/plain needed)"
        case .tooLarge: return "policy larger than \(MTASTSFetcher.Settings.maximumSize) octets"
        case .policy(let error): return "\(error)"
        }
    }
}

/// Fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt`. The host is
/// resolved with Postern's resolver and async-http-client connects to that
/// address (`dnsOverride`), while SNI, the Host header and the certificate
/// check use the name: the HTTP client never resolves a name itself.
public struct MTASTSFetcher: Sendable {
    public struct Settings: Sendable, Hashable {
        /// 443; tests serve the policy on a high port.
        public var port = 443
        /// PEM trust roots; nil: the system's.
        public var trustRootsFile: String?
        /// For connecting and for the whole answer (§3.3 suggests about a minute at most).
        public var timeout: TimeAmount = .seconds(20)
        /// §3.3: senders may limit the policy's size; 64 KiB as Postfix's resolver does.
        public static let maximumSize = 64 * 1024

        public init(port: Int = 443, trustRootsFile: String? = nil, timeout: TimeAmount = .seconds(20)) {
            self.port = port
            self.trustRootsFile = trustRootsFile
            self.timeout = timeout
        }
    }

    let resolver: any DNSResolver
    let group: EventLoopGroup
    public let settings: Settings

    public init(resolver: any DNSResolver, group: EventLoopGroup, settings: Settings = Settings()) {
        self.resolver = resolver
        self.group = group
        self.settings = settings
    }

    /// The policy's URL for `domain` (the port only when it is not 443).
    public func url(domain: String) -> String {
        let host = "mta-sts." + domain.lowercased()
        return "https://\(host)\(settings.port == 443 ? "" : ":\(settings.port)")/.well-known/mta-sts.txt"
    }

    public func fetch(domain: String) async throws(MTASTSFetchError) -> MTASTSPolicy {
        let host = "mta-sts." + domain.lowercased()
        guard let name = DNSName(host) else { throw .badDomain(domain) }
        let addresses = await resolve(name)
        guard !addresses.isEmpty else { throw .noAddress(host) }
        var lastError = MTASTSFetchError.noAddress(host)
        for address in addresses {
            do {
                return try await fetch(host: host, address: address)
            } catch {
                // A policy the server did give is the answer; only transport problems try the next address.
                guard case .transport = error else { throw error }
                lastError = error
            }
        }
        throw lastError
    }

    private func resolve(_ name: DNSName) async -> [String] {
        async let v4 = resolver.lookupA(name)
        async let v6 = resolver.lookupAAAA(name)
        let (a, aaaa) = await (v4, v6)
        return a.records.map(\.description) + aaaa.records.map(\.description)
    }

    private func fetch(host: String, address: String) async throws(MTASTSFetchError) -> MTASTSPolicy {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        tls.minimumTLSVersion = .tlsv12
        if let file = settings.trustRootsFile { tls.trustRoots = .file(file) }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow,
                                                     timeout: .init(connect: settings.timeout, read: settings.timeout))
        configuration.dnsOverride = [host: address]
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        let result: Result<MTASTSPolicy, MTASTSFetchError>
        do {
            result = .success(try await get(client, url(domain: String(host.dropFirst("mta-sts.".count)))))
        } catch let error as MTASTSFetchError {
            result = .failure(error)
        } catch {
            result = .failure(.transport("\(error)"))
        }
        try? await client.shutdown()
        return try result.get()
    }

    private func get(_ client: HTTPClient, _ url: String) async throws -> MTASTSPolicy {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "postern-mta-sts")
        let response = try await client.execute(request, timeout: settings.timeout)
        guard response.status.code == 200 else { throw MTASTSFetchError.status(Int(response.status.code)) }
        let type = response.headers.first(name: "content-type") ?? ""
        let mediaType = type.split(separator: ";").first.map { $0.trimmingWSP.lowercased() } ?? ""
        guard mediaType == "text/plain" else { throw MTASTSFetchError.contentType(type) }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: Settings.maximumSize)
        } catch is NIOTooManyBytesError {
            throw MTASTSFetchError.tooLarge
        }
        do {
            return try MTASTSPolicy.parse(String(decoding: body.readableBytesView, as: UTF8.self))
        } catch {
            throw MTASTSFetchError.policy(error)
        }
    }
}
