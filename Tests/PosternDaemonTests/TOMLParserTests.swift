import Testing
@testable import PosternDaemon

// MARK: Helpers

/// An expected table; line numbers are 0 because table equality ignores them.
private func table(_ pairs: KeyValuePairs<String, TOMLValue>) -> TOMLValue {
    .table(TOMLTable(entries: pairs.map { TOMLTable.Entry(key: $0.key, value: $0.value, line: 0) }, headerLine: nil))
}

private func parseError(_ text: String) -> TOMLError? {
    do {
        _ = try TOML.parse(text)
        return nil
    } catch {
        return error
    }
}

// MARK: Values

struct TOMLValueCase: Sendable, CustomTestStringConvertible {
    let toml: String
    let expected: TOMLValue
    init(_ toml: String, _ expected: TOMLValue) {
        self.toml = toml
        self.expected = expected
    }
    var testDescription: String { toml }
}

@Suite("TOML values")
struct TOMLValueTests {
    static let strings: [TOMLValueCase] = [
        TOMLValueCase(#""plain""#, .string("plain")),
        TOMLValueCase(#""""#, .string("")),
        TOMLValueCase(#""tab\there""#, .string("tab\there")),
        TOMLValueCase(#""\b\t\n\f\r\"\\""#, .string("\u{08}\t\n\u{0C}\r\"\\")),
        TOMLValueCase(#""caf\u00E9 \U0001F600""#, .string("café 😀")),
        TOMLValueCase(#""ünïcødé ✓""#, .string("ünïcødé ✓")),
        TOMLValueCase("\"with\ttab\"", .string("with\ttab")),
        TOMLValueCase(#"'C:\Users\nodejs'"#, .string(#"C:\Users\nodejs"#)),
        TOMLValueCase(#"'Tom "Dubs" P'"#, .string(#"Tom "Dubs" P"#)),
        TOMLValueCase("\"\"\"\nRoses are red\nViolets are blue\"\"\"", .string("Roses are red\nViolets are blue")),
        TOMLValueCase("\"\"\"\r\nfirst\r\nsecond\"\"\"", .string("first\nsecond")),
        TOMLValueCase("\"\"\"\\\n    The quick \\\n\n    brown fox.\\\n    \"\"\"", .string("The quick brown fox.")),
        TOMLValueCase("\"\"\"ends with \\   \n  trimmed\"\"\"", .string("ends with trimmed")),
        TOMLValueCase("\"\"\"two \"\" quotes\"\"\"", .string("two \"\" quotes")),
        TOMLValueCase("\"\"\"\"quote first\"\"\"", .string("\"quote first")),
        TOMLValueCase("\"\"\"one at the end\"\"\"\"", .string("one at the end\"")),
        TOMLValueCase("\"\"\"two at the end\"\"\"\"\"", .string("two at the end\"\"")),
        TOMLValueCase("\"\"\"escaped \\\"\\\"\\\" run\"\"\"", .string("escaped \"\"\" run")),
        TOMLValueCase("'''\nThe first newline is\ntrimmed in raw strings.\n   Kept.\n'''", .string("The first newline is\ntrimmed in raw strings.\n   Kept.\n")),
        TOMLValueCase(#"'''I [dw]on't need \d{2}'''"#, .string(#"I [dw]on't need \d{2}"#)),
        TOMLValueCase(#"''''That,' she said''''"#, .string("'That,' she said'")),
    ]

    static let integers: [TOMLValueCase] = [
        TOMLValueCase("42", .integer(42)),
        TOMLValueCase("+99", .integer(99)),
        TOMLValueCase("-17", .integer(-17)),
        TOMLValueCase("0", .integer(0)),
        TOMLValueCase("+0", .integer(0)),
        TOMLValueCase("-0", .integer(0)),
        TOMLValueCase("1_000", .integer(1000)),
        TOMLValueCase("5_349_221", .integer(5_349_221)),
        TOMLValueCase("0xDEADBEEF", .integer(0xDEAD_BEEF)),
        TOMLValueCase("0xdead_beef", .integer(0xDEAD_BEEF)),
        TOMLValueCase("0x00ff", .integer(255)),
        TOMLValueCase("0o755", .integer(0o755)),
        TOMLValueCase("0o0_1", .integer(1)),
        TOMLValueCase("0b1101_0110", .integer(0b1101_0110)),
        TOMLValueCase("9223372036854775807", .integer(.max)),
        TOMLValueCase("-9223372036854775808", .integer(.min)),
        TOMLValueCase("0x7FFFFFFFFFFFFFFF", .integer(.max)),
    ]

    static let floats: [TOMLValueCase] = [
        TOMLValueCase("+1.0", .float(1.0)),
        TOMLValueCase("3.1415", .float(3.1415)),
        TOMLValueCase("-0.01", .float(-0.01)),
        TOMLValueCase("5e+22", .float(5e22)),
        TOMLValueCase("1e06", .float(1e6)),
        TOMLValueCase("-2E-2", .float(-0.02)),
        TOMLValueCase("6.626e-34", .float(6.626e-34)),
        TOMLValueCase("224_617.445_991_228", .float(224_617.445_991_228)),
        TOMLValueCase("0.0", .float(0)),
        TOMLValueCase("-0.0", .float(-0.0)),
        TOMLValueCase("0e0", .float(0)),
        TOMLValueCase("inf", .float(.infinity)),
        TOMLValueCase("+inf", .float(.infinity)),
        TOMLValueCase("-inf", .float(-.infinity)),
    ]

    static let others: [TOMLValueCase] = [
        TOMLValueCase("true", .boolean(true)),
        TOMLValueCase("false", .boolean(false)),
        TOMLValueCase("1979-05-27T07:32:00Z", .datetime("1979-05-27T07:32:00Z")),
        TOMLValueCase("1979-05-27T00:32:00-07:00", .datetime("1979-05-27T00:32:00-07:00")),
        TOMLValueCase("1979-05-27T00:32:00.999999+05:30", .datetime("1979-05-27T00:32:00.999999+05:30")),
        TOMLValueCase("1979-05-27 07:32:00Z", .datetime("1979-05-27 07:32:00Z")),
        TOMLValueCase("1979-05-27t07:32:00z", .datetime("1979-05-27t07:32:00z")),
        TOMLValueCase("1979-05-27T07:32:00", .datetime("1979-05-27T07:32:00")),
        TOMLValueCase("1979-05-27", .datetime("1979-05-27")),
        TOMLValueCase("1979-05-27 # a date, then a comment", .datetime("1979-05-27")),
        TOMLValueCase("2000-02-29", .datetime("2000-02-29")),
        TOMLValueCase("1990-12-31T23:59:60Z", .datetime("1990-12-31T23:59:60Z")),
        TOMLValueCase("07:32:00", .datetime("07:32:00")),
        TOMLValueCase("00:32:00.5", .datetime("00:32:00.5")),
        TOMLValueCase("[]", .array([])),
        TOMLValueCase("[ 1, 2, 3 ]", .array([.integer(1), .integer(2), .integer(3)])),
        TOMLValueCase("[1,2,]", .array([.integer(1), .integer(2)])),
        TOMLValueCase(#"[ "a", 'b', """c""", 1.5, true ]"#, .array([.string("a"), .string("b"), .string("c"), .float(1.5), .boolean(true)])),
        TOMLValueCase("[ [ 1, 2 ], [\"a\"], [] ]", .array([.array([.integer(1), .integer(2)]), .array([.string("a")]), .array([])])),
        TOMLValueCase("[\n  1, # one\n  # nothing\n  2\n  ,\n]", .array([.integer(1), .integer(2)])),
        TOMLValueCase("[1979-05-27, 07:32:00]", .array([.datetime("1979-05-27"), .datetime("07:32:00")])),
        TOMLValueCase("{}", table([:])),
        TOMLValueCase("{ first = \"Tom\", last = 'P' }", table(["first": .string("Tom"), "last": .string("P")])),
        TOMLValueCase("{ type.name = \"pug\", type.age = 3 }", table(["type": table(["name": .string("pug"), "age": .integer(3)])])),
        TOMLValueCase("{ a = { b = [ { c = 1 } ] } }", table(["a": table(["b": .array([table(["c": .integer(1)])])])])),
        TOMLValueCase("{ list = [\n 1,\n 2 ] }", table(["list": .array([.integer(1), .integer(2)])])),
    ]

    @Test("strings", arguments: strings)
    func string(_ testCase: TOMLValueCase) throws {
        #expect(try TOML.parse("x = \(testCase.toml)")["x"] == testCase.expected)
    }

    @Test("integers", arguments: integers)
    func integer(_ testCase: TOMLValueCase) throws {
        #expect(try TOML.parse("x = \(testCase.toml)")["x"] == testCase.expected)
    }

    @Test("floats", arguments: floats)
    func float(_ testCase: TOMLValueCase) throws {
        #expect(try TOML.parse("x = \(testCase.toml)")["x"] == testCase.expected)
    }

    @Test("booleans, date-times, arrays, inline tables", arguments: others)
    func other(_ testCase: TOMLValueCase) throws {
        #expect(try TOML.parse("x = \(testCase.toml)")["x"] == testCase.expected)
    }

    @Test("nan", arguments: ["nan", "+nan", "-nan"])
    func nan(_ text: String) throws {
        let value = try #require(try TOML.parse("x = \(text)").float("x"))
        #expect(value.isNaN)
    }

    @Test func negativeZeroKeepsItsSign() throws {
        #expect(try #require(try TOML.parse("x = -0.0").float("x")).sign == .minus)
    }
}

// MARK: Documents

@Suite("TOML documents")
struct TOMLDocumentTests {
    @Test func keysOfEveryKind() throws {
        let document = try TOML.parse("""
            key = 1
            bare_key-2 = 2
            1234 = 3
            "127.0.0.1" = 4
            "ʎǝʞ" = 5
            'quoted "value"' = 6
            "" = 7
            site."google.com" = 8
            fruit . flavor = 9
            3.14159 = 10
            "a\\u0041" = 11
            """)
        #expect(document.keys == ["key", "bare_key-2", "1234", "127.0.0.1", "ʎǝʞ", "quoted \"value\"", "", "site", "fruit", "3", "aA"])
        #expect(document.integer("") == 7)
        #expect(document.value(at: ["site", "google.com"]) == .integer(8))
        #expect(document.value(at: ["fruit", "flavor"]) == .integer(9))
        #expect(document.value(at: ["3", "14159"]) == .integer(10))
    }

    @Test func tablesAndSubtables() throws {
        let document = try TOML.parse("""
            title = "example"

            [server]
            host = "mx.example.org"

            [server.tls]
            mode = "required"

            [ dog . "tater.man" ]
            type.name = "pug"

            [x.y.z.w]
            [x]
            answer = 42

            [fruit]
            apple.color = "red"
            apple.taste.sweet = true
            [fruit.apple.texture]
            smooth = true
            """)
        let expected = table([
            "title": .string("example"),
            "server": table(["host": .string("mx.example.org"), "tls": table(["mode": .string("required")])]),
            "dog": table(["tater.man": table(["type": table(["name": .string("pug")])])]),
            "x": table(["y": table(["z": table(["w": table([:])])]), "answer": .integer(42)]),
            "fruit": table(["apple": table([
                "color": .string("red"),
                "taste": table(["sweet": .boolean(true)]),
                "texture": table(["smooth": .boolean(true)]),
            ])]),
        ])
        #expect(TOMLValue.table(document) == expected)
    }

    @Test func arraysOfTables() throws {
        let document = try TOML.parse("""
            [[fruits]]
            name = "apple"

            [fruits.physical]
            color = "red"

            [[fruits.varieties]]
            name = "red delicious"

            [[fruits.varieties]]
            name = "granny smith"

            [[fruits]]
            name = "banana"

            [[fruits.varieties]]
            name = "plantain"

            [[empty]]
            [[empty]]
            """)
        let fruits = try #require(document.tables("fruits"))
        #expect(fruits.count == 2)
        #expect(fruits[0].string("name") == "apple")
        #expect(fruits[0].table("physical")?.string("color") == "red")
        #expect(fruits[0].tables("varieties")?.map { $0.string("name") } == ["red delicious", "granny smith"])
        #expect(fruits[1].tables("varieties")?.map { $0.string("name") } == ["plantain"])
        #expect(document.array("empty") == [table([:]), table([:])])
    }

    @Test func dottedKeysMayReachImplicitTables() throws {
        let document = try TOML.parse("""
            [a.b.c]
            z = 9
            [a]
            b.d = 1
            """)
        #expect(document.value(at: ["a", "b", "d"]) == .integer(1))
        #expect(document.value(at: ["a", "b", "c", "z"]) == .integer(9))
    }

    @Test func commentsWhitespaceAndLineEnds() throws {
        let document = try TOML.parse("\u{FEFF}# comment\r\n\t a = 1 # trailing\r\n\r\n  [t] # header comment\n\tb = \"#not a comment\"\n# end without newline")
        #expect(document.integer("a") == 1)
        #expect(document.table("t")?.string("b") == "#not a comment")
    }

    @Test func emptyDocuments() throws {
        #expect(try TOML.parse("").isEmpty)
        #expect(try TOML.parse("\n\n# only a comment\n   \n").isEmpty)
    }
}

// MARK: Line numbers

@Suite("TOML line numbers")
struct TOMLLineTests {
    static let document = """
        # Postern
        hostname = "mx.example.org"

        banner = \"\"\"
        Welcome
        \"\"\"
        relay.host = "smtp.example.net"
        relay.port = 587

        [listen]
        address = "0.0.0.0"
        ports = [
          25,
          587,
        ]
        tls = { cert = "/etc/cert.pem", key = "/etc/key.pem" }

        [[policy]]
        name = "first"

        [[policy]]
        name = "second"

        [limits.size]
        max = 1_000
        [limits]
        recipients = 100
        """

    static let keyLines: [(path: [String], line: Int)] = [
        (["hostname"], 2),
        (["banner"], 4),
        (["relay"], 7),
        (["relay", "host"], 7),
        (["relay", "port"], 8),
        (["listen"], 10),
        (["listen", "address"], 11),
        (["listen", "ports"], 12),
        (["listen", "tls"], 16),
        (["policy"], 18),
        (["limits"], 26),
        (["limits", "size"], 24),
        (["limits", "size", "max"], 25),
        (["limits", "recipients"], 27),
    ]

    @Test(arguments: keyLines)
    func keyLine(path: [String], line: Int) throws {
        var table = try TOML.parse(Self.document)
        for key in path.dropLast() {
            table = try #require(table.table(key))
        }
        #expect(table.line(of: path[path.count - 1]) == line)
    }

    @Test func headerLines() throws {
        let document = try TOML.parse(Self.document)
        #expect(document.headerLine == nil)
        #expect(document.table("relay")?.headerLine == nil)
        #expect(document.table("listen")?.headerLine == 10)
        #expect(document.table("listen")?.table("tls")?.headerLine == nil)
        #expect(document.tables("policy")?.map(\.headerLine) == [18, 21])
        #expect(document.tables("policy")?.map { $0.line(of: "name") } == [19, 22])
        #expect(document.table("limits")?.headerLine == 26)
        #expect(document.table("limits")?.table("size")?.headerLine == 24)
    }

    @Test func entriesKeepFileOrder() throws {
        let document = try TOML.parse(Self.document)
        #expect(document.keys == ["hostname", "banner", "relay", "listen", "policy", "limits"])
        #expect(document.entries.map(\.line) == [2, 4, 7, 10, 18, 26])
    }

    @Test func crlfCountsAsOneLine() throws {
        let document = try TOML.parse("a = 1\r\nb = '''\r\nx\r\n'''\r\nc = 3\r\n")
        #expect(document.line(of: "c") == 5)
    }

    @Test func inlineTableKeysHaveTheirLine() throws {
        let document = try TOML.parse("\n\nx = { a = 1, b = [\n 2 ], c = 3 }\n")
        let inline = try #require(document.table("x"))
        #expect(inline.line(of: "a") == 3)
        #expect(inline.line(of: "c") == 4)
    }
}

// MARK: Invalid documents

struct TOMLInvalidCase: Sendable, CustomTestStringConvertible {
    let name: String
    let toml: String
    let kind: TOMLError.Kind
    let line: Int
    let column: Int?
    init(_ name: String, _ toml: String, _ kind: TOMLError.Kind, line: Int, column: Int? = nil) {
        self.name = name
        self.toml = toml
        self.kind = kind
        self.line = line
        self.column = column
    }
    var testDescription: String { name }
}

@Suite("TOML errors")
struct TOMLErrorTests {
    static let keyAndTableCases: [TOMLInvalidCase] = [
        TOMLInvalidCase("duplicate key", "a = 1\nb = 2\na = 3", .duplicateKey, line: 3, column: 1),
        TOMLInvalidCase("duplicate quoted key", "a = 1\n\"a\" = 2", .duplicateKey, line: 2),
        TOMLInvalidCase("duplicate key in table", "[t]\nx = 1\n\n  x = 2", .duplicateKey, line: 4, column: 3),
        TOMLInvalidCase("dotted key over a value", "a = 1\na.b = 2", .duplicateKey, line: 2),
        TOMLInvalidCase("dotted key twice", "a.b = 1\na.b = 2", .duplicateKey, line: 2, column: 3),
        TOMLInvalidCase("value over a dotted table", "a.b = 1\na = 2", .duplicateKey, line: 2),
        TOMLInvalidCase("duplicate key in inline table", "x = { a = 1, a = 2 }", .duplicateKey, line: 1, column: 14),
        TOMLInvalidCase("inline table then dotted key", "x = { a = { b = 1 }, a.c = 2 }", .tableRedefined, line: 1),
        TOMLInvalidCase("table defined twice", "[a]\nx = 1\n[b]\n[a]", .tableRedefined, line: 4, column: 2),
        TOMLInvalidCase("table after its keys", "[a]\nb = 1\n[a.b]", .duplicateKey, line: 3),
        TOMLInvalidCase("header over dotted table", "a.b = 1\n[a]", .tableRedefined, line: 2),
        TOMLInvalidCase("header over nested dotted table", "[fruit]\napple.color = 'red'\n[fruit.apple]", .tableRedefined, line: 3),
        TOMLInvalidCase("dotted keys into header table", "[a.b.c]\nz = 9\n[a]\nb.c.t = 1", .tableRedefined, line: 4),
        TOMLInvalidCase("dotted keys from another section", "[a]\nx.y = 1\n[b]\n[a.x.z]\n[c]\n[a]", .tableRedefined, line: 6),
        TOMLInvalidCase("header over inline table", "a = {}\n[a]", .tableRedefined, line: 2),
        TOMLInvalidCase("subtable of inline table", "a = { b = 1 }\n[a.c]", .tableRedefined, line: 2),
        TOMLInvalidCase("dotted key into inline table", "a = {}\na.b = 1", .tableRedefined, line: 2),
        TOMLInvalidCase("table inside static array", "a = [{ b = 1 }]\n[a.c]", .duplicateKey, line: 2),
        TOMLInvalidCase("array of tables over static array", "a = []\n[[a]]", .duplicateKey, line: 2),
        TOMLInvalidCase("array of tables over table", "[a]\n[[a]]", .tableRedefined, line: 2),
        TOMLInvalidCase("table over array of tables", "[[a]]\n[a]", .tableRedefined, line: 2),
        TOMLInvalidCase("header over a value", "a = 1\n[a]", .duplicateKey, line: 2),
        TOMLInvalidCase("missing equals", "\n\nport 25", .syntax, line: 3, column: 6),
        TOMLInvalidCase("missing key", "= 1", .syntax, line: 1, column: 1),
        TOMLInvalidCase("missing value", "a =\nb = 1", .syntax, line: 1, column: 4),
        TOMLInvalidCase("unclosed header", "[a\nb = 1", .syntax, line: 1),
        TOMLInvalidCase("spaced array header", "[[a]]\n[ [a] ]", .syntax, line: 2),
        TOMLInvalidCase("multi-line key", "\"\"\"a\"\"\" = 1", .syntax, line: 1),
        TOMLInvalidCase("empty bare key part", "a..b = 1", .syntax, line: 1, column: 3),
        TOMLInvalidCase("unquoted string", "name = Tom", .syntax, line: 1, column: 8),
        TOMLInvalidCase("trailing comma in inline table", "x = { a = 1, }", .syntax, line: 1),
        TOMLInvalidCase("newline in inline table", "x = { a = 1\n}", .syntax, line: 1),
        TOMLInvalidCase("empty array element", "x = [1,,2]", .syntax, line: 1, column: 8),
        TOMLInvalidCase("unterminated array", "x = [1,\n2", .syntax, line: 1, column: 5),
        TOMLInvalidCase("missing comma in array", "x = [\n1\n2]", .syntax, line: 3),
    ]

    static let valueCases: [TOMLInvalidCase] = [
        TOMLInvalidCase("invalid escape", "a = 1\ns = \"bad \\x41\"", .invalidEscape, line: 2, column: 10),
        TOMLInvalidCase("escape with space", "s = \"a\\ b\"", .invalidEscape, line: 1),
        TOMLInvalidCase("short unicode escape", "s = \"\\u00e\"", .invalidEscape, line: 1),
        TOMLInvalidCase("surrogate escape", "s = \"\\uD800\"", .invalidEscape, line: 1),
        TOMLInvalidCase("escape beyond Unicode", "s = \"\\U00110000\"", .invalidEscape, line: 1),
        TOMLInvalidCase("backslash-space in multi-line string", "s = \"\"\"\na\\ b\"\"\"", .invalidEscape, line: 2),
        TOMLInvalidCase("unterminated basic string", "a = 1\ns = \"open\nb = 2", .unterminatedString, line: 2, column: 5),
        TOMLInvalidCase("unterminated literal string", "s = 'open", .unterminatedString, line: 1),
        TOMLInvalidCase("unterminated multi-line string", "\ns = \"\"\"\nopen\n", .unterminatedString, line: 2),
        TOMLInvalidCase("unterminated multi-line literal", "s = '''open''", .unterminatedString, line: 1),
        TOMLInvalidCase("too many closing quotes", "s = \"\"\"a\"\"\"\"\"\"", .syntax, line: 1),
        TOMLInvalidCase("control character in string", "s = \"a\u{01}b\"", .controlCharacter, line: 1, column: 7),
        TOMLInvalidCase("DEL in literal string", "s = 'a\u{7F}'", .controlCharacter, line: 1),
        TOMLInvalidCase("control character in multi-line string", "s = \"\"\"\nok\n\u{0C}\"\"\"", .controlCharacter, line: 3),
        TOMLInvalidCase("control character in comment", "# ok\n# not \u{00} ok", .controlCharacter, line: 2, column: 7),
        TOMLInvalidCase("bare carriage return", "a = 1\rb = 2", .controlCharacter, line: 1),
        TOMLInvalidCase("leading zero", "a = 1\nb = 007", .leadingZero, line: 2, column: 5),
        TOMLInvalidCase("leading zero with sign", "b = -01", .leadingZero, line: 1),
        TOMLInvalidCase("leading zero with underscore", "b = 0_1", .leadingZero, line: 1),
        TOMLInvalidCase("leading zero float", "b = 01.5", .leadingZero, line: 1),
        TOMLInvalidCase("trailing underscore", "n = 123_", .invalidNumber, line: 1),
        TOMLInvalidCase("double underscore", "n = 1__2", .invalidNumber, line: 1),
        TOMLInvalidCase("underscore after prefix", "n = 0x_1", .invalidNumber, line: 1),
        TOMLInvalidCase("signed hex", "n = +0xff", .invalidNumber, line: 1),
        TOMLInvalidCase("capital hex prefix", "n = 0X1", .invalidNumber, line: 1),
        TOMLInvalidCase("bad octal digit", "n = 0o8", .invalidNumber, line: 1),
        TOMLInvalidCase("bad binary digit", "n = 0b102", .invalidNumber, line: 1),
        TOMLInvalidCase("empty hex", "n = 0x", .invalidNumber, line: 1),
        TOMLInvalidCase("double sign", "n = ++1", .invalidNumber, line: 1),
        TOMLInvalidCase("integer overflow", "n = 9223372036854775808", .invalidNumber, line: 1),
        TOMLInvalidCase("negative overflow", "n = -9223372036854775809", .invalidNumber, line: 1),
        TOMLInvalidCase("hex overflow", "n = 0x8000000000000000", .invalidNumber, line: 1),
        TOMLInvalidCase("point without fraction", "f = 1.", .invalidNumber, line: 1),
        TOMLInvalidCase("point without integer", "f = .5", .syntax, line: 1),
        TOMLInvalidCase("fraction starting with underscore", "f = 1._5", .invalidNumber, line: 1),
        TOMLInvalidCase("empty exponent", "f = 1e", .invalidNumber, line: 1),
        TOMLInvalidCase("exponent then point", "f = 1e5.0", .invalidNumber, line: 1),
        TOMLInvalidCase("float overflow", "f = 1e400", .invalidNumber, line: 1),
        TOMLInvalidCase("letters after number", "n = 12ab", .invalidNumber, line: 1),
        TOMLInvalidCase("word after inf", "f = infinity", .syntax, line: 1),
        TOMLInvalidCase("capitalised boolean", "b = True", .syntax, line: 1),
        TOMLInvalidCase("February 29 in a common year", "d = 1979-02-29", .invalidDateTime, line: 1, column: 5),
        TOMLInvalidCase("month 13", "d = 1979-13-01", .invalidDateTime, line: 1),
        TOMLInvalidCase("hour 24", "t = 24:00:00", .invalidDateTime, line: 1),
        TOMLInvalidCase("time without seconds", "t = 07:32", .invalidDateTime, line: 1),
        TOMLInvalidCase("local time with offset", "t = 07:32:00Z", .invalidDateTime, line: 1),
        TOMLInvalidCase("short year", "d = 197-05-27", .invalidNumber, line: 1),
        TOMLInvalidCase("bad offset", "d = 1979-05-27T07:32:00+25:00", .invalidDateTime, line: 1),
        TOMLInvalidCase("fraction without digits", "t = 07:32:00.", .invalidDateTime, line: 1),
        TOMLInvalidCase("two values on a line", "a = 1 2", .trailingCharacters, line: 1, column: 7),
        TOMLInvalidCase("two strings", "a = \"x\" \"y\"", .trailingCharacters, line: 1),
        TOMLInvalidCase("key after header", "[a] b = 1", .trailingCharacters, line: 1, column: 5),
        TOMLInvalidCase("garbage after array", "a = [1] x", .trailingCharacters, line: 1),
        TOMLInvalidCase("garbage after header", "[[a]]]", .trailingCharacters, line: 1),
        TOMLInvalidCase("date then space and garbage", "d = 1979-05-27 x", .trailingCharacters, line: 1),
    ]

    @Test("keys and tables", arguments: keyAndTableCases)
    func keysAndTables(_ testCase: TOMLInvalidCase) {
        check(testCase)
    }

    @Test("values", arguments: valueCases)
    func values(_ testCase: TOMLInvalidCase) {
        check(testCase)
    }

    private func check(_ testCase: TOMLInvalidCase) {
        guard let error = parseError(testCase.toml) else {
            Issue.record("parsed without error: \(testCase.toml)")
            return
        }
        #expect(error.kind == testCase.kind, "\(error)")
        #expect(error.line == testCase.line, "\(error)")
        if let column = testCase.column {
            #expect(error.column == column, "\(error)")
        }
    }

    @Test func descriptionNamesLineColumnAndKey() throws {
        let error = try #require(parseError("[relay]\nhost = \"a\"\n\n\n\n\nport   25"))
        #expect(error.description == "line 7, column 8: expected '=' after key 'port'")
    }

    @Test func duplicateKeyMessageNamesBothLines() throws {
        let error = try #require(parseError("[relay]\nhost = \"a\"\nport = 25\nhost = \"b\""))
        #expect(error.description == "line 4, column 1: duplicate key 'host' (first defined on line 2)")
    }

    @Test func redefinedTableMessageNamesFirstHeader() throws {
        let error = try #require(parseError("[relay]\n\n[relay]"))
        #expect(error.message == "table [relay] is already defined on line 1")
    }

    @Test func dottedKeyConflictNamesTheWholeTable() throws {
        let error = try #require(parseError("[a.b.c]\nz = 9\n[a]\nb.c.t = 1"))
        #expect(error.message == "cannot add to table [a.b.c] (defined on line 1) with dotted keys")
    }

    @Test func columnsCountCharactersNotBytes() throws {
        let error = try #require(parseError("\"ключ\" = 1 2"))
        #expect(error.column == 12)
    }

    @Test(arguments: [
        String(repeating: "[", count: 10_000),
        "x = " + String(repeating: "[", count: 10_000),
        "x = " + String(repeating: "{ a = ", count: 10_000),
        "x." + String(repeating: "a.", count: 10_000) + "b = 1",
        "[" + String(repeating: "a.", count: 10_000) + "b]",
    ])
    func deepNestingIsRejectedNotCrashed(_ text: String) throws {
        let error = try #require(parseError(text))
        #expect(error.kind == .nestingTooDeep || error.kind == .syntax)
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let depth = TOMLLimits.maximumNesting
        let text = "x = " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(try TOML.parse(text)["x"] != nil)
        let tooDeep = "x = " + String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1)
        #expect(parseError(tooDeep)?.kind == .nestingTooDeep)
    }
}

// MARK: Model

@Suite("TOML model")
struct TOMLModelTests {
    @Test func typedAccessors() throws {
        let document = try TOML.parse("""
            s = "text"
            i = 30
            f = 2.5
            b = true
            d = 2024-01-02
            a = [1, 2]
            t = { k = "v" }
            """)
        #expect(document.string("s") == "text")
        #expect(document.integer("i") == 30)
        #expect(document.float("i") == nil)
        #expect(document.double("i") == 30)
        #expect(document.float("f") == 2.5)
        #expect(document.bool("b") == true)
        #expect(document.datetime("d") == "2024-01-02")
        #expect(document.array("a") == [.integer(1), .integer(2)])
        #expect(document.table("t")?.string("k") == "v")
        #expect(document.string("i") == nil)
        #expect(document.string("missing") == nil)
        #expect(document["t"]?.typeName == "table")
        #expect(document.count == 7)
        #expect(document.entry("f")?.line == 3)
        #expect(document.tables("a") == nil)
    }

    @Test func equalityIgnoresOrderAndLines() throws {
        let first = try TOML.parse("a = 1\nb = { c = 2 }")
        let second = try TOML.parse("\n\nb.c = 2\na = 1")
        #expect(first == second)
        #expect(try TOML.parse("a = 1") != TOML.parse("a = 2"))
        #expect(try TOML.parse("a = 1") != TOML.parse("a = 1\nb = 2"))
    }
}
