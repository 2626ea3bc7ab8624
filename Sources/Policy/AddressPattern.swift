import SMTPCore

/// One entry of a sender or recipient list in a policy file:
/// - `alice@example.edu`: that address (case-insensitive);
/// - `@example.edu` or `example.edu`: any address at that domain;
/// - `.example.edu` or `@.example.edu`: any address at a subdomain of it;
/// - `<>`: the null sender of bounces;
/// - `*`: anything.
public struct AddressPattern: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case address(local: String, domain: String)
        case domain(String)
        case subdomains(String)
        case null
        case any
    }

    let kind: Kind
    public let description: String

    public init?(_ text: String) {
        description = text
        let lower = text.lowercased()
        if lower == "*" { kind = .any; return }
        if lower == "<>" { kind = .null; return }
        var domainPart = lower
        if let at = lower.lastIndex(of: "@") {
            let local = String(lower[..<at])
            domainPart = String(lower[lower.index(after: at)...])
            if !local.isEmpty {
                guard Self.isDomainText(domainPart) else { return nil }
                kind = .address(local: local, domain: Self.trimDot(domainPart))
                return
            }
        }
        if domainPart.hasPrefix(".") {
            let parent = String(domainPart.dropFirst())
            guard Self.isDomainText(parent) else { return nil }
            kind = .subdomains(Self.trimDot(parent))
        } else {
            guard Self.isDomainText(domainPart) else { return nil }
            kind = .domain(Self.trimDot(domainPart))
        }
    }

    /// One whole address (not a domain, `<>` or `*`).
    public var isAddress: Bool {
        if case .address = kind { return true }
        return false
    }

    public func matches(_ path: ReversePath) -> Bool {
        switch path {
        case .null: return kind == .null || kind == .any
        case .mailbox(let mailbox): return matches(mailbox)
        }
    }

    public func matches(_ path: ForwardPath) -> Bool {
        switch path {
        case .postmaster: return kind == .any
        case .mailbox(let mailbox): return matches(mailbox)
        }
    }

    public func matches(_ mailbox: Mailbox) -> Bool {
        let domain = mailbox.domain.normalized
        switch kind {
        case .any: return true
        case .null: return false
        case .address(let local, let patternDomain):
            return domain == patternDomain && mailbox.localPart.lowercased() == local
        case .domain(let patternDomain):
            return domain == patternDomain
        case .subdomains(let parent):
            return domain.hasSuffix("." + parent)
        }
    }

    private static func isDomainText(_ text: String) -> Bool {
        !text.isEmpty && !text.contains("@") && !text.contains(" ") && !text.hasPrefix(".")
    }

    private static func trimDot(_ text: String) -> String {
        text.hasSuffix(".") ? String(text.dropLast()) : text
    }
}

extension Array where Element == AddressPattern {
    public func matches(_ path: ReversePath) -> Bool { contains { $0.matches(path) } }
    public func matches(_ path: ForwardPath) -> Bool { contains { $0.matches(path) } }
}
