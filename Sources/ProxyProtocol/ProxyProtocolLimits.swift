/// Every limit of the PROXY protocol reader in one place.
public enum ProxyProtocolLimits {
    /// The longest v1 line including CRLF (spec §2.1: "PROXY UNKNOWN" with
    /// two full IPv6 addresses and ports).
    public static let maxV1LineLength = 107
    /// The fixed part of a v2 header: signature, version/command, family, length.
    public static let v2FixedLength = 16
    /// TLV octets accepted after the addresses of a v2 header. The format
    /// allows 64 KiB; load balancers send a few hundred octets (ALPN,
    /// authority, TLS details, a unique ID of at most 128), so more is refused
    /// rather than buffered.
    public static let maxV2TLVLength = 2048
    /// How long a connection may take to send its header before it is closed
    /// (the SMTP greeting waits for it).
    public static let headerTimeoutSeconds: Int64 = 10
}
