import IMAPCore
import SMTPCore

/// AUTHORIZATION (RFC 1939 §4, §7): USER/PASS, AUTH PLAIN (RFC 5034), STLS
/// (RFC 2595), and the outcomes of the password check and maildrop lock.
extension POP3Session {
    static let plaintextRefused = POP3Reply.err(
        "Plaintext authentication disallowed on non-secure connections, use STLS", code: .auth)
    static let authenticationFailed = POP3Reply.err("Authentication failed", code: .auth)

    mutating func authorization(_ command: POP3Command, user: String?) -> Action {
        switch command {
        case .capa:
            return .listing(capabilities)
        case .quit:
            setState(.closed)
            return .close(.ok("\(configuration.hostname) POP3 server signing off"))
        case .stls:
            guard configuration.tlsAvailable else { return badCommand(.err("STLS not available")) }
            guard !tlsActive else { return badCommand(.err("Already using TLS")) }
            setState(.authorization(user: nil))
            return .startTLS(.ok("Begin TLS negotiation"))
        case .user(let name):
            guard authAllowed else { return .reply(Self.plaintextRefused) }
            setState(.authorization(user: name))
            return .reply(.ok("Send PASS"))
        case .pass(let password):
            guard authAllowed else { return .reply(Self.plaintextRefused) }
            guard let user else { return badCommand(.err("Send USER first")) }
            return verify(SASLCredentials(user: user, password: String(decoding: password.bytes, as: UTF8.self)))
        case .auth(nil, _):
            return .listing(POP3Listing(.ok("Mechanisms follow"), lines: authAllowed ? ["PLAIN"] : []))
        case .auth(let mechanism?, let initialResponse):
            guard authAllowed else { return .reply(Self.plaintextRefused) }
            guard mechanism == SASLMechanism.plain.rawValue else {
                setState(.authorization(user: nil))
                return badCommand(.err("Unsupported authentication mechanism"))
            }
            guard let initialResponse else {
                setState(.saslResponse)
                return .saslChallenge
            }
            return plainResponse(initialResponse)
        case .stat, .list, .retr, .dele, .noop, .rset, .top, .uidl:
            return badCommand(.err("Not logged in"))
        }
    }

    /// The line after "+ " (RFC 5034 §4): base64 of the PLAIN message, or
    /// "*" to cancel.
    public mutating func saslResponse(_ line: SecretBytes) -> Action {
        guard state == .saslResponse else { return .reply(.err("No authentication in progress")) }
        return plainResponse(line)
    }

    /// RFC 4616 §2; "=" (an empty initial response) carries no credentials.
    private mutating func plainResponse(_ response: SecretBytes) -> Action {
        setState(.authorization(user: nil))
        do throws(SASLError) {
            return verify(try SASL.decodePlain(String(decoding: response.bytes, as: UTF8.self)))
        } catch .cancelled {
            return .reply(.err("Authentication cancelled"))
        } catch {
            return badCommand(.err("Cannot decode response"))
        }
    }

    private mutating func verify(_ credentials: SASLCredentials) -> Action {
        setState(.checkingCredentials(user: credentials.user))
        return .verify(credentials)
    }

    /// The password check is over. The session closes after
    /// `maxAuthFailures` failures, or at once when the address is throttled.
    public mutating func authenticationFinished(_ result: AuthResult) -> Action {
        guard case .checkingCredentials(let user) = state else { return .reply(.err("No login in progress")) }
        switch result {
        case .valid:
            setState(.opening(user: user))
            return .openMaildrop(user: user)
        case .invalid(let limitReached):
            setState(.authorization(user: nil))
            let sessionLimit = countAuthFailure()
            guard !limitReached && !sessionLimit else {
                setState(.closed)
                return .close(Self.authenticationFailed)
            }
            return .reply(Self.authenticationFailed)
        case .unavailable:
            setState(.authorization(user: nil))
            return .reply(.err("Authentication temporarily unavailable", code: .systemTemporary))
        }
    }

    /// The maildrop is locked and read: TRANSACTION begins (RFC 1939 §4).
    public mutating func maildropOpened(_ messages: [POP3Message]) -> Action {
        guard case .opening(let user) = state else { return .reply(.err("No login in progress")) }
        let maildrop = POP3Maildrop(messages: messages)
        loggedIn(user, maildrop: maildrop)
        return .reply(.ok("Logged in, \(maildrop.listedCount) messages (\(maildrop.listedOctets) octets)"))
    }

    public mutating func maildropFailed(_ failure: MaildropFailure) -> Action {
        guard case .opening = state else { return .reply(.err("No login in progress")) }
        setState(.authorization(user: nil))
        switch failure {
        case .inUse: return .reply(.err("Maildrop already in use by another session", code: .inUse))
        case .unavailable: return .reply(.err("Maildrop temporarily unavailable", code: .systemTemporary))
        }
    }
}
