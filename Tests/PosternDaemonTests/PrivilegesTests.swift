import Foundation
import Testing
@testable import PosternDaemon

@Suite("Dropping privileges: the plan and [daemon]")
struct PrivilegesTests {
    static let postern = RunAs(user: "postern", uid: 120, gid: 130)

    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var target: RunAs?
        var current: Identity
        var expected: PrivilegePlan
    }

    static let root = Identity(uid: 0, euid: 0, gid: 0, egid: 0)

    @Test(arguments: [
        Case(description: "no user: run as started", target: nil, current: root, expected: .stay),
        Case(description: "root drops", target: postern, current: root, expected: .drop(postern)),
        Case(description: "set-uid root (euid 0) drops too", target: postern,
             current: Identity(uid: 1000, euid: 0, gid: 1000, egid: 1000), expected: .drop(postern)),
        Case(description: "systemd User=postern: nothing to drop", target: postern,
             current: Identity(uid: 120, euid: 120, gid: 130, egid: 130), expected: .alreadyTarget(postern)),
    ])
    func plan(_ test: Case) {
        #expect(PrivilegePlan.decide(target: test.target, current: test.current) == test.expected, "\(test)")
    }

    @Test(arguments: [
        Identity(uid: 1000, euid: 1000, gid: 1000, egid: 1000),   // another user
        Identity(uid: 120, euid: 120, gid: 1000, egid: 1000),     // the user, another group
        Identity(uid: 1000, euid: 120, gid: 130, egid: 130),      // real uid differs
    ])
    func anyoneElseIsRefused(current: Identity) {
        guard case .refuse(let reason) = PrivilegePlan.decide(target: Self.postern, current: current) else {
            Issue.record("not refused: \(current)")
            return
        }
        #expect(reason.contains("[daemon] user = \"postern\"") && reason.contains("started as root"), "\(reason)")
        #expect(reason.contains("uid \(current.euid)"), "the message names who it was started as: \(reason)")
    }

    @Test func rootAsTargetIsRefused() {
        let target = RunAs(user: "toor", uid: 0, gid: 0)
        #expect(PrivilegePlan.decide(target: target, current: Self.root)
            == .refuse("[daemon] user toor is root: name an unprivileged user"))
    }

    @Test func threadCredentialsFromProcStatus() {
        let status = "Name:\tpostern\nUmask:\t0022\nUid:\t120\t120\t120\t120\nGid:\t130\t130\t130\t130\n"
            + "FDSize:\t64\nGroups:\t130 44 \nCapEff:\t0000000000000000\n"
        let thread = ThreadCredentials.parse(id: 7, status: status)
        #expect(thread.uids == [120, 120, 120, 120] && thread.gids == [130, 130, 130, 130] && thread.groups == [130, 44])
        #expect(thread.matches(Self.postern, groups: [44, 130]))
        #expect(!thread.matches(Self.postern, groups: [130]), "a supplementary group too many")
        let main = ThreadCredentials.parse(id: 1, status: "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n")
        #expect(!main.matches(Self.postern, groups: [130]), "a thread left as root")
        let saved = ThreadCredentials.parse(id: 1, status: "Uid:\t120\t120\t0\t120\nGid:\t130\t130\t130\t130\nGroups:\t130\n")
        #expect(!saved.matches(Self.postern, groups: [130]), "a saved uid of 0 could take root back")
    }

    /// This process's own threads, read the way the drop verifies them.
    @Test func ownThreadsAreListed() {
        let threads = ThreadCredentials.all()
        #expect(threads.contains { $0.id == getpid() })
        #expect(threads.allSatisfy { $0.uids.count == 4 && $0.gids.count == 4 })
    }

    // MARK: [daemon] in postern.toml

    /// `nobody` and its primary group exist on every Linux system.
    static var nobodyGroup: String? {
        getpwnam("nobody").flatMap { getgrgid($0.pointee.pw_gid) }.map { String(cString: $0.pointee.gr_name) }
    }

    @Test(.enabled(if: nobodyGroup != nil)) func userAndGroupAreRead() throws {
        let group = try #require(Self.nobodyGroup)
        let config = try ConfigLoader.load(text: """
            [daemon]
            user = "nobody"
            group = "\(group)"
            """, file: "/etc/postern/postern.toml")
        #expect(config.daemon == .init(user: "nobody", group: group))
        #expect(try RunAs.resolve(config.daemon)?.uid == getpwnam("nobody")?.pointee.pw_uid)
    }

    @Test func noDaemonTableMeansStay() throws {
        let config = try ConfigLoader.load(text: "", file: "/etc/postern/postern.toml")
        #expect(config.daemon == .init())
        #expect(try RunAs.resolve(config.daemon) == nil)
    }

    /// The issues `text` (as p.toml) is refused with; none if it loads.
    func issues(_ text: String) -> [String] {
        do {
            _ = try ConfigLoader.load(text: text, file: "p.toml")
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func mistakesAreNamedWithTheirLine() {
        #expect(issues("""
            [daemon]
            user = "no-such-user-postern"
            group = "no-such-group-postern"
            umask = "022"
            """) == [
            "p.toml:4: daemon.umask: unknown key (expected one of: group, user)",
            "p.toml:2: daemon.user: no such user: no-such-user-postern",
            "p.toml:3: daemon.group: no such group: no-such-group-postern",
        ])
    }

    @Test func rootAndALoneGroupAreRefused() {
        #expect(issues("[daemon]\nuser = \"root\"\n") == ["p.toml:2: daemon.user: must be an unprivileged user, not uid 0"])
        #expect(issues("[daemon]\ngroup = \"root\"\n")
            == ["p.toml:2: daemon.group: needs daemon.user: the group is taken on when dropping to that user"])
    }
}
