import DNSModel
import Foundation
import MailMessage
import Policy
import SMTPCore
import SMTPServer

/// One session through a policy, printed as it goes (`postern policy test`).
struct PolicyWalk {
    let policy: ListenerPolicy
    let hostname: String
    var facts: SessionFacts
    var edits: [HeaderEdit] = []
    var quarantine: String?

    init(policy: ListenerPolicy, hostname: String, clientIP: IPAddress, helo: String, tls: Bool) {
        self.policy = policy
        self.hostname = hostname
        facts = SessionFacts(clientIP: clientIP, helo: helo, tls: tls)
    }

    /// Returns whether the message would be queued.
    mutating func run(auth: String?, from: String, to: [String], messageFile: String?) async -> Bool {
        let pipeline = policy.pipeline
        print("policy   \(policy.config.name)")
        print("client   \(facts.clientIP.map { "\($0)" } ?? "-") helo=\(facts.helo ?? "-") tls=\(facts.tls ? "yes" : "no")")
        print("")
        print("connect")
        if let refusal = report(await pipeline.connect(facts), success: SMTPReply(code: 220, text: "\(hostname) ESMTP Postern")) {
            return finish(refusal)
        }
        print("EHLO \(facts.helo ?? "")")
        if let refusal = report(await pipeline.helo(facts), success: SMTPReply(code: 250, text: hostname)) {
            return finish(refusal)
        }
        if let auth { authenticate(auth) }
        let sizeLimit = policy.config.messageSizeLimit(for: facts, global: SMTPDefaults.limits.maxMessageSize)

        guard case .mail(let sender, _) = parse("MAIL FROM:<\(from)>") else { return false }
        let mail = MessageFacts(sender: sender)
        print("MAIL FROM:\(sender)")
        let mailOutcome = await pipeline.mail(facts, mail)
        if let refusal = report(mailOutcome, success: SMTPReply(code: 250, enhanced: .senderOK, text: "Sender \(sender) ok")) {
            return finish(refusal)
        }
        if let mailbox = sender.mailbox, let masqueraded = policy.rewriter?.masquerade(address: "\(mailbox)") {
            print("  envelope sender will be queued as <\(masqueraded)> (masquerade)")
        }

        var recipients: [ForwardPath] = []
        let maxRecipients = policy.config.recipients.maxRecipients ?? SMTPDefaults.limits.maxRecipients
        for address in to {
            guard case .rcpt(let recipient, _) = parse("RCPT TO:<\(address)>") else { continue }
            print("RCPT TO:\(recipient)")
            if recipients.count >= maxRecipients {
                printReply(SMTPReply(code: 452, enhanced: EnhancedStatusCode(4, 5, 3), text: "Too many recipients"))
                continue
            }
            let message = MessageFacts(sender: sender, recipients: recipients)
            if report(await pipeline.rcpt(facts, message, recipient: recipient),
                      success: SMTPReply(code: 250, enhanced: .recipientOK, text: "Recipient \(recipient) ok")) == nil {
                recipients.append(recipient)
            }
        }
        guard !recipients.isEmpty else {
            print("DATA")
            return finish(SMTPReply(code: 554, enhanced: EnhancedStatusCode(5, 5, 1), text: "No valid recipients"))
        }
        let transaction = MessageFacts(sender: sender, recipients: recipients, spf: mailOutcome.spf)
        guard let messageFile else {
            print("DATA     (no --message: header and content checks not run)")
            return finish(SMTPReply(code: 250, enhanced: .success, text: "Ok: would be queued" + (quarantine.map { " in quarantine (\($0))" } ?? "")))
        }
        return await data(messageFile, transaction: transaction, sizeLimit: sizeLimit)
    }

    private mutating func data(_ file: String, transaction: MessageFacts, sizeLimit: Int) async -> Bool {
        print("DATA     \(file)")
        guard let bytes = FileManager.default.contents(atPath: file).map({ [UInt8]($0) }) else {
            print("  cannot read \(file)")
            return finish(SMTPReply(code: 451, enhanced: EnhancedStatusCode(4, 3, 0), text: "Local error in processing"))
        }
        if bytes.count > sizeLimit {
            return finish(SMTPReply(code: 552, enhanced: EnhancedStatusCode(5, 3, 4),
                                    text: "Message size exceeds fixed maximum message size (\(sizeLimit) octets)"))
        }
        let length = HeaderSection.headerBlockLength(in: bytes, isComplete: true) ?? bytes.count
        let original = HeaderSection(parsing: bytes[..<length])
        let outcome = await policy.pipeline.data(facts, transaction, headers: original, content: ReceivedContent(path: file, size: bytes.count))
        printSteps(outcome)
        if let refusal = outcome.refusal { return finish(refusal) }
        if quarantine == nil { quarantine = outcome.quarantine }
        var headers = policy.rewriter?.rewrite(original) ?? original
        let all = edits + outcome.headerEdits
        headers = HeaderRewriter.apply(all.inPlace, to: headers)
        printHeaderChanges(from: original, to: HeaderSection(fields: all.prependedFields + headers.fields))
        return finish(SMTPReply(code: 250, enhanced: .success, text: "Ok: would be queued" + (quarantine.map { " in quarantine (\($0))" } ?? "")))
    }

    /// AUTH as the server would allow it: only when offered to this client.
    private mutating func authenticate(_ user: String) {
        print("AUTH     (as \(user), password not checked)")
        let settings = policy.config.auth
        if !settings.enabled {
            printReply(SMTPReply(code: 502, enhanced: .badSequence, text: "Authentication not enabled"))
        } else if !settings.allowPlaintext && !facts.tls {
            printReply(SMTPReply(code: 538, enhanced: EnhancedStatusCode(5, 7, 11),
                                 text: "Encryption required for requested authentication mechanism"))
        } else {
            facts.user = user
            printReply(SMTPReply(code: 235, enhanced: EnhancedStatusCode(2, 7, 0), text: "Authentication successful"))
        }
    }

    private func parse(_ line: String) -> SMTPCommand? {
        do {
            return try CommandParser.parse(Array(line.utf8))
        } catch {
            print(line)
            printReply(error.reply)
            return nil
        }
    }

    /// Prints the steps and the reply; returns the refusal, if any.
    private mutating func report(_ outcome: PolicyPipeline.Outcome, success: SMTPReply) -> SMTPReply? {
        printSteps(outcome)
        if let refusal = outcome.refusal {
            printReply(refusal)
            return refusal
        }
        edits += outcome.headerEdits
        if quarantine == nil { quarantine = outcome.quarantine }
        printReply(success)
        return nil
    }

    private func printSteps(_ outcome: PolicyPipeline.Outcome) {
        if outcome.steps.isEmpty { print("  (no filter checks this phase)") }
        for step in outcome.steps {
            let word: String
            switch step.verdict.decision {
            case .continue: word = "continue"
            case .accept: word = "accept"
            case .reject: word = "reject"
            case .tempfail: word = "tempfail"
            case .quarantine: word = "quarantine"
            case .discard: word = "discard"
            }
            var line = "  " + step.filter.padding(toLength: 12, withPad: " ", startingAt: 0) + word.padding(toLength: 11, withPad: " ", startingAt: 0)
            if let note = step.verdict.note { line += note }
            print(line)
            for edit in step.verdict.headerEdits {
                if case .prepend(let name, let value) = edit { print("      adds \(name): \(value)") }
                if case .append(let name, let value) = edit { print("      adds \(name): \(value)") }
                if case .remove(let name) = edit { print("      removes \(name)") }
                if case .removeAuthenticationResults(let id) = edit { print("      removes Authentication-Results claiming \(id)") }
            }
        }
    }

    private func printReply(_ reply: SMTPReply) {
        print("  -> \(reply)")
    }

    private func printHeaderChanges(from original: HeaderSection, to final: HeaderSection) {
        let before = original.fields.map { "\($0.name):\($0.rawValue)" }
        let after = final.fields.map { "\($0.name):\($0.rawValue)" }
        let removed = before.filter { !after.contains($0) }
        let added = after.filter { !before.contains($0) }
        if removed.isEmpty && added.isEmpty { print("  header section unchanged") }
        for field in removed { print("  header - " + Self.oneLine(field)) }
        for field in added { print("  header + " + Self.oneLine(field)) }
    }

    private static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n\t", with: " ").replacingOccurrences(of: "\r\n ", with: " ")
            .replacingOccurrences(of: "\r\n", with: "").replacingOccurrences(of: "\n", with: "")
    }

    private func finish(_ reply: SMTPReply) -> Bool {
        print("")
        print("final    \(reply)")
        return reply.code / 100 == 2
    }
}
