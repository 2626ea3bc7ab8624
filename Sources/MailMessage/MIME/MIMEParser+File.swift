import Foundation

/// A message file that could not be read.
public struct MIMEFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String { "cannot read \(path): \(reason)" }
}

extension MIMEParser {
    /// Parses the message in the file at `path`, reading it in chunks so that
    /// only the parser's bounded state is held in memory.
    public static func parse(contentsOfFile path: String, limits: MIMELimits = MIMEDefaults.limits,
                             chunkSize: Int = 64 * 1024) throws(MIMEFileError) -> MIMEMessage {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw MIMEFileError(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw MIMEFileError(path: path, reason: "is a directory")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw MIMEFileError(path: path, reason: "permission denied or not readable")
        }
        defer { try? handle.close() }
        var parser = MIMEParser(limits: limits)
        do {
            while let chunk = try handle.read(upToCount: max(chunkSize, 1)), !chunk.isEmpty {
                parser.feed(chunk)
            }
        } catch {
            throw MIMEFileError(path: path, reason: "\(error)")
        }
        return parser.finish()
    }
}
