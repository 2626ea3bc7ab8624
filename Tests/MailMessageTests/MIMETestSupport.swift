import MailMessage

/// Test text is written with "\n"; messages on the wire use CRLF.
func messageBytes(_ text: String) -> [UInt8] {
    Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
}

extension MIMEPart {
    /// A compact picture of the tree, e.g. "multipart/mixed[text/plain,image/png]".
    var shape: String {
        children.isEmpty
            ? contentType.mimeType
            : contentType.mimeType + "[" + children.map(\.shape).joined(separator: ",") + "]"
    }

    /// Defects of the whole subtree as "path:defect" strings.
    var defectSummary: [String] {
        allParts.flatMap { part in part.defects.map { "\(part.pathString):\($0)" } }
    }

    var depth: Int {
        var deepest = 0
        for part in allParts { deepest = max(deepest, part.path.count) }
        return deepest
    }
}

/// A deterministic generator (SplitMix64) so random tests can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Samples {
    /// Two levels of multipart, an attachment named with RFC 2231
    /// continuations, and a forwarded message carrying an executable.
    static let nested = messageBytes("""
    From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>
    To: Ops <ops@example.net>, =?ISO-8859-1?Q?Ren=E9?= <rene@example.org>
    Subject: =?UTF-8?B?R3LDvMOfZQ==?= and =?utf-8?q?forwarded?=
     =?utf-8?q?_mail?=
    Date: Fri, 27 Nov 2026 21:15:16 +0000
    Message-ID: <nested.1@example.de>
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="outer"

    This is the preamble.
    --outer
    Content-Type: multipart/alternative; boundary=inner

    --inner
    Content-Type: text/plain; charset=utf-8
    Content-Transfer-Encoding: quoted-printable

    Gr=C3=BC=C3=9Fe aus K=C3=B6ln, a long line with a soft =
    break.
    --inner
    Content-Type: text/html; charset="iso-8859-1"

    <p>Gr&uuml;&szlig;e</p>
    --inner--
    --outer
    Content-Type: application/pdf
    Content-Transfer-Encoding: base64
    Content-Disposition: attachment;
     filename*0*=UTF-8''%E2%82%AC%20rates%20;
     filename*1="for 2026.pdf"

    JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K
    --outer
    Content-Type: message/rfc822
    Content-Disposition: inline

    From: Mallory <m@example.com>
    Subject: =?koi8-r?b?8NLJ18XUIM3J0g==?=
    Content-Type: multipart/mixed; boundary=fwd

    --fwd
    Content-Type: text/plain

    see attached
    --fwd
    Content-Type: application/octet-stream; name="=?UTF-8?B?w5xiZXJ3ZWlzdW5nLmV4ZQ==?="
    Content-Transfer-Encoding: base64

    TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
    --fwd--
    --outer--
    epilogue
    """)
}
