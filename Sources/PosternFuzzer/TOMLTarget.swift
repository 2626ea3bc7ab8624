// The TOML reader behind every configuration and policy file, and the two
// loaders that walk its tables. Invariants:
// - every key of a parsed document has a line number in the document, and
//   a bare key is written on its line; header lines hold a '[';
// - keys are unique within a table;
// - an error, and every issue the loaders report, points into the document.
import PosternDaemon

enum TOMLTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        do {
            let root = try TOML.parse(text)
            check(root, lines: lines, path: "")
        } catch {
            invariant((1...lines.count).contains(error.line), "error on line \(error.line) of \(lines.count): \(error)")
            let width = String(decoding: lines[error.line - 1], as: UTF8.self).unicodeScalars.count
            invariant((1...width + 1).contains(error.column), "error at column \(error.column) of \(width): \(error)")
            return
        }
        do {
            _ = try ConfigLoader.load(text: text, file: "fuzz.toml")
        } catch {
            checkIssues(error, lines: lines.count)
        }
        do {
            _ = try PolicyLoader.load(text: text, file: "fuzz-policy.toml")
        } catch {
            checkIssues(error, lines: lines.count)
        }
    }

    static func check(_ table: TOMLTable, lines: [[UInt8]], path: String) {
        invariant(Set(table.keys).count == table.count, "\(path): repeated keys \(table.keys)")
        if let header = table.headerLine {
            invariant((1...lines.count).contains(header) && lines[header - 1].contains(UInt8(ascii: "[")),
                      "\(path): header line \(header) holds no '['")
        }
        for entry in table.entries {
            let name = path + "." + entry.key
            invariant((1...lines.count).contains(entry.line), "\(name) on line \(entry.line) of \(lines.count)")
            // A key that could be written bare is on its line, unless the
            // line spells it with escapes ("\u0061").
            let key = Array(entry.key.utf8)
            let line = lines[entry.line - 1]
            if !key.isEmpty, key.allSatisfy(isBareKeyByte), !line.contains(UInt8(ascii: "\\")) {
                invariant(contains(line, key), "\(name) is not written on its line \(entry.line)")
            }
            check(entry.value, lines: lines, path: name)
        }
    }

    static func check(_ value: TOMLValue, lines: [[UInt8]], path: String) {
        switch value {
        case .table(let table):
            check(table, lines: lines, path: path)
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                check(element, lines: lines, path: "\(path)[\(index)]")
            }
        case .string, .integer, .float, .boolean, .datetime:
            break
        }
    }

    static func checkIssues(_ errors: ConfigErrors, lines: Int) {
        invariant(!errors.issues.isEmpty, "a load failed without an issue")
        for issue in errors.issues {
            if let line = issue.line {
                invariant((1...lines).contains(line), "issue on line \(line) of \(lines): \(issue)")
            }
        }
    }

    /// unquoted-key = 1*( ALPHA / DIGIT / "-" / "_" )
    static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    static func contains(_ line: [UInt8], _ key: [UInt8]) -> Bool {
        guard line.count >= key.count else { return false }
        return (0...(line.count - key.count)).contains { line[$0..<($0 + key.count)].elementsEqual(key) }
    }
}
