import ArgumentParser
import Foundation
import SMTPServer

extension PasswordHash.Scheme: ExpressibleByArgument {}

/// `postern passwd USER`: sets or deletes a user in the SMTP AUTH password file.
struct PasswdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Add or change a user in an SMTP AUTH password file.",
        discussion: """
            The file holds one USER:HASH line per user with a crypt(3) hash; blank lines, \
            '#' comments and the other users' lines are kept as they are. It is rewritten \
            atomically (temporary file, fsync, rename): a new file gets mode 0600, an \
            existing one keeps its mode and owner. A running server rereads it when it changes.
            --file is required; there is no default path.
            The password is read from standard input when that is not a terminal (the first \
            line, without its newline); otherwise it is asked for twice, without echo. An \
            empty password is refused. --delete removes the user and asks for no password.
            """)

    @Argument(help: ArgumentHelp("The user name: no ':', whitespace or control characters.", valueName: "user"))
    var user: String

    @Option(help: ArgumentHelp("The password file to edit (required, no default).", valueName: "path"))
    var file: String

    @Option(help: ArgumentHelp("The hash scheme for the new password.", valueName: "scheme"))
    var scheme: PasswordHash.Scheme = .yescrypt

    @Flag(help: "Delete the user instead of setting a password.")
    var delete = false

    func validate() throws {
        guard PasswordFile.isValidUserName(user) else {
            throw ValidationError(PasswordFileError.invalidUserName(user).description)
        }
        guard !file.isEmpty else { throw ValidationError("--file must name the password file") }
    }

    func run() throws {
        do {
            if delete {
                guard try PasswordFile.removeEntry(path: file, user: user) else {
                    throw PasswdFailure("no user \(user) in \(file)")
                }
                print("deleted \(user) from \(file)")
                return
            }
            let password = try Self.readPassword()
            if scheme == .bcrypt, password.utf8.count > 72 {
                Self.printError("warning: bcrypt uses only the first 72 bytes of a password")
            }
            let hash = try PasswordHash.make(password: password, scheme: scheme)
            switch try PasswordFile.setEntry(path: file, user: user, hash: hash) {
            case .added: print("added \(user) to \(file)")
            case .changed: print("changed \(user) in \(file)")
            }
        } catch {
            // Messages name the file and user, never the password.
            Self.printError("postern passwd: \(error)")
            throw ExitCode.failure
        }
    }

    /// The first line of a non-terminal stdin, or two matching entries at a silent prompt.
    private static func readPassword() throws -> String {
        let password: String
        if isatty(STDIN_FILENO) == 0 {
            guard let line = readLine(strippingNewline: true) else {
                throw PasswdFailure("no password on standard input")
            }
            password = line
        } else {
            password = try promptSilently("Password: ")
            guard try promptSilently("Again: ") == password else { throw PasswdFailure("the passwords differ") }
        }
        guard !password.isEmpty else { throw PasswdFailure("empty password refused") }
        return password
    }

    /// Reads one line from the terminal with echo off, restoring the terminal after.
    private static func promptSilently(_ prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var original = termios()
        guard tcgetattr(STDIN_FILENO, &original) == 0 else {
            throw PasswdFailure("cannot read the terminal settings: \(String(cString: strerror(errno)))")
        }
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        guard tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent) == 0 else {
            throw PasswdFailure("cannot turn off echo: \(String(cString: strerror(errno)))")
        }
        defer {
            _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else { throw PasswdFailure("no password given") }
        return line
    }

    private static func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

private struct PasswdFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
