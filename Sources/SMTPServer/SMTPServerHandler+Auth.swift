import Logging
import NIOCore
import SMTPCore

/// Where a SASL exchange stands (RFC 4954 §4): which response comes next.
enum SASLExchange {
    case plainResponse
    case loginUser
    case loginPassword(user: String)
}

/// SMTP AUTH in the handler: the SASL steps, the password check off the
/// event loop, and per-address throttling. Nothing of a response is
/// logged; the user name only once it has authenticated.
extension SMTPServerHandler {
    private static let temporaryFailure = SMTPReply(code: 454, enhanced: EnhancedStatusCode(4, 7, 0),
                                                    text: "Temporary authentication failure")
    private static let throttled = SMTPReply(code: 454, enhanced: EnhancedStatusCode(4, 7, 0),
                                             text: "Too many failed authentication attempts from your address, try again later")
    private static let invalidCredentials = SMTPReply(code: 535, enhanced: EnhancedStatusCode(5, 7, 8),
                                                      text: "Authentication credentials invalid")

    func startAuthentication(mechanism: String, initialResponse: String?, context: ChannelHandlerContext) {
        if let throttle = server.policy.authThrottle, throttle.isBlocked(clientKey) {
            logger.notice("auth refused: too many failures from this address")
            SMTPServerMetrics.auth[.throttled]?.increment()
            return perform(session.authFailed(Self.throttled), context: context)
        }
        switch (mechanism, initialResponse) {
        case ("PLAIN", nil):
            sasl = .plainResponse
            write(SMTPReply(code: 334, text: ""), context: context)
        case ("PLAIN", let response?):
            // "=" is an empty initial response (RFC 4954 §4).
            response == "=" ? failUnreadable(.malformed, context: context) : plain(response, context: context)
        case ("LOGIN", nil):
            sasl = .loginUser
            write(SMTPReply(code: 334, text: SASL.loginUsernameChallenge), context: context)
        case ("LOGIN", let response?):
            loginUser(response, context: context)
        default:
            perform(session.authAborted(SMTPReply(code: 504, enhanced: EnhancedStatusCode(5, 5, 4),
                                                  text: "Unrecognized authentication type")), context: context)
        }
    }

    /// A line while the exchange runs: the client's response.
    func saslResponse(_ line: String, context: ChannelHandlerContext) {
        guard let step = sasl else { return failUnreadable(.malformed, context: context) }
        sasl = nil
        switch step {
        case .plainResponse: plain(line, context: context)
        case .loginUser: loginUser(line, context: context)
        case .loginPassword(let user):
            do {
                let password = try SASL.decodeBase64Text(line)
                verify(SASLCredentials(authorizationID: nil, user: user, password: password), context: context)
            } catch {
                failUnreadable(error, context: context)
            }
        }
    }

    private func plain(_ response: String, context: ChannelHandlerContext) {
        do {
            verify(try SASL.decodePlain(response), context: context)
        } catch {
            failUnreadable(error, context: context)
        }
    }

    private func loginUser(_ response: String, context: ChannelHandlerContext) {
        do {
            let user = try SASL.decodeBase64Text(response)
            sasl = .loginPassword(user: user)
            write(SMTPReply(code: 334, text: SASL.loginPasswordChallenge), context: context)
        } catch {
            failUnreadable(error, context: context)
        }
    }

    private func failUnreadable(_ error: SASLError, context: ChannelHandlerContext) {
        sasl = nil
        perform(session.authAborted(error.reply), context: context)
    }

    private func verify(_ credentials: SASLCredentials, context: ChannelHandlerContext) {
        guard let passwords = server.policy.passwords else {
            SMTPServerMetrics.auth[.error]?.increment()
            return perform(session.authFailed(Self.temporaryFailure), context: context)
        }
        // Acting for another identity (PLAIN's authzid) is not offered.
        if let authzid = credentials.authorizationID, authzid != credentials.user {
            return authFinished(.invalid, user: credentials.user, context: context)
        }
        // Checked again now: exchanges started in parallel before the
        // address was blocked must not all get their guess checked.
        if let throttle = server.policy.authThrottle, throttle.isBlocked(clientKey) {
            SMTPServerMetrics.auth[.throttled]?.increment()
            return perform(session.authFailed(Self.throttled), context: context)
        }
        let user = credentials.user
        let password = credentials.password
        check(context: context, { await passwords.verify(user: user, password: password) }) { handler, context, result in
            handler.authFinished(result, user: user, context: context)
        }
    }

    private func authFinished(_ result: AuthCheck, user: String, context: ChannelHandlerContext) {
        let throttle = server.policy.authThrottle
        switch result {
        case .valid:
            SMTPServerMetrics.auth[.success]?.increment()
            // A success does not forget the address's failures: one valid
            // account must not reset a guessing run from the same place.
            write(session.authSucceeded(user: user), context: context)
            logger[metadataKey: "user"] = "\(user)"
            logger.info("authenticated")
            refreshSizeLimit()
        case .invalid:
            SMTPServerMetrics.auth[.failure]?.increment()
            let limitReached = throttle?.recordFailure(clientKey) ?? false
            logger.notice("authentication failed", metadata: ["failures": "\(session.authFailures + 1)"])
            perform(session.authFailed(Self.invalidCredentials, close: limitReached), context: context)
        case .unavailable(let reason):
            SMTPServerMetrics.auth[.error]?.increment()
            logger.error("authentication back end unavailable", metadata: ["reason": "\(reason)"])
            perform(session.authFailed(Self.temporaryFailure), context: context)
        }
    }
}
