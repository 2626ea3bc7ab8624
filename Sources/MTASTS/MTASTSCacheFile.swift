import Foundation

/// A cached policy on disk, one file per domain, so a restart keeps
/// applying what was fetched (RFC 8461 §5.1 wants policies cached for
/// max_age; an attacker who blocks the fetch after a restart then gains
/// nothing). The text is the policy in its own grammar after two lines:
///
///     id: 20261207
///     fetched: 1796598410
///     version: STSv1
///     mode: enforce
///     mx: mx.example.com
///     max_age: 86400
public struct MTASTSCacheFile: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    static func encode(_ entry: CachedPolicy) -> String {
        var lines = ["id: \(entry.id)", "fetched: \(Int(entry.fetched.timeIntervalSince1970))",
                     "version: STSv1", "mode: \(entry.policy.mode.rawValue)"]
        lines += entry.policy.mx.map { "mx: \($0)" }
        lines.append("max_age: \(entry.policy.maxAge)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// nil for anything that is not a file this type wrote.
    static func decode(_ text: String) -> CachedPolicy? {
        let lines = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard lines.count == 3, lines[0].hasPrefix("id: "), lines[1].hasPrefix("fetched: "),
              let seconds = Int(lines[1].dropFirst("fetched: ".count)),
              let record = try? MTASTSRecord.parse("v=STSv1; id=" + lines[0].dropFirst("id: ".count)),
              let policy = try? MTASTSPolicy.parse(String(lines[2]))
        else { return nil }
        return CachedPolicy(policy: policy, id: record.id, fetched: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// A domain as a file name: lowercase letters, digits, '-', '_' and
    /// inner dots only, so no name can reach outside the directory.
    static func fileName(_ domain: String) -> String? {
        let name = domain.lowercased()
        guard !name.isEmpty, name.utf8.count <= 253, !name.hasPrefix("."), !name.hasSuffix("."), !name.contains(".."),
              name.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") })
        else { return nil }
        return name + ".policy"
    }

    /// Every readable entry that is still fresh at `now`; stale files are removed.
    public func load(now: Date) -> [(domain: String, entry: CachedPolicy)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var found: [(domain: String, entry: CachedPolicy)] = []
        for name in names where name.hasSuffix(".policy") {
            let path = directory + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8), let entry = Self.decode(text),
                  entry.isFresh(at: now) else {
                try? FileManager.default.removeItem(atPath: path)
                continue
            }
            found.append((String(name.dropLast(".policy".count)), entry))
        }
        return found
    }

    /// Written to a temporary name and renamed (Foundation's atomic write).
    public func save(_ entry: CachedPolicy, domain: String) throws {
        guard let name = Self.fileName(domain) else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try Data(Self.encode(entry).utf8).write(to: URL(fileURLWithPath: directory + "/" + name), options: .atomic)
    }
}
