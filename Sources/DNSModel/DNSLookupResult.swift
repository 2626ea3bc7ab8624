/// What one query produced. SPF needs the three outcomes apart: answers; a "void"
/// (NXDOMAIN, or NOERROR with no records of the type, which SPF counts against its
/// void-lookup limit, [RFC 7208 §4.6.4](https://www.rfc-editor.org/rfc/rfc7208#section-4.6.4));
/// and a temporary failure (timeout, SERVFAIL), which makes SPF answer temperror.
public enum DNSLookupResult<Record: Sendable>: Sendable {
    /// At least one record; `ttl` is the smallest TTL among them.
    case answer(records: [Record], ttl: UInt32)
    /// The name does not exist or has no records of the type.
    case void(DNSVoid)
    /// No usable answer this time.
    case failure(DNSError)

    /// The records, or `[]` for a void or a failure.
    public var records: [Record] {
        if case .answer(let records, _) = self { return records }
        return []
    }

    /// Converts the records; a void or failure passes through. Records the transform
    /// drops make an empty answer a no-data void.
    public func compactMap<Other: Sendable>(_ transform: (Record) -> Other?) -> DNSLookupResult<Other> {
        switch self {
        case .answer(let records, let ttl):
            let converted = records.compactMap(transform)
            return converted.isEmpty ? .void(DNSVoid(kind: .noData, negativeTTL: nil)) : .answer(records: converted, ttl: ttl)
        case .void(let void):
            return .void(void)
        case .failure(let error):
            return .failure(error)
        }
    }
}

/// A negative answer ([RFC 2308](https://www.rfc-editor.org/rfc/rfc2308)).
public struct DNSVoid: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// RCODE 3: the name does not exist.
        case nxdomain
        /// RCODE 0 with no records of the asked type.
        case noData
    }

    public var kind: Kind
    /// How long the negative answer may be cached: the smaller of the SOA record's TTL
    /// and its MINIMUM field (RFC 2308 §5), or `nil` when the response had no SOA, in
    /// which case it must not be cached.
    public var negativeTTL: UInt32?

    public init(kind: Kind, negativeTTL: UInt32?) {
        self.kind = kind
        self.negativeTTL = negativeTTL
    }
}

/// Why a query produced no usable answer. All of these are temporary for SPF.
public enum DNSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No server answered within the timeout, after all retries.
    case timedOut
    /// A server answered with an RCODE other than NOERROR or NXDOMAIN (SERVFAIL = 2,
    /// REFUSED = 5, …).
    case serverFailure(rcode: UInt8)
    /// The query could not be sent or the answer could not be read.
    case transport(String)
    /// The answer was malformed or did not match the query.
    case malformedResponse(String)
    /// A CNAME chain looped or was too long.
    case aliasLoop

    public var description: String {
        switch self {
        case .timedOut: return "timed out"
        case .serverFailure(let rcode): return "server failure (\(Self.rcodeName(rcode)))"
        case .transport(let detail): return "transport error: \(detail)"
        case .malformedResponse(let detail): return "malformed response: \(detail)"
        case .aliasLoop: return "CNAME loop"
        }
    }

    private static func rcodeName(_ rcode: UInt8) -> String {
        switch rcode {
        case 1: return "FORMERR"
        case 2: return "SERVFAIL"
        case 4: return "NOTIMP"
        case 5: return "REFUSED"
        default: return "RCODE \(rcode)"
        }
    }
}
