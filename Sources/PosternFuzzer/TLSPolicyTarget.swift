// The outbound TLS policy parsers: the MTA-STS TXT record and policy file
// (RFC 8461 §3.1, §3.2) and the ServerHello reader that finds the cipher
// suite for the delivery log. Invariants:
// - a policy that parses has max_age in 0…31557600, an mx list unless its
//   mode is none, and comes back equal through the on-disk cache file;
// - each mx pattern matches a host one label below it (wildcard) or its
//   own name (not wildcard), and never its own domain when it is a wildcard;
// - a record that parses renders as "v=STSv1; id=…" and parses back to the
//   same id;
// - the ServerHello reader gives the same answer fed byte by byte as at
//   once, and never wants more than 78 octets.
import Foundation
@testable import MTASTS
import NIOCore
@testable import Delivery

enum TLSPolicyTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let input = Array(bytes)
        let text = String(decoding: input, as: UTF8.self)
        if let policy = try? MTASTSPolicy.parse(text) {
            invariant((0...31_557_600).contains(policy.maxAge), "max_age \(policy.maxAge)")
            invariant(policy.mode == .none || !policy.mx.isEmpty, "no mx in \(policy.mode)")
            let cached = CachedPolicy(policy: policy, id: "fuzz1", fetched: Date(timeIntervalSince1970: 1_796_598_410))
            let file = MTASTSCacheFile.encode(cached)
            let again = MTASTSCacheFile.decode(file)
            invariant(again == cached, "cache file \(file) reads back as \(String(describing: again))")
            for pattern in policy.mx {
                if pattern.isWildcard {
                    invariant(pattern.matches("mx." + pattern.domain) && !pattern.matches(pattern.domain),
                              "wildcard \(pattern)")
                } else {
                    invariant(pattern.matches(pattern.domain.uppercased()), "pattern \(pattern)")
                }
            }
        }
        if let record = try? MTASTSRecord.parse(text) {
            invariant(record.description == "v=STSv1; id=\(record.id)", "record renders as \(record.description)")
            invariant((try? MTASTSRecord.parse(record.description))?.id == record.id, "record \(record.id)")
        }
        let whole = TLSServerHelloReader.parse(Array(input.prefix(TLSServerHelloReader.maximumNeeded)))
        var reader = TLSServerHelloReader()
        var drip: TLSServerHelloReader.Result?
        var fed = 0
        for byte in input where drip == nil {
            drip = reader.feed(ByteBuffer(bytes: [byte]).readableBytesView)
            fed += 1
        }
        invariant(drip == whole, "byte by byte \(String(describing: drip)), at once \(String(describing: whole))")
        invariant(drip == nil || fed <= TLSServerHelloReader.maximumNeeded, "wanted \(fed) octets")
        invariant(drip != nil || input.count < TLSServerHelloReader.maximumNeeded, "undecided after \(input.count)")
    }
}
