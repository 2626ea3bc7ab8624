import Testing
@testable import IMAPCore

/// Address lists as ENVELOPE shows them; the expectations are Dovecot
/// 2.3.19's answers for the same From: fields unless a comment says why not.
@Suite("ENVELOPE address lists")
struct EnvelopeAddressTests {
    static let cases: [(String, String)] = [
        ("joe@example.com", #"((NIL NIL "joe" "example.com"))"#),
        ("Joe Smith <joe@example.com>", #"(("Joe Smith" NIL "joe" "example.com"))"#),
        (#""Joe Q. Public" <john.q.public@example.com>"#, #"(("Joe Q. Public" NIL "john.q.public" "example.com"))"#),
        ("Joe Q. Public <john.q.public@example.com>", #"(("Joe Q. Public" NIL "john.q.public" "example.com"))"#),
        (#""john doe"@example.com"#, #"((NIL NIL "john doe" "example.com"))"#),
        ("joe@[1.2.3.4]", #"((NIL NIL "joe" "[1.2.3.4]"))"#),
        ("@", #"((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        ("<>", #"((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        ("Joe (the man) Smith <joe@example.com>", #"(("Joe Smith" NIL "joe" "example.com"))"#),
        ("joe@example.com (Joe Smith), mary@example.com (Mary)",
         #"(("Joe Smith" NIL "joe" "example.com")("Mary" NIL "mary" "example.com"))"#),
        // Dovecot lists empty elements as MISSING_MAILBOX; RFC 5322 §4.4 says to ignore them.
        (", , joe@example.com,,", #"((NIL NIL "joe" "example.com"))"#),
        // Dovecot marks the host SYNTAX_ERROR; the address is plain enough to keep.
        ("Joe <joe@example.com", #"(("Joe" NIL "joe" "example.com"))"#),
        ("joe@example.com <other@example.com>", #"((NIL NIL "joe" "example.com"))"#),
        (#"Joe "Q" Public <q@example.com>"#, #"(("Joe Q Public" NIL "q" "example.com"))"#),
        (#"=?UTF-8?Q?J=C3=B6rg?= "X" <j@example.com>"#, #"(("=?UTF-8?Q?J=C3=B6rg?= X" NIL "j" "example.com"))"#),
        ("a@b@c", #"((NIL NIL "a" "b"))"#),
        ("Undisclosed:;", #"((NIL NIL "Undisclosed" NIL)(NIL NIL NIL NIL))"#),
        ("g: a@b.c, d@e.f", #"((NIL NIL "g" NIL)(NIL NIL "a" "b.c")(NIL NIL "d" "e.f")(NIL NIL NIL NIL))"#),
        // Dovecot drops what follows a group; it is another address.
        ("g2: a@b.c; x@y.z", #"((NIL NIL "g2" NIL)(NIL NIL "a" "b.c")(NIL NIL NIL NIL)(NIL NIL "x" "y.z"))"#),
        ("joe @ example . com", #"((NIL NIL "joe" "example.com"))"#),
        ("joe.@example.com", #"((NIL NIL "joe." "example.com"))"#),
        ("()", "NIL"),
        ("", "NIL"),
        ("Joe Smith", #"(("Joe Smith" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        ("Mary <mary>", #"(("Mary" NIL "mary" "MISSING_DOMAIN"))"#),
        ("localonly", #"((NIL NIL "localonly" "MISSING_DOMAIN"))"#),
        ("x@y (comment (nested) here)", #"(("comment (nested) here" NIL "x" "y"))"#),
        (#""Backslash \\ name" <b@example.com>"#, #"(("Backslash \\ name" NIL "b" "example.com"))"#),
        ("<@route1,@route2:user@host.test>", #"((NIL "@route1,@route2" "user" "host.test"))"#),
        (#""" <empty@example.com>"#, #"((NIL NIL "empty" "example.com"))"#),
        ("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", #"(("Pete" NIL "pete" "silly.test"))"#),
        ("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
         #"((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL))"#),
        ("g: h: a@b;", #"((NIL NIL "g" NIL)(NIL NIL "a" "b")(NIL NIL NIL NIL))"#),
    ]

    @Test("address list", arguments: cases)
    func addressList(field: String, expected: String) {
        #expect(text(EnvelopeAddress.list(AddressListParser.parse(Array(field.utf8)))) == expected)
    }

    @Test func eightBitNamesAreLiterals() {
        let rendered = EnvelopeAddress.list(AddressListParser.parse(Array("\u{e9}l\u{e8}ve <e@example.fr>".utf8)))
        #expect(text(rendered) == "(({7}\r\n\u{e9}l\u{e8}ve NIL \"e\" \"example.fr\"))")
    }

    @Test func addressesAreBounded() {
        let field = Array(repeating: "a@b", count: 5000).joined(separator: ",")
        #expect(AddressListParser.parse(Array(field.utf8)).count == AddressListParser.maxAddresses)
    }

    @Test func senderAndReplyToDefaultToFrom() {
        let envelope = text(message("From: a@b.c", "Reply-To:", "Subject: s", "", "").envelope())
        #expect(envelope == #"(NIL "s" ((NIL NIL "a" "b.c")) ((NIL NIL "a" "b.c")) ((NIL NIL "a" "b.c")) NIL NIL NIL NIL NIL)"#)
    }
}
